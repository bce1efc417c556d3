"""The vault directory in an attacker's hands (a sync peer, a cloud copy): symlinks, FIFOs and
devices planted in it, and a planted rekey journal. Each attack must fail safe: nothing outside
the vault read, written, moved or deleted, no hang, a clear error (docs/threat-model.md)."""
import base64
import os
import pathlib
import shutil
import stat
import subprocess
import time

import pytest

from conftest import SOTTO, run, sotto

LONG = "interview-" + "x" * 190 + ".txt"  # encrypted, longer than a backing name may be: a container
# Timeouts below turn a hang (the bug) into a failure; they are not synchronisation.
HANG = 30


def containers(vault_dir, top=True):
    return [p for p in pathlib.Path(vault_dir).iterdir() if p.name.startswith("sotto.long.")]


def outside_copy(tmp_path, container):
    """An outside folder that looks like `container` (same name and data files)."""
    outside = tmp_path / "outside"
    shutil.copytree(container, outside, symlinks=True)
    return outside


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(pathlib.Path(folder).iterdir())}


def test_a_container_replaced_by_a_symlink_is_never_followed(fresh, tmp_path):
    fresh.mount()
    (fresh.mnt / LONG).write_text("the long-named transcript\n")
    fresh.secret("the long-named transcript")
    fresh.unmount()
    [container] = containers(fresh.dir)
    outside = outside_copy(tmp_path, container)
    before = snapshot(outside)
    shutil.rmtree(container)
    container.symlink_to(outside)
    fresh.mount()
    # The name is gone from the mount's view: the planted link is damage, not an entry.
    assert LONG not in os.listdir(fresh.mnt)
    with pytest.raises(OSError):
        (fresh.mnt / LONG).read_text()
    # rm and mv of the name: before the fix, rm deleted `name` and `data` in the outside folder
    # and mv moved the outside folder's data into the vault.
    r = run("rm", "-f", fresh.mnt / LONG, check=False, timeout=HANG)
    r2 = run("mv", fresh.mnt / LONG, fresh.mnt / "moved.txt", check=False, timeout=HANG)
    assert r2.returncode != 0 and not (fresh.mnt / "moved.txt").exists()
    assert snapshot(outside) == before, "the mount changed a folder outside the vault"
    assert container.is_symlink()
    fresh.unmount()
    # fsck names it as damage.
    f = sotto("fsck", fresh.dir, "--password-file", fresh.pwfile, check=False, timeout=HANG)
    assert f.returncode == 24 and container.name in f.stdout + f.stderr


def test_a_folder_replaced_by_a_symlink_to_an_outside_folder_is_not_entered(fresh, tmp_path):
    fresh.mount()
    (fresh.mnt / "notes").mkdir()
    (fresh.mnt / "notes" / "a.txt").write_text("a note\n")
    fresh.unmount()
    # The folder's backing directory, moved out, and a symlink left in its place.
    [folder] = [p for p in fresh.dir.iterdir() if p.is_dir() and not p.name.startswith("sotto.")]
    outside = tmp_path / "outside"
    shutil.move(folder, outside)
    folder.symlink_to(outside)
    before = snapshot(outside)
    fresh.mount()
    with pytest.raises(OSError):
        os.listdir(fresh.mnt / "notes")
    run("rm", "-rf", fresh.mnt / "notes", check=False, timeout=HANG)
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink"])
def test_a_fifo_or_device_at_fixed_names_neither_hangs_nor_is_read(fresh, tmp_path, kind):
    fresh.mount()
    (fresh.mnt / "calls").mkdir()
    (fresh.mnt / "calls" / "monday.txt").write_text("monday's call\n")
    (fresh.mnt / LONG).write_text("long\n")
    fresh.secret("monday's call")
    fresh.unmount()
    [sub] = [p for p in fresh.dir.iterdir() if p.is_dir() and not p.name.startswith("sotto.")]
    [container] = containers(fresh.dir)

    def plant(path):
        """Replaces `path` by the planted kind; a symlink points at an outside copy of it."""
        outside = tmp_path / ("outside-" + path.name)
        if kind == "symlink":
            shutil.copy(path, outside)
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "device":
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: endless bytes
        else:
            path.symlink_to(outside)

    plant(sub / "sotto.dirid")
    plant(container / "name")
    f = sotto("fsck", fresh.dir, "--password-file", fresh.pwfile, check=False, timeout=HANG)
    assert f.returncode == 24 and "sotto.dirid" in f.stdout and container.name in f.stdout
    assert sotto("ls", fresh.dir, "/calls", "--password-file", fresh.pwfile, timeout=HANG).stdout.strip() == "monday.txt"
    fresh.mount()
    # Lookups fall back to the listing (sotto.dirid is not an ID file now) and still find the file.
    r = run("cat", fresh.mnt / "calls" / "monday.txt", timeout=HANG)
    assert r.stdout == b"monday's call\n"
    # The container without a readable name file is left out, without blocking the listing.
    assert LONG not in run("ls", fresh.mnt, timeout=HANG).stdout.decode()
    fresh.unmount()
    # The listing's lookup wrote a good sotto.dirid over the planted one (by rename: never opened).
    assert stat.S_ISREG(os.lstat(sub / "sotto.dirid").st_mode)


