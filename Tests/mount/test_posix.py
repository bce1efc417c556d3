"""POSIX semantics as ext4 gives them (run as root): modes, ownership, times, links, errnos."""
import errno
import os
import pathlib
import stat
import time

import pytest

from conftest import run


def expect_errno(code, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == code, f"{fn.__name__}{args}: {e.value}"


def test_modes_including_setgid_and_sticky(vault):
    d = vault.path("d")
    os.mkdir(d, 0o755)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o755
    os.chmod(d, 0o2775)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o2775
    os.chmod(d, 0o1777)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o1777
    f = vault.path("f")
    f.write_text("x")
    for mode in (0o600, 0o644, 0o755, 0o4755, 0o2755, 0o000):
        os.chmod(f, mode)
        assert stat.S_IMODE(os.stat(f).st_mode) == mode
    os.umask(0o022)
    os.mkdir(vault.path("e"), 0o777)
    assert stat.S_IMODE(os.stat(vault.path("e")).st_mode) == 0o755


def test_setgid_directory_passes_its_group_on(vault):
    d = vault.path("shared")
    os.mkdir(d)
    os.chown(d, 0, 1234)
    os.chmod(d, 0o2775)
    (d / "file").write_text("x")
    os.mkdir(d / "sub")
    assert os.stat(d / "file").st_gid == 1234
    assert os.stat(d / "sub").st_gid == 1234
    assert os.stat(d / "sub").st_mode & stat.S_ISGID


def mount_options(mnt):
    """The options of the mount at `mnt`, as /proc/mounts lists them."""
    for line in pathlib.Path("/proc/mounts").read_text().splitlines():
        f = line.split()
        if f[1] == str(mnt):
            return f[3]
    raise AssertionError(f"{mnt} is not mounted")


def test_ownership_as_root(vault):
    f = vault.path("owned")
    f.write_text("x")
    os.chown(f, 1001, 1002)
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (1001, 1002)
    os.symlink("owned", vault.path("ln"))
    os.lchown(vault.path("ln"), 1003, 1004)
    assert (os.lstat(vault.path("ln")).st_uid, os.lstat(vault.path("ln")).st_gid) == (1003, 1004)
    # Without --allow-other only the mounting user gets in.
    os.chmod(vault.base, 0o755)
    os.chmod(vault.mnt, 0o777)
    as_user = ["setpriv", "--reuid=1005", "--regid=1006", "--clear-groups"]
    assert run(*as_user, "ls", vault.mnt, check=False).returncode != 0
    # A private mount leaves the checks to the backing filesystem (the daemon is that user).
    assert "default_permissions" not in mount_options(vault.mnt)
    # With it, the kernel checks modes for them, and what they make is theirs.
    vault.remount("--allow-other")
    assert {"allow_other", "default_permissions"} <= set(mount_options(vault.mnt).split(","))
    run(*as_user, "touch", vault.path("byuser-file"))
    st = os.stat(vault.path("byuser-file"))
    assert (st.st_uid, st.st_gid) == (1005, 1006)
    os.chmod(vault.path("owned"), 0o600)
    assert run(*as_user, "cat", vault.path("owned"), check=False).returncode != 0


def test_times(vault):
    f = vault.path("t")
    f.write_text("x")
    os.utime(f, ns=(1_000_000_000_123, 2_000_000_000_456))
    st = os.stat(f)
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000_123, 2_000_000_000_456)
    before = os.stat(f).st_ctime_ns
    time.sleep(0.01)  # ctime resolution, not synchronisation
    os.chmod(f, 0o600)
    assert os.stat(f).st_ctime_ns > before
    m0 = os.stat(f).st_mtime_ns
    with open(f, "a") as h:
        h.write("more")
    assert os.stat(f).st_mtime_ns > m0
    # Symlink times are their own (utimensat with AT_SYMLINK_NOFOLLOW).
    os.symlink("t", vault.path("l"))
    os.utime(vault.path("l"), ns=(5_000_000_000, 6_000_000_000), follow_symlinks=False)
    assert os.lstat(vault.path("l")).st_mtime_ns == 6_000_000_000
    assert os.stat(f).st_mtime_ns != 6_000_000_000


def test_link_counts_and_hard_links(vault):
    a = vault.path("a")
    a.write_text("linked content")
    os.link(a, vault.path("b"))
    os.mkdir(vault.path("d"))
    os.link(a, vault.path("d") / ("c" * 200))  # a long name links too
    assert os.stat(a).st_nlink == 3
    assert os.stat(a).st_ino == os.stat(vault.path("b")).st_ino
    with open(vault.path("b"), "a") as f:
        f.write(" + more")
    assert a.read_text() == "linked content + more"
    os.unlink(a)
    assert os.stat(vault.path("b")).st_nlink == 2
    assert (vault.path("d") / ("c" * 200)).read_text() == "linked content + more"


