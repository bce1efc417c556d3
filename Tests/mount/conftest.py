"""Harness for tests on real mounts: a fresh vault, mounted with libfuse3 through `sotto mount`,
driven by real programs, always unmounted (even when the test fails), and after every test the
vault directory is searched for every plaintext marker and file name the test used."""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOTTO = os.environ.get("SOTTO_BIN", str(ROOT / ".build" / "debug" / "sotto"))
PASSWORD = "mount test password"


def status_mounts():
    """`sotto status --json`'s mounts (schema 1)."""
    doc = json.loads(sotto("status", "--json").stdout)
    assert doc["schema"] == 1
    return doc["mounts"]


def sotto(*args, check=True, input=None, timeout=60):
    r = subprocess.run([SOTTO, *map(str, args)], capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"sotto {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r


# Stored names are base64url of ciphertext and contents are ciphertext: any 8-byte string turns up
# in them by chance with probability about 2^-48 per position, a 4-character one (a year, "todo")
# 2^-24, which over many runs and megabytes does happen. Markers shorter than this would make a
# plaintext scan fail at random.
MARKER_MIN_BYTES = 8


def assert_marker_cannot_occur_by_chance(marker):
    assert len(marker) >= MARKER_MIN_BYTES, f"plaintext marker {marker!r} is short enough to occur in ciphertext by chance"


def kernel_offers_io_uring():
    """Whether this kernel sends FUSE requests through io_uring when asked (Linux 6.14+, and the
    fuse module's enable_uring parameter, which tools/test sets for one pass and clears for another)."""
    try:
        return pathlib.Path("/sys/module/fuse/parameters/enable_uring").read_text().strip() == "Y"
    except OSError:
        return False


def transport_in_log(log):
    """How the last mount logged in `log` takes requests: "io_uring" or "/dev/fuse"."""
    lines = [l for l in pathlib.Path(log).read_text().splitlines() if "requests arrive through" in l]
    assert lines, f"no transport line in {log}"
    return "io_uring" if "through io_uring" in lines[-1] else "/dev/fuse"


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Vault:
    """A vault directory and its mountpoint; `secrets` collects what must never reach the vault."""

    def __init__(self, base, create=True):
        """`create=False`: an empty vault directory, to be filled by a sync tool."""
        self.base = pathlib.Path(base)
        self.base.mkdir(exist_ok=True)
        self.dir = self.base / "vault"
        self.mnt = self.base / "mnt"
        self.pwfile = self.base / "pw"
        self.log = self.base / "sotto.log"
        self.secrets = set()
        self.mnt.mkdir()
        self.pwfile.write_text(PASSWORD + "\n")
        if create:
            sotto("init", self.dir, "--password-file", self.pwfile, "--kdf-memory", "1", "--kdf-time", "1")
        else:
            self.dir.mkdir()

    def mount(self, *extra):
        sotto("mount", self.dir, self.mnt, "--password-file", self.pwfile, "--log", self.log, *extra)
        assert is_mounted(self.mnt)
        # Every test runs through the transport this pass is for (`sotto mount` returns once it is set).
        expected = "io_uring" if kernel_offers_io_uring() and "--no-io-uring" not in extra else "/dev/fuse"
        assert transport_in_log(self.log) == expected

    def unmount(self):
        if is_mounted(self.mnt):
            r = sotto("unmount", self.mnt, check=False)
            if r.returncode != 0:  # never leave a mount behind, whatever happened
                subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)
        assert not is_mounted(self.mnt)

    def remount(self, *extra):
        self.unmount()
        self.mount(*extra)

    def evict_backing_pages(self):
        """Makes every backing file cold (synced first: only clean pages can be dropped), so the
        next reads through a fresh mount go to the disk. Returns {backing inode number: path}."""
        assert not is_mounted(self.mnt)
        os.sync()
        backing = {}
        for root, _, files in os.walk(self.dir):
            for f in files:
                p = os.path.join(root, f)
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    backing[os.fstat(fd).st_ino] = p
                finally:
                    os.close(fd)
        return backing

    def path(self, rel):
        return self.mnt / rel

    def secret(self, *items):
        """Registers plaintext strings or names that must not appear under the vault directory."""
        for s in items:
            s = s if isinstance(s, bytes) else str(s).encode()
            assert_marker_cannot_occur_by_chance(s)
            self.secrets.add(s)

    def assert_no_plaintext(self):
        found = []
        for root, dirs, files in os.walk(self.dir):
            for name in dirs + files:
                for s in self.secrets:
                    if s in name.encode():
                        found.append(f"name {os.path.join(root, name)} contains {s!r}")
            for name in files:
                p = os.path.join(root, name)
                if not stat.S_ISREG(os.lstat(p).st_mode):  # symlinks, FIFOs (opening one would block), sockets
                    continue
                data = open(p, "rb").read()
                for s in self.secrets:
                    if s in data:
                        found.append(f"content of {p} contains {s!r}")
        assert not found, "plaintext under the vault directory:\n" + "\n".join(found[:20])


@pytest.fixture
def vault():
    base = tempfile.mkdtemp(prefix="sotto-mount-")
    v = Vault(base)
    try:
        v.mount()
        yield v
    finally:
        try:
            v.unmount()
        finally:
            if v.log.exists():
                log = v.log.read_text()
                assert PASSWORD not in log
                assert "io_uring queue" not in log, "an io_uring queue failed:\n" + log
        v.assert_no_plaintext()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh():
    """A vault not yet mounted, for tests that mount it their own way; always unmounted and
    removed afterwards."""
    base = tempfile.mkdtemp(prefix="sotto-fresh-")
    v = Vault(base)
    try:
        yield v
    finally:
        v.unmount()
        shutil.rmtree(base, ignore_errors=True)


def run(*cmd, cwd=None, input=None, check=True, timeout=300):
    r = subprocess.run(list(map(str, cmd)), cwd=cwd, input=input, capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r
