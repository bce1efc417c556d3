"""Many devices: vault directories synced by real tools while mounted with `--shared`.

Two "devices" (two vault directories with the same keys, each mounted) sync through a third
directory standing in for cloud storage with `rclone bisync`, and directly with two Syncthing
instances on loopback — edits on both sides, the same
folder made on both, conflicting edits, renames and deletes. Afterwards both mounts show the
same tree, every conflict copy is readable under a plain name, nothing is lost, and no plaintext
reached the remote. Also: what `--shared` promises when files change under the mount, the
readable names of Syncthing and Dropbox conflict copies, and that an edit rewrites only the
blocks it touches (what makes block-level sync cheap)."""
import errno
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import PASSWORD, SOTTO, Vault, assert_marker_cannot_occur_by_chance, is_mounted, sotto, status_mounts

# The kernel may keep names and attributes this long (Mount.cacheTimeout); docs/sync.md.
STALENESS_BOUND = 1.0
BLOCK, HEADER, OVERHEAD = 16384, 78, 28


def eventually(check, bound=STALENESS_BOUND):
    """Polls `check` until it holds, failing if it still does not after the documented bound
    (plus slack for a loaded machine): this asserts the bound, it does not wait for a result."""
    deadline = time.monotonic() + bound + 2.0
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            assert check(), "still stale after the documented bound"
            return
        time.sleep(0.05)


class Device(Vault):
    """A vault directory synced with others: mounted --shared; its vault dir may start empty
    (filled by the first sync) and takes the same password."""

    def __init__(self, base, name, create):
        super().__init__(pathlib.Path(base) / name, create=create)

    def mount(self, *extra):
        super().mount("--shared", *extra)


