"""`sotto status` and `sotto mount --idle`: the idle timer fires with nothing open and nothing
accessed, and does not while a file is open."""
import json
import os
import time

from conftest import is_mounted, sotto


def test_status_lists_the_mount(vault):
    (vault.mnt / "f.txt").write_text("x")
    with open(vault.mnt / "f.txt") as held:
        deadline = time.monotonic() + 10
        while True:  # the status is republished once a second
            entries = json.loads(sotto("status", "--json").stdout)
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
    assert not [e for e in json.loads(sotto("status", "--json").stdout) if e["mountpoint"] == str(vault.mnt)]
