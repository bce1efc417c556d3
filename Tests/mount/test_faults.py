"""Fault injection: a full backing filesystem, read-only backing files, backing files removed
under open handles. Errors reach the caller; nothing existing is damaged; the daemon survives."""
import errno
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import Vault, run, sotto


@pytest.fixture
def small_backing():
    """A vault on a 24 MiB tmpfs: the disk can be filled quickly."""
    base = tempfile.mkdtemp(prefix="sotto-full-")
    backing = os.path.join(base, "disk")
    os.mkdir(backing)
    run("mount", "-t", "tmpfs", "-o", "size=24m", "sotto-test", backing)
    try:
        v = Vault(backing)
        v.mount()
        yield v
        v.unmount()
    finally:
        subprocess.run(["umount", "-l", backing], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def fill_disk(path):
    """Writes `path` until the disk is full: the write that does not fit fails with ENOSPC."""
    with pytest.raises(OSError) as e:
        with open(path, "wb") as f:
            while True:
                f.write(os.urandom(1 << 20))
                f.flush()
    assert e.value.errno == errno.ENOSPC


def test_full_disk_gives_enospc_and_keeps_existing_files(small_backing):
    v = small_backing
    keep = os.urandom(3 * 16384 + 77)
    (v.mnt / "keep.bin").write_bytes(keep)
    (v.mnt / "grow.bin").write_bytes(b"before the disk filled\n")
    fill_disk(v.mnt / "fill.bin")
    # Appending to an existing file on a full disk fails cleanly: what was there stays, the file
    # stays valid (a part that fit may have been appended, as on any filesystem).
    with pytest.raises(OSError) as e:
        with open(v.mnt / "grow.bin", "ab") as f:
            f.write(os.urandom(4 << 20))
            f.flush()
    assert e.value.errno == errno.ENOSPC
    v.remount()
    assert (v.mnt / "keep.bin").read_bytes() == keep
    assert (v.mnt / "grow.bin").read_bytes().startswith(b"before the disk filled\n")
    # The partly written file is still a valid file (its extension was cut off again).
    size = os.stat(v.mnt / "fill.bin").st_size
    assert len((v.mnt / "fill.bin").read_bytes()) == size
    os.unlink(v.mnt / "fill.bin")
    (v.mnt / "after.txt").write_text("space again")
    assert (v.mnt / "after.txt").read_text() == "space again"
    v.unmount()
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, check=False)
    assert r.returncode == 0, r.stdout  # nothing in the vault was damaged by running out of space


def test_space_of_a_removed_file_is_free_at_once(small_backing):
    # A removed file is freed in the background (DeferredRelease), after the caller has its
    # answer; neither `df` nor the next write may notice. Each step remounts first: a file closed
    # just before its unlink may still be held by the daemon until the kernel's asynchronous
    # RELEASE arrives, on any FUSE filesystem.
    v = small_backing
    body = os.urandom(14 << 20)
    # Replacing a file by a rename frees the old one the same way (14 MiB twice does not fit).
    (v.mnt / "big.bin").write_bytes(body)
    (v.mnt / "small.bin").write_bytes(b"small")
    v.remount()
    os.rename(v.mnt / "small.bin", v.mnt / "big.bin")
    (v.mnt / "c.bin").write_bytes(body)
    assert (v.mnt / "big.bin").read_bytes() == b"small"
    os.rename(v.mnt / "c.bin", v.mnt / "big.bin")
    # Now the disk is full but for big.bin.
    fill_disk(v.mnt / "filler.bin")
    for i in range(4):
        v.remount()
        free = os.statvfs(v.mnt).f_bavail * os.statvfs(v.mnt).f_frsize
        os.unlink(v.mnt / "big.bin")
        freed = os.statvfs(v.mnt).f_bavail * os.statvfs(v.mnt).f_frsize - free
        assert freed >= 14 << 20, f"round {i}: statfs right after the unlink shows {freed} bytes freed"
        (v.mnt / "big.bin").write_bytes(body)
        v.remount()
        os.unlink(v.mnt / "big.bin")
        # No statfs in between: the write finds the disk full, waits for the freeing, retries.
        (v.mnt / "big.bin").write_bytes(body)
    assert (v.mnt / "big.bin").read_bytes() == body


def test_read_only_backing_file_gives_eacces(tmp_path):
    v = Vault(tmp_path)
    v.mount()
    try:
        (v.mnt / "f.txt").write_text("x")
        v.unmount()
        (backing,) = [p for p in v.dir.iterdir() if not p.name.startswith("sotto.")]
        os.chmod(backing, 0o444)
        subprocess.run(["chattr", "+i", str(backing)], capture_output=True)  # even root cannot write
        v.mount()
        assert (v.mnt / "f.txt").read_text() == "x"
        with pytest.raises(OSError) as e:
            (v.mnt / "f.txt").write_text("y")
        assert e.value.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        assert (v.mnt / "f.txt").read_text() == "x"
    finally:
        for p in v.dir.iterdir():
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
        v.unmount()


def test_backing_file_removed_under_an_open_handle(tmp_path):
    v = Vault(tmp_path)
    v.mount()
    try:
        (v.mnt / "f.bin").write_bytes(b"a" * 50000)
        with open(v.mnt / "f.bin", "r+b") as f:
            (backing,) = [p for p in v.dir.iterdir() if not p.name.startswith("sotto.")]
            os.unlink(backing)  # someone deletes it in the vault directory
            f.seek(0)
            assert f.read(10) == b"a" * 10  # the open backing fd still holds it
        # The daemon is alive and the mount usable.
        (v.mnt / "g.txt").write_text("still mounted")
        assert (v.mnt / "g.txt").read_text() == "still mounted"
    finally:
        v.unmount()