def bisync(dev, remote, resync=False):
    args = ["rclone", "bisync", str(dev.dir), str(remote), "--workdir", str(dev.base / "rclone"),
            "--config", "/dev/null", "--force"]
    if resync:
        args.append("--resync")
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def tree(root):
    """Every file under a mount: relative path -> bytes."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = pathlib.Path(d) / f
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def scan_for_plaintext(directory, markers):
    for m in markers:
        assert_marker_cannot_occur_by_chance(m)
    for d, dirs, files in os.walk(directory):
        for n in dirs + files:
            for m in markers:
                assert m not in n.encode(), f"plaintext name {m!r} in {d}/{n}"
        for f in files:
            p = pathlib.Path(d) / f
            if p.is_symlink():
                continue
            data = p.read_bytes()
            for m in markers:
                assert m not in data, f"plaintext {m!r} in {p}"


@pytest.fixture
def devices():
    base = tempfile.mkdtemp(prefix="sotto-sync-")
    a = Device(base, "laptop", create=True)
    b = Device(base, "desktop", create=False)
    remote = pathlib.Path(base) / "remote"
    remote.mkdir()
    yield a, b, remote
    for d in (a, b):
        d.unmount()
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is installed by tools/install-deps")
def test_two_devices_through_rclone_bisync(devices):
    a, b, remote = devices
    markers = [b"Participant", b"interview", b"confidential", b"version from the", b"todo.txt", b"todo: laptop",
               b"2026 sessions"]
    a.mount()
    (a.mnt / "notes").mkdir()
    (a.mnt / "notes" / "interview.txt").write_text("Participant said the merger was confidential.\n")
    (a.mnt / "audio").mkdir()
    (a.mnt / "audio" / "session.raw").write_bytes(os.urandom(300_000))
    (a.mnt / "shared.txt").write_text("Participant notes, first draft\n")
    bisync(a, remote, resync=True)
    bisync(b, remote, resync=True)
    b.mount()
    assert tree(b.mnt) == tree(a.mnt)

    # Offline edits on both devices.
    (a.mnt / "2026 sessions").mkdir()  # the same folder made on both
    (b.mnt / "2026 sessions").mkdir()
    (a.mnt / "2026 sessions" / "laptop.txt").write_text("Participant on the laptop\n")
    (b.mnt / "2026 sessions" / "desktop.txt").write_text("Participant on the desktop\n")
    (a.mnt / "2026 sessions" / "plan.txt").write_text("plan from the laptop\n")  # one name, two folder IDs
    (b.mnt / "2026 sessions" / "plan.txt").write_text("plan from the desktop\n")
    (a.mnt / "shared.txt").write_text("version from the laptop\n")  # the same file edited on both
    (b.mnt / "shared.txt").write_text("version from the desktop\n")
    (a.mnt / "todo.txt").write_text("todo: laptop\n")  # the same new name on both
    (b.mnt / "todo.txt").write_text("todo: desktop\n")
    os.rename(a.mnt / "notes" / "interview.txt", a.mnt / "notes" / "interview-final.txt")
    os.unlink(b.mnt / "audio" / "session.raw")

    bisync(a, remote)
    bisync(b, remote)
    bisync(a, remote)

    expected_files = {
        "notes/interview-final.txt": b"Participant said the merger was confidential.\n",
        "2026 sessions/laptop.txt": b"Participant on the laptop\n",
        "2026 sessions/desktop.txt": b"Participant on the desktop\n",
    }

    def converged():
        ta, tb = tree(a.mnt), tree(b.mnt)
        return ta == tb and all(ta.get(k) == v for k, v in expected_files.items())

    eventually(converged)
    t = tree(a.mnt)
    # Both versions of each conflict are there, under readable names, nothing lost.
    shared = sorted(v for k, v in t.items() if k.startswith("shared (conflict "))
    assert shared == [b"version from the desktop\n", b"version from the laptop\n"], sorted(t)
    todo = sorted(v for k, v in t.items() if k.startswith("todo (conflict "))
    assert todo == [b"todo: desktop\n", b"todo: laptop\n"], sorted(t)
    plans = sorted(v for k, v in t.items() if k.startswith("2026 sessions/plan"))
    assert plans == [b"plan from the desktop\n", b"plan from the laptop\n"], sorted(t)
    assert {"2026 sessions/plan.txt", "2026 sessions/plan (conflict copy 2).txt"} <= set(t)
    assert "notes/interview.txt" not in t and "audio/session.raw" not in t
    # The merged folder has two IDs; fsck names the conflicts and finds no damage.
    for d in (a, b):
        r = sotto("fsck", d.dir, "--password-file", d.pwfile, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("shown in the mount under this name") == 5 and "2 directory IDs" in r.stdout, r.stdout

    # The user merges on the laptop: keeps one version under the real name, deletes the other.
    keep = next(k for k, v in t.items() if v == b"version from the laptop\n")
    drop = next(k for k, v in t.items() if v == b"version from the desktop\n")
    os.rename(a.mnt / keep, a.mnt / "shared.txt")
    os.unlink(a.mnt / drop)
    bisync(a, remote)
    bisync(b, remote)
    eventually(lambda: (b.mnt / "shared.txt").read_bytes() == b"version from the laptop\n"
               and not any(n.startswith("shared (conflict") for n in os.listdir(b.mnt)))

    for d in (remote, a.dir, b.dir):
        scan_for_plaintext(d, markers)


class Syncthing:
    """One Syncthing instance on loopback only (no discovery, relays or NAT), sharing folder
    "vault" (a device's vault directory) with its peers, driven through its REST API."""

    API_KEY = "sotto-test-api-key"

    def __init__(self, dev, gui_port, sync_port):
        self.dev, self.gui_port, self.sync_port = dev, gui_port, sync_port
        self.home = dev.base / "syncthing"
        r = subprocess.run(["syncthing", "generate", f"--home={self.home}", "--no-default-folder"],
                           capture_output=True, text=True, check=True)
        self.device_id = next(l.split("Device ID:")[1].strip() for l in (r.stdout + r.stderr).splitlines() if "Device ID:" in l)
        self.proc = None

    def configure(self, peers):
        import xml.etree.ElementTree as ET
        cfg = self.home / "config.xml"
        tree = ET.parse(cfg)
        root = tree.getroot()
        for d in root.findall("device"):
            root.remove(d)
        for f in root.findall("folder"):
            root.remove(f)
        folder = ET.SubElement(root, "folder", id="vault", label="vault", path=str(self.dev.dir), type="sendreceive",
                               rescanIntervalS="3600", fsWatcherEnabled="false", ignorePerms="false", autoNormalize="false")
        ET.SubElement(folder, "maxConflicts").text = "10"  # absent means 0: no conflict copies at all
        for st in [self] + peers:
            d = ET.Element("device", id=st.device_id, name=st.dev.base.name, compression="metadata", introducer="false")
            ET.SubElement(d, "address").text = f"tcp://127.0.0.1:{st.sync_port}"
            root.insert(0, d)
            ET.SubElement(folder, "device", id=st.device_id)
        gui = root.find("gui")
        gui.find("address").text = f"127.0.0.1:{self.gui_port}"
        gui.find("apikey").text = self.API_KEY
        opts = root.find("options")
        for tag, value in [("listenAddress", f"tcp://127.0.0.1:{self.sync_port}"), ("globalAnnounceEnabled", "false"),
                           ("localAnnounceEnabled", "false"), ("relaysEnabled", "false"), ("natEnabled", "false"),
                           ("urAccepted", "-1"), ("crashReportingEnabled", "false"), ("autoUpgradeIntervalH", "0"),
                           ("startBrowser", "false")]:
            el = opts.find(tag)
            if el is None:
                el = ET.SubElement(opts, tag)
            el.text = value
        tree.write(cfg)

    def start(self):
        self.proc = subprocess.Popen(["syncthing", "serve", f"--home={self.home}", "--no-browser", "--no-restart",
                                      "--no-upgrade"], stdout=open(self.home / "log", "a"), stderr=subprocess.STDOUT,
                                     env=dict(os.environ, STNODEFAULTFOLDER="1", STNOUPGRADE="1"))

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def api(self, path, method="GET"):
        import json
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{self.gui_port}{path}", method=method,
                                     headers={"X-API-Key": self.API_KEY})
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read()
        return json.loads(body) if body else None

    def in_sync_with(self, peers):
        """Scans, then reports whether this instance is idle with nothing to fetch and every peer
        has everything it has."""
        connections = self.api("/rest/system/connections")["connections"]
        if not all(connections.get(p.device_id, {}).get("connected") for p in peers):
            return False
        self.api("/rest/db/scan?folder=vault", method="POST")
        status = self.api("/rest/db/status?folder=vault")
        if status["state"] != "idle" or status["needTotalItems"] != 0:
            return False
        return all(self.api(f"/rest/db/completion?folder=vault&device={p.device_id}")["completion"] == 100 for p in peers)


