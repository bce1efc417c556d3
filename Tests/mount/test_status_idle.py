"""`sotto status` and `sotto mount --idle`: the idle timer fires with nothing open and nothing
accessed, and does not while a file is open."""
import ctypes
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import SOTTO, is_mounted, sotto, status_mounts


def test_status_lists_the_mount(vault):
    (vault.mnt / "f.txt").write_text("x")
    with open(vault.mnt / "f.txt") as held:
        deadline = time.monotonic() + 10
        while True:  # the status is republished once a second
            entries = status_mounts()
            mine = [e for e in entries if e["mountpoint"] == str(vault.mnt)]
            if mine and mine[0]["openFiles"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert mine, entries
        assert mine[0]["vault"] == str(vault.dir) and mine[0]["readOnly"] is False
        assert mine[0]["openFiles"] == 1
        held.read()
    text = sotto("status").stdout
    assert str(vault.mnt) in text and "read-write" in text


def test_idle_timer_fires_and_not_while_a_file_is_open(vault):
    vault.remount("--idle", "2s")
    held = open(vault.mnt / "open.txt", "w")
    try:
        # Open file: still mounted well past the limit (this waits on the timer being measured).
        time.sleep(4)
        assert is_mounted(vault.mnt)
    finally:
        held.close()
    # Watch the mount table only: even an lstat of the mountpoint is an access that resets the timer.
    def in_mount_table():
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == str(vault.mnt) for line in f)
    deadline = time.monotonic() + 20
    while in_mount_table() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not in_mount_table(), "the idle timer did not unmount: " + vault.log.read_text()
    assert "idle for 2 s" in vault.log.read_text()
    assert not [e for e in status_mounts() if e["mountpoint"] == str(vault.mnt)]


IN_MODIFY, IN_CREATE, IN_DELETE, IN_MOVED_TO = 0x002, 0x100, 0x200, 0x080


def test_an_inotify_watch_on_the_mount_counts_as_use(vault):
    """Editors and file managers watch their folder with inotify and hold nothing open. Unmounted
    under one, its next save landed in the empty mountpoint in plaintext (issue 18). A watch now
    keeps the mount up; once it is gone the idle timer fires as usual."""
    vault.remount("--idle", "2s")
    libc = ctypes.CDLL(None, use_errno=True)
    watcher = libc.inotify_init1(0)
    assert watcher >= 0
    try:
        assert libc.inotify_add_watch(watcher, str(vault.mnt).encode(), IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_TO) >= 0
        # Watched: still mounted well past the limit (this waits on the timer being measured).
        time.sleep(5)
        with open("/proc/self/mountinfo") as f:
            assert any(line.split()[4] == str(vault.mnt) for line in f)
        assert "watched with inotify by process " + str(os.getpid()) in vault.log.read_text()
    finally:
        os.close(watcher)
    def in_mount_table():
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == str(vault.mnt) for line in f)
    deadline = time.monotonic() + 20
    while in_mount_table() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not in_mount_table(), "the idle timer did not unmount once the watch was gone: " + vault.log.read_text()


def test_the_desktop_is_told_of_an_idle_unmount_and_of_damage_without_a_file_name(fresh, tmp_path):
    """notify-send on the session D-Bus (a stand-in records what it was asked to show): an idle
    unmount and damaged files, once each, never naming a file (notification daemons keep a
    history). Without a session bus, nothing is sent and the log says why."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shown = tmp_path / "shown"
    (bin_dir / "notify-send").write_text(f"#!/bin/sh\nprintf '%s|' \"$@\" >> {shown}\necho >> {shown}\n")
    os.chmod(bin_dir / "notify-send", 0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")

    def mount(*extra, environment):
        r = subprocess.run([SOTTO, "mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile, "--log", fresh.log, *extra],
                           env=environment, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    mount(environment=env)
    (fresh.mnt / "session-notes.txt").write_bytes(os.urandom(40_000))
    fresh.unmount()
    (backing,) = [fresh.dir / n for n in os.listdir(fresh.dir) if not n.startswith("sotto.")]
    raw = bytearray(backing.read_bytes())
    raw[78 + 100] ^= 1
    backing.write_bytes(bytes(raw))
    mount("--idle", "1s", environment=env)
    assert "desktop notifications: on" in fresh.log.read_text()
    for _ in range(2):
        with pytest.raises(OSError):
            (fresh.mnt / "session-notes.txt").read_bytes()

    def in_mount_table():
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == str(fresh.mnt) for line in f)
    def both_shown():
        return shown.exists() and len(shown.read_text().splitlines()) >= 2
    deadline = time.monotonic() + 20
    while (in_mount_table() or not both_shown()) and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = shown.read_text().splitlines()
    assert len(lines) == 2, lines  # the damage once, though read twice; the idle unmount once
    assert any("damaged files in " + str(fresh.mnt) in l for l in lines)
    assert any(str(fresh.mnt) + " unmounted" in l for l in lines)
    assert not any("session-notes" in l for l in lines)
    # No session bus: nothing sent, and the log says why.
    quiet = {k: v for k, v in env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    mount(environment=quiet)
    assert "desktop notifications: off (no session D-Bus)" in fresh.log.read_text()
    with pytest.raises(OSError):
        (fresh.mnt / "session-notes.txt").read_bytes()
    fresh.unmount()
    assert len(shown.read_text().splitlines()) == 2


def test_idle_durations_combine_units_and_bad_ones_are_refused(vault):
    vault.remount("--idle", "1h30m")
    (mine,) = [e for e in status_mounts() if e["mountpoint"] == str(vault.mnt)]
    assert mine["idleLimitSeconds"] == 5400
    vault.unmount()
    for bad in ["5x", "1m1h", "30m30m", "0", "99999999999999999999h"]:
        r = sotto("mount", vault.dir, vault.mnt, "--password-file", vault.pwfile, "--idle", bad, check=False)
        assert r.returncode == 2 and f"not '{bad}'" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_status_finds_mounts_from_any_session_and_marks_a_killed_one_dead(fresh, tmp_path):
    """The mount table is the source of truth: a mount started with another XDG_RUNTIME_DIR (sudo,
    ssh, another desktop session) is listed with its details, and one whose filesystem process
    was killed is listed as dead, with what to do, not as live."""
    other = tmp_path / "other-session"
    other.mkdir(mode=0o700)
    r = subprocess.run([SOTTO, "mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile],
                       env=dict(os.environ, XDG_RUNTIME_DIR=str(other)), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (mine,) = [e for e in status_mounts() if e["mountpoint"] == str(fresh.mnt)]
    assert mine["state"] == "live" and mine["vault"] == str(fresh.dir)
    assert "\\/" not in sotto("status", "--json").stdout  # slashes as they are
    os.kill(mine["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{mine['pid']}") and time.monotonic() < deadline:
        time.sleep(0.05)
    (dead,) = [e for e in status_mounts() if e["mountpoint"] == str(fresh.mnt)]
    assert dead == {"mountpoint": str(fresh.mnt), "state": "dead"}
    text = sotto("status").stdout
    assert f"{fresh.mnt}  dead" in text and f"sotto unmount --lazy {fresh.mnt}" in text
    sotto("unmount", "--lazy", fresh.mnt)
    assert not [e for e in status_mounts() if e["mountpoint"] == str(fresh.mnt)]