def plant_v1_journal(vault_dir, entries):
    """A journal in the unauthenticated version-1 layout an older build wrote."""
    data = b"sotto-rekey-journal-v1\n"
    for rel, saved in entries:
        rel = rel.encode()
        data += len(rel).to_bytes(2, "big") + rel + saved
    (vault_dir / "sotto.rekey.journal").write_bytes(data)


@pytest.mark.parametrize("rotation", ["none", "interrupted"])
def test_a_planted_rekey_journal_writes_nothing_outside_the_vault(fresh, tmp_path, rotation):
    fresh.mount()
    (fresh.mnt / "session.txt").write_text("session transcript\n")
    fresh.secret("session transcript")
    fresh.unmount()
    victims = tmp_path / "victims"
    victims.mkdir()
    precious = b"#!/bin/sh\n# a user's own file, e.g. ~/.bashrc\n" + b"x" * 200
    for n in ["by-dotdot", "by-absolute", "through-link"]:
        (victims / n).write_bytes(precious)
    link_dir = fresh.dir / ("sotto.long." + "A" * 43)
    link_dir.symlink_to(victims)
    (victims / "data").write_bytes(precious)
    if rotation == "interrupted":
        env = dict(os.environ, SOTTO_TEST_REKEY_INTERRUPT="header:1")
        cut = subprocess.run([SOTTO, "rekey", str(fresh.dir), "--password-file", str(fresh.pwfile)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert cut.returncode == 75
    rel_to_victims = os.path.relpath(victims, fresh.dir)
    attacker = b"\xa5" * 78  # a header's worth of the attacker's bytes
    plant_v1_journal(fresh.dir, [
        (rel_to_victims + "/by-dotdot", attacker),
        (str(victims / "by-absolute"), attacker),
        (link_dir.name + "/data", attacker),
    ])
    sotto("rekey", fresh.dir, "--password-file", fresh.pwfile, timeout=120)
    for n in ["by-dotdot", "by-absolute", "through-link", "data"]:
        assert (victims / n).read_bytes() == precious, f"rekey wrote into {n} outside the vault"
    assert not (fresh.dir / "sotto.rekey.journal").exists()
    link_dir.unlink()
    fresh.mount()
    assert (fresh.mnt / "session.txt").read_text() == "session transcript\n"


def test_names_with_escape_codes_reach_no_terminal_raw(fresh):
    """A foreign name planted in the vault and a plaintext name with escape codes: `sotto ls`,
    `sotto fsck` and the mount log show them escaped, never as raw ESC/BEL/CSI bytes."""
    evil = "title\x1b]0;pwned\x07-\x1b[2J-\u009b31m-\u202egnp.exe"
    fresh.mount()
    (fresh.mnt / evil).write_text("named by a prankster\n")
    fresh.unmount()
    (fresh.dir / ("planted" + evil)).write_text("foreign\n")
    outputs = [
        sotto("ls", fresh.dir, "/", "--password-file", fresh.pwfile),
        sotto("ls", "-l", fresh.dir, "/", "--password-file", fresh.pwfile),
        sotto("fsck", fresh.dir, "--password-file", fresh.pwfile, check=False),
    ]
    fresh.mount()
    os.listdir(fresh.mnt)  # the listing logs the foreign name it leaves out
    fresh.unmount()
    texts = [o.stdout + o.stderr for o in outputs] + [fresh.log.read_text()]
    for t in texts:
        for raw in ["\x1b", "\x07", "\u009b", "\u202e"]:
            assert raw not in t, f"raw {raw!r} in: {t!r}"
    assert "title\\x1b]0;pwned\\x07" in texts[0]  # the user's own name, shown escaped
    assert "planted" in texts[2] and "\\u{202e}" in texts[2]
    assert "planted" in texts[3] and "\\x1b[2J" in texts[3]


@pytest.mark.parametrize("command", [["cat", "/x"], ["export", "/", "out"], ["rekey"], ["passwd"], ["mount", "MNT"]])
def test_no_core_dump_before_the_password_is_read(fresh, command):
    """Every command that takes a password has core dumps off (and is not dumpable, set by the
    same call) while it waits for the password, before it has read a byte of it."""
    args = [a if a != "MNT" else str(fresh.mnt) for a in command]
    p = subprocess.Popen([SOTTO, command[0], str(fresh.dir), *args[1:], "--password-stdin"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=fresh.base)
    try:
        # Wait (bounded) until it blocks reading stdin: its wchan shows a pipe read.
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            limits = pathlib.Path(f"/proc/{p.pid}/limits").read_text()
            syscall = pathlib.Path(f"/proc/{p.pid}/syscall").read_text().split()
            if syscall and syscall[0] == "0" and int(syscall[1], 16) == 0:  # read(0, …)
                break
            os.sched_yield()
        else:
            pytest.fail("the command never waited for its password")
        assert p.poll() is None
        core = next(l for l in limits.splitlines() if l.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("name_length", [127, 255])
def test_a_4000_byte_path_can_be_made_listed_renamed_and_removed(vault, name_length):
    """Encrypted, a plaintext path of 4,000 bytes is about 6 KB (127-byte names) or needs a
    long-name container per component (255-byte names): longer than PATH_MAX either way or close
    to it. The backing tree is walked in steps, so the plaintext limit is the kernel's, not ours."""
    count = 3968 // (name_length + 1)
    names = [(f"{i:03d}-" + "d" * name_length)[:name_length] for i in range(count)]
    rel = "/".join(names)
    leaf = "f" * (4000 - len(rel) - 1)
    assert len(rel + "/" + leaf) == 4000 and len(leaf) <= 255
    top = str(vault.mnt / names[0])
    deep = str(vault.mnt / rel)
    assert len(deep + "/" + leaf) < 4096  # one path argument for the programs below
    os.makedirs(deep)
    pathlib.Path(deep, leaf).write_text("at the bottom\n")
    vault.secret("at the bottom")
    assert os.listdir(deep) == [leaf]
    os.rename(os.path.join(deep, leaf), os.path.join(deep, leaf[:-1] + "g"))
    assert pathlib.Path(deep, leaf[:-1] + "g").read_text() == "at the bottom\n"
    # The whole tree moves with its first folder (shorter by one byte, so the path still fits).
    moved_top = top[:-1]
    os.rename(top, moved_top)
    moved = moved_top + deep[len(top):]
    assert os.listdir(moved) == [leaf[:-1] + "g"]
    vault.remount()
    assert pathlib.Path(moved, leaf[:-1] + "g").read_text() == "at the bottom\n"
    shutil.rmtree(moved_top)
    assert os.listdir(vault.mnt) == []


def test_an_entry_moved_with_a_copied_directory_id_is_reported_by_fsck(fresh):
    """Names are bound to their directory's ID, not its place (docs/format.md §6.4): whoever
    copies folder B's ID file into folder A can move B's entries into A and they open there.
    fsck reports the ID that is in two places as damage (before, it said "clean")."""
    fresh.mount()
    (fresh.mnt / "A").mkdir()
    (fresh.mnt / "B").mkdir()
    (fresh.mnt / "B" / "kept-in-B.txt").write_text("belongs in B\n")
    fresh.unmount()
    # Find B's backing directory: the one holding an entry (A is empty but for its ID files).
    backing = [p for p in fresh.dir.iterdir() if p.is_dir() and not p.name.startswith("sotto.")]
    b = next(p for p in backing if any(not c.name.startswith("sotto.") for c in p.iterdir()))
    a = next(p for p in backing if p != b)
    [b_id] = [c for c in b.iterdir() if c.name.startswith("sotto.dir.")]
    [entry] = [c for c in b.iterdir() if not c.name.startswith("sotto.")]
    shutil.copy(b_id, a / b_id.name)
    entry.rename(a / entry.name)
    assert sotto("ls", fresh.dir, "/A", "--password-file", fresh.pwfile).stdout.strip() == "kept-in-B.txt"
    f = sotto("fsck", fresh.dir, "--password-file", fresh.pwfile, check=False)
    assert f.returncode == 24 and "also belongs to" in f.stdout and b_id.name in f.stdout


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink"])
def test_a_fifo_device_or_symlink_as_config_or_journal_is_refused_without_a_hang(fresh, tmp_path, kind):
    """The config and the rekey journal at their fixed names: never followed, never read unless
    a regular file; the commands fail (config) or go on (journal) with a message, in bounded time."""
    outside = tmp_path / "outside.conf"
    shutil.copy(fresh.dir / "sotto.conf", outside)

    def plant(path):
        if path.exists() or path.is_symlink():
            path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "device":
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        else:
            path.symlink_to(outside)

    plant(fresh.dir / "sotto.rekey.journal")
    sotto("rekey", fresh.dir, "--password-file", fresh.pwfile, timeout=HANG)  # no rotation: removed unread
    assert not os.path.lexists(fresh.dir / "sotto.rekey.journal")
    good = (fresh.dir / "sotto.conf").read_bytes()
    plant(fresh.dir / "sotto.conf")
    for args in (["info", fresh.dir], ["ls", fresh.dir, "--password-file", fresh.pwfile]):
        r = sotto(*args, check=False, timeout=HANG)
        assert r.returncode == 11 and "not a regular file" in r.stderr and "was not followed or read" in r.stderr, r.stderr
    r = sotto("mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile, check=False, timeout=HANG)
    assert r.returncode != 0
    assert outside.read_bytes() != b"" and (fresh.dir / "sotto.conf").is_symlink() == (kind == "symlink")
    (fresh.dir / "sotto.conf").unlink()
    (fresh.dir / "sotto.conf").write_bytes(good)
    fresh.mount()


def test_a_hard_link_planted_at_a_temporary_name_is_replaced_not_written_through(fresh, tmp_path):
    """`sotto.conf.tmp` planted as a hard link to a file outside the vault (same filesystem):
    `passwd` writes its new config to a fresh file there, never into the linked one."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"the user's own file\n")
    os.link(victim, fresh.dir / "sotto.conf.tmp")
    newpw = tmp_path / "newpw"
    newpw.write_text("another mount test password\n")
    sotto("passwd", fresh.dir, "--password-file", fresh.pwfile, "--new-password-file", newpw)
    assert victim.read_bytes() == b"the user's own file\n"
    assert os.stat(victim).st_nlink == 1
    sotto("ls", fresh.dir, "--password-file", newpw)