def settle(instances, timeout=90):
    """Waits until every instance is idle and complete towards the others (a sync has no end
    event to wait on; this polls Syncthing's own completion figures, with a deadline)."""
    deadline = time.monotonic() + timeout
    stable = 0
    while time.monotonic() < deadline:
        try:
            ok = all(st.in_sync_with([p for p in instances if p is not st]) for st in instances)
        except OSError:
            ok = False
        stable = stable + 1 if ok else 0
        if stable >= 4:  # four clean rounds in a row, connected: no scan or index turned up more work
            return
        time.sleep(0.5)
    raise AssertionError("Syncthing instances did not converge")


@pytest.mark.skipif(shutil.which("syncthing") is None, reason="syncthing is installed by tools/install-deps")
def test_two_devices_through_syncthing(devices):
    a, b, _ = devices
    markers = [b"Participant", b"interview", b"version from the", b"on the laptop", b"confidential"]
    a.mount()
    (a.mnt / "interview.txt").write_text("Participant said the merger was confidential.\n")
    (a.mnt / "shared.txt").write_text("Participant notes, first draft\n")
    (a.mnt / "audio").mkdir()
    (a.mnt / "audio" / "session.raw").write_bytes(os.urandom(600_000))
    port = 20000 + os.getpid() % 20000
    sa, sb = Syncthing(a, port, port + 1), Syncthing(b, port + 2, port + 3)
    try:
        sa.configure([sb])
        sb.configure([sa])
        sa.start()
        sb.start()
        settle([sa, sb])
        b.mount()
        assert tree(b.mnt) == tree(a.mnt)
        # Offline on both (Syncthing stopped), then back online.
        sa.stop()
        sb.stop()
        (a.mnt / "2026").mkdir()
        (b.mnt / "2026").mkdir()
        (a.mnt / "2026" / "laptop.txt").write_text("Participant on the laptop\n")
        (b.mnt / "2026" / "desktop.txt").write_text("Participant on the desktop\n")
        (a.mnt / "shared.txt").write_text("version from the laptop\n")
        (b.mnt / "shared.txt").write_text("version from the desktop, a bit longer\n")
        os.rename(a.mnt / "interview.txt", a.mnt / "interview-final.txt")
        os.unlink(b.mnt / "audio" / "session.raw")
        sa.start()
        sb.start()
        settle([sa, sb])

        def converged():
            ta, tb = tree(a.mnt), tree(b.mnt)
            return ta == tb and "2026/laptop.txt" in ta and "2026/desktop.txt" in ta and "interview-final.txt" in ta
        eventually(converged)
        t = tree(a.mnt)
        versions = sorted(v for k, v in t.items() if k.startswith("shared"))
        assert versions == [b"version from the desktop, a bit longer\n", b"version from the laptop\n"], sorted(t)
        assert any(k.startswith("shared (conflict 2026-") for k in t), sorted(t)
        assert "interview.txt" not in t and "audio/session.raw" not in t
        for d in (a, b):
            r = sotto("fsck", d.dir, "--password-file", d.pwfile, check=False)
            assert r.returncode == 0 and "sync-conflict" in r.stdout and "not a Sotto name" not in r.stdout, r.stdout
            scan_for_plaintext(d.dir, markers)
    finally:
        sa.stop()
        sb.stop()