def test_errnos(vault):
    m = vault.mnt
    os.mkdir(m / "d")
    (m / "d" / "f").write_text("x")
    (m / "file").write_text("x")
    expect_errno(errno.ENOTEMPTY, os.rmdir, m / "d")
    expect_errno(errno.EEXIST, os.mkdir, m / "d")
    expect_errno(errno.EEXIST, os.link, m / "file", m / "d" / "f")
    expect_errno(errno.ENOENT, os.stat, m / "missing")
    expect_errno(errno.ENOENT, os.unlink, m / "missing")
    expect_errno(errno.ENOTDIR, os.listdir, m / "file")
    expect_errno(errno.ENOTDIR, os.rmdir, m / "file")
    expect_errno(errno.EISDIR, os.unlink, m / "d")
    expect_errno(errno.EISDIR, os.rename, m / "file", m / "d")
    expect_errno(errno.ENOTDIR, os.rename, m / "d", m / "file")
    expect_errno(errno.ENAMETOOLONG, os.mkdir, m / ("x" * 256))
    expect_errno(errno.ENAMETOOLONG, open, m / ("y" * 256), "w")
    expect_errno(errno.EINVAL, os.rename, m / "d", m / "d" / "inside")
    os.symlink("loop2", m / "loop1")
    os.symlink("loop1", m / "loop2")
    expect_errno(errno.ELOOP, open, m / "loop1")
    # EXDEV: a rename from the mount to another filesystem.
    expect_errno(errno.EXDEV, os.rename, m / "file", "/tmp/sotto-exdev-target")
    expect_errno(errno.ENOENT, os.readlink, m / "missing")
    expect_errno(errno.EINVAL, os.readlink, m / "file")


def test_renames(vault):
    m = vault.mnt
    (m / "a").write_text("A")
    (m / "b").write_text("B")
    os.rename(m / "a", m / "b")  # over an existing file
    assert (m / "b").read_text() == "A" and not (m / "a").exists()
    os.makedirs(m / "x" / "y")
    (m / "x" / "y" / "f").write_text("deep")
    os.mkdir(m / "z")
    os.rename(m / "x", m / "z" / "moved")  # a directory, across directories
    assert (m / "z" / "moved" / "y" / "f").read_text() == "deep"
    os.mkdir(m / "empty")
    os.rename(m / "z" / "moved", m / "empty")  # over an empty directory
    assert (m / "empty" / "y" / "f").read_text() == "deep"
    long_name = "L" * 220
    os.rename(m / "b", m / long_name)  # short to long name
    os.rename(m / long_name, m / "z" / (long_name + "2"))  # long to long, other directory
    os.rename(m / "z" / (long_name + "2"), m / "short")  # long back to short
    assert (m / "short").read_text() == "A"
    assert sorted(os.listdir(m)) == ["empty", "short", "z"]
    assert os.listdir(m / "z") == []
    vault.remount()
    assert (m / "empty" / "y" / "f").read_text() == "deep"


def test_rename_noreplace_and_exchange(vault):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, NOREPLACE, EXCHANGE = -100, 1, 2
    def renameat2(a, b, flags):
        if libc.renameat2(AT_FDCWD, str(a).encode(), AT_FDCWD, str(b).encode(), flags) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    m = vault.mnt
    (m / "a").write_text("A")
    (m / "b").write_text("B")
    expect_errno(errno.EEXIST, renameat2, m / "a", m / "b", NOREPLACE)
    renameat2(m / "a", m / "c", NOREPLACE)
    os.mkdir(m / "dir")
    (m / "dir" / "inner").write_text("I")
    renameat2(m / "c", m / "dir", EXCHANGE)
    assert (m / "dir").read_text() == "A"
    assert (m / "c" / "inner").read_text() == "I"
    expect_errno(errno.ENOENT, renameat2, m / "b", m / "nothing", EXCHANGE)


def test_unlinked_open_file_keeps_working(vault):
    p = vault.path("tmpfile")
    with open(p, "w+b") as f:
        f.write(b"still here")
        os.unlink(p)
        f.seek(0)
        assert f.read() == b"still here"
        f.write(b" and more")
        os.fstat(f.fileno())
    assert os.listdir(vault.mnt) == []


def test_statfs_and_fallocate_and_xattrs(vault):
    s = os.statvfs(vault.mnt)
    assert s.f_namemax == 255 and s.f_blocks > 0
    p = vault.path("alloc")
    with open(p, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 40000)
    assert p.read_bytes() == b"\0" * 40000
    # Extended attributes, encrypted (test_xattrs.py has the rest); cp -a carries them.
    os.setxattr(p, "user.note", b"secret xattr value")
    run("cp", "-a", p, vault.path("alloc-copy"))
    assert vault.path("alloc-copy").read_bytes() == b"\0" * 40000
    assert os.getxattr(vault.path("alloc-copy"), "user.note") == b"secret xattr value"
    os.removexattr(p, "user.note")
    assert os.listxattr(p) == []