@pytest.fixture
def pair():
    """One vault mounted --shared, and a second copy of it standing in for another device whose
    changes a sync tool brings in file by file."""
    base = tempfile.mkdtemp(prefix="sotto-shared-")
    a = Device(base, "here", create=True)
    other = Device(base, "there", create=False)
    yield a, other
    for d in (a, other):
        d.unmount()
    shutil.rmtree(base, ignore_errors=True)


def test_shared_mount_shows_changes_and_never_mixes_versions(pair):
    a, other = pair
    a.mount()
    mnt = os.path.realpath(a.mnt)
    eventually(lambda: any(e["mountpoint"] == mnt and e["shared"] for e in status_mounts()))
    (a.mnt / "live.txt").write_bytes(b"A" * 4_000_000)
    (a.mnt / "gone.txt").write_text("to be deleted elsewhere\n")
    before = set(os.listdir(a.dir))
    # The other device starts as an exact copy, mounted on its own.
    shutil.copytree(a.dir, other.dir, dirs_exist_ok=True, symlinks=True)
    other.mount()

    # A new file there reaches the vault directory here (as a sync tool would copy it).
    (other.mnt / "new.txt").write_text("made on the other device\n")
    other.unmount()
    for n in set(os.listdir(other.dir)) - before:
        shutil.copy2(other.dir / n, a.dir / n)
    eventually(lambda: (a.mnt / "new.txt").read_text() == "made on the other device\n")

    # An open file whose backing file is changed in place (same file key, other blocks) fails
    # with EIO rather than returning a mix of the two versions. (Read far from the first read,
    # past the kernel's readahead, so the read reaches the daemon.)
    live_backing = next(n for n in os.listdir(other.dir) if (other.dir / n).stat().st_size > 1_000_000)
    f = open(a.mnt / "live.txt", "rb", buffering=0)
    assert f.read(10) == b"A" * 10
    other.mount()
    with open(other.mnt / "live.txt", "r+b") as g:
        g.seek(3_000_000)
        g.write(b"B" * 40_000)
    other.unmount()
    with open(other.dir / live_backing, "rb") as src, open(a.dir / live_backing, "r+b") as dst:
        dst.write(src.read())  # in place: same inode, new mtime
    with pytest.raises(OSError) as e:
        f.seek(3_010_000)
        f.read(1000)
    assert e.value.errno == errno.EIO
    f.close()
    # Opened again, it reads the new version whole.
    edited = b"A" * 3_000_000 + b"B" * 40_000 + b"A" * 960_000
    eventually(lambda: (a.mnt / "live.txt").read_bytes() == edited)

    # Replaced by rename (how Syncthing writes): an open handle keeps the version it opened,
    # whole; a new open sees the new one.
    f = open(a.mnt / "live.txt", "rb", buffering=0)
    other.mount()
    (other.mnt / "live.txt").write_bytes(b"C" * 100_000)  # O_TRUNC keeps the inode and file key
    other.unmount()
    shutil.copy2(other.dir / live_backing, a.dir / "incoming.tmp")
    os.rename(a.dir / "incoming.tmp", a.dir / live_backing)
    assert f.read() == edited
    f.close()
    eventually(lambda: (a.mnt / "live.txt").read_bytes() == b"C" * 100_000)

    # Deleted there: gone here.
    other.mount()
    os.unlink(other.mnt / "gone.txt")
    other.unmount()
    for n in set(os.listdir(a.dir)) - set(os.listdir(other.dir)):
        os.unlink(a.dir / n)
    eventually(lambda: not (a.mnt / "gone.txt").exists() and "gone.txt" not in os.listdir(a.mnt))
    assert sorted(os.listdir(a.mnt)) == ["live.txt", "new.txt"]


def test_conflict_copies_of_syncthing_and_dropbox_are_readable_and_resolvable(pair):
    a, _ = pair
    a.mount()
    (a.mnt / "interview.txt").write_text("ours\n")
    long_name = "L" * 200 + ".txt"
    (a.mnt / long_name).write_text("long ours\n")
    a.secret("interview", "long ours", "LLLLLLLL")
    enc = next(n for n in os.listdir(a.dir) if not n.startswith("sotto."))
    container = next(a.dir / n for n in os.listdir(a.dir) if n.startswith("sotto.long."))
    # What Syncthing and Dropbox leave when the file changed on two devices: a renamed copy.
    shutil.copy2(a.dir / enc, a.dir / (enc + ".sync-conflict-20261125-141200-ABCDEF7"))
    shutil.copy2(a.dir / enc, a.dir / (enc + " (conflicted copy 2026-11-24 093000)"))
    shutil.copy2(container / "data", container / "data.sync-conflict-20261125-080000-ABCDEF7")
    expected = {"interview.txt", "interview (conflict 2026-11-25 1412).txt", "interview (conflict 2026-11-24 0930).txt",
                long_name, "L" * 200 + " (conflict 2026-11-25 0800).txt"}
    eventually(lambda: set(os.listdir(a.mnt)) == expected)
    for n in expected:
        assert (a.mnt / n).read_text().endswith("ours\n")
    # Editing a copy, renaming it over the original, deleting the other: an ordinary merge.
    with open(a.mnt / "interview (conflict 2026-11-25 1412).txt", "a") as f:
        f.write("theirs\n")
    os.rename(a.mnt / "interview (conflict 2026-11-25 1412).txt", a.mnt / "interview.txt")
    os.unlink(a.mnt / "interview (conflict 2026-11-24 0930).txt")
    os.unlink(a.mnt / ("L" * 200 + " (conflict 2026-11-25 0800).txt"))
    assert sorted(os.listdir(a.mnt)) == sorted(["interview.txt", long_name])
    assert (a.mnt / "interview.txt").read_text() == "ours\ntheirs\n"
    assert sorted(n for n in os.listdir(a.dir) if not n.startswith("sotto.")) == [enc]
    assert sorted(os.listdir(container)) == ["data", "name"]


def changed_blocks(before, after):
    """Indices of the on-disk blocks that differ (-1: the header)."""
    out = set()
    if before[:HEADER] != after[:HEADER]:
        out.add(-1)
    size = BLOCK + OVERHEAD
    for i in range(0, max(len(before), len(after)) - HEADER, size):
        if before[HEADER + i:HEADER + i + size] != after[HEADER + i:HEADER + i + size]:
            out.add(i // size)
    return out


def test_an_edit_rewrites_only_the_blocks_it_touches(pair):
    """What keeps block-level sync (Syncthing, rsync) cheap: no vault-wide index changes, and an
    edit in place or an append rewrites only the blocks it covers."""
    a, _ = pair
    a.mount()
    (a.mnt / "transcript.txt").write_bytes(os.urandom(10 * BLOCK + 5000))
    a.unmount()
    backing = next(a.dir / n for n in os.listdir(a.dir) if not n.startswith("sotto."))
    config = (a.dir / "sotto.conf").read_bytes()
    names = sorted(os.listdir(a.dir))
    v0 = backing.read_bytes()
    a.mount()
    with open(a.mnt / "transcript.txt", "r+b") as f:  # one line edited in the middle
        f.seek(4 * BLOCK + 100)
        f.write(b"edited line\n")
    a.unmount()
    v1 = backing.read_bytes()
    assert changed_blocks(v0, v1) == {4}
    a.mount()
    with open(a.mnt / "transcript.txt", "ab") as f:  # appended: the short final block and new ones
        f.write(os.urandom(2 * BLOCK))
    a.unmount()
    v2 = backing.read_bytes()
    assert changed_blocks(v1, v2) == {10, 11, 12}
    assert (a.dir / "sotto.conf").read_bytes() == config and sorted(os.listdir(a.dir)) == names