def test_special_files(vault):
    import socket
    os.mkfifo(vault.path("fifo"), 0o640)
    assert stat.S_ISFIFO(os.stat(vault.path("fifo")).st_mode)
    assert stat.S_IMODE(os.stat(vault.path("fifo")).st_mode) == 0o640
    s = socket.socket(socket.AF_UNIX)
    try:
        os.chdir(vault.mnt)  # unix socket paths are short; bind relative to the mount
        s.bind("sock")
        assert stat.S_ISSOCK(os.stat(vault.path("sock")).st_mode)
    finally:
        os.chdir("/")
        s.close()
    os.unlink(vault.path("fifo"))
    os.unlink(vault.path("sock"))
    assert os.listdir(vault.mnt) == []


def test_parent_times_follow_entry_changes(vault):
    d = vault.path("d")
    os.mkdir(d)
    os.utime(d, ns=(1_000_000_000, 1_000_000_000))
    (d / "f").write_text("x")
    st = os.stat(d)
    assert st.st_mtime_ns > 1_000_000_000 and st.st_ctime_ns > 1_000_000_000
    os.utime(d, ns=(1_000_000_000, 1_000_000_000))
    os.unlink(d / "f")
    assert os.stat(d).st_mtime_ns > 1_000_000_000


def test_symlink_targets(vault):
    os.symlink("a" * 3000, vault.path("long-target"))
    assert os.readlink(vault.path("long-target")) == "a" * 3000
    assert os.lstat(vault.path("long-target")).st_size == 3000
    # Beyond what fits PATH_MAX once encrypted (docs/format.md §6.4): a clean ENAMETOOLONG.
    expect_errno(errno.ENAMETOOLONG, os.symlink, "b" * 3100, vault.path("too-long"))
    os.symlink("ünï/cødé target", vault.path("u"))
    assert os.readlink(vault.path("u")) == "ünï/cødé target"
    vault.secret("cødé target")


def test_o_append_and_o_trunc(vault):
    p = vault.path("ap")
    p.write_bytes(b"0123456789")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"abc")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"def")  # O_APPEND ignores the seek
    os.close(fd)
    assert p.read_bytes() == b"0123456789abcdef"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"new")
    os.close(fd)
    assert p.read_bytes() == b"new"


def test_listing_while_entries_change_returns_each_unchanged_entry_once(vault):
    # Directory offsets come from names (no per-open listing: the kernel skips OPENDIR), so a
    # listing resumed after deletions, creations, or another reader starting over, still returns
    # every entry that was there all along exactly once.
    d = vault.mnt / "big"
    d.mkdir()
    names = [f"entry-{i:04d}" for i in range(400)]
    for n in names:
        (d / n).write_bytes(b"")
    seen, deleted = [], set()
    with os.scandir(d) as it:
        for k, e in enumerate(it):
            seen.append(e.name)
            if k % 7 == 0:
                # One entry not listed yet and one already listed go; a new one comes.
                victim = next((n for n in reversed(names) if n not in seen and n not in deleted), None)
                listed = next((n for n in seen if n.startswith("entry-") and n not in deleted), None)
                for gone in filter(None, [victim, listed]):
                    (d / gone).unlink()
                    deleted.add(gone)
                (d / f"new-{k}").write_bytes(b"")
            if k % 50 == 25:
                assert set(names) - deleted <= set(os.listdir(d))  # another reader from the start
    assert len(seen) == len(set(seen)), "an entry was listed twice"
    assert set(names) - deleted <= set(seen), "an entry that was there all along was not listed"
    assert sorted(os.listdir(d)) == sorted((set(names) - deleted) | {f"new-{k}" for k in range(0, len(seen), 7)})


def test_directory_fsync_and_rewind(vault):
    d = vault.mnt / "dir"
    d.mkdir()
    (d / "a").write_text("a")
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)  # editors fsync the folder after a rename
    finally:
        os.close(fd)
    with os.scandir(d) as it:
        assert [e.name for e in it] == ["a"]
    (d / "b").write_text("b")
    assert sorted(os.listdir(d)) == ["a", "b"]  # a new listing sees the new entry


def test_the_mount_root_takes_times_owner_and_mode(vault):
    """The root is reached through the vault's descriptor itself (it has no parent below it):
    `tar x` into the mount sets its times and owner, as on any folder."""
    os.utime(vault.mnt, (1_000_000_000, 1_000_000_000))
    assert os.stat(vault.mnt).st_mtime == 1_000_000_000
    os.chown(vault.mnt, os.getuid(), os.getgid())
    os.chmod(vault.mnt, 0o750)
    assert os.stat(vault.mnt).st_mode & 0o777 == 0o750
    os.chmod(vault.mnt, 0o700)
    src = vault.base / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("tarred\n")
    run("tar", "cf", vault.base / "t.tar", "-C", src, ".")
    run("tar", "xf", vault.base / "t.tar", "-C", vault.mnt)
    assert (vault.mnt / "d" / "f.txt").read_text() == "tarred\n"
