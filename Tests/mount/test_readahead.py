"""Folder readahead (SottoFUSE/Readahead.swift): a reader opening a folder's files in the order
the mount listed them finds the next files' ciphertext already asked of the disk; a listing alone
asks for nothing, and an out-of-order open asks for two files at most.

Two observables. What the mount asked for: debug builds log each backing file they request
(`readahead requested PATH`), which is what the mount decides. Whether the kernel then read the
pages in is its own choice — WILLNEED readahead allocates with __GFP_NORETRY and gives up under
reclaim pressure, which a second test suite running beside this one once caused (2 of 7 files
never came in, twice in 60 runs) — so residency in the page cache (fincore) is only used for what
nothing may have read: the files are evicted first."""
import os
import subprocess
import time

from conftest import run

FILES = 16
WINDOW = 8        # FolderReadahead.window
FIRST_WINDOW = 2  # FolderReadahead.firstWindow


def resident_bytes(path):
    out = run("fincore", "--bytes", "--noheadings", "--output", "RES", path).stdout.decode()
    return int(out.strip())


def requested(vault):
    """The backing paths the mount has asked the disk for, by their last component (the
    encrypted name, unique in these tests)."""
    prefix = "readahead requested "
    return {line.split(prefix, 1)[1].strip().rsplit("/", 1)[-1]
            for line in vault.log.read_text().splitlines() if prefix in line}


def wait_until_requested(vault, paths, timeout=20.0):
    """Polls the log (the requests run on the daemon's readahead thread); returns the paths not
    requested by the deadline."""
    deadline = time.monotonic() + timeout
    missing = list(paths)
    while True:
        names = requested(vault)
        missing = [p for p in missing if str(p).rsplit("/", 1)[-1] not in names]
        if not missing or time.monotonic() >= deadline:
            return missing


def not_requested(vault, paths):
    names = requested(vault)
    return [p for p in paths if str(p).rsplit("/", 1)[-1] not in names]


def folders_in_listing_order(vault, counts):
    """Writes counts[name] files into each new folder, remounts with their backing pages evicted,
    lists the folders in the order given, and returns {name: (plaintext paths in the order the
    mount lists them, backing path of each)}."""
    for name, n in counts.items():
        d = vault.mnt / name
        d.mkdir()
        for i in range(n):
            (d / f"note{i:02d}.md").write_bytes(os.urandom(20000))
    vault.unmount()
    backing = vault.evict_backing_pages()
    vault.mount()
    out = {}
    for name, n in counts.items():
        d = vault.mnt / name
        order = [d / f for f in os.listdir(d)]  # the mount's listing order
        assert len(order) == n
        # A file's inode number through the mount is its backing file's.
        out[name] = (order, [backing[os.stat(p).st_ino] for p in order])
    return out


def folder_in_listing_order(vault, name):
    return folders_in_listing_order(vault, {name: FILES})[name]


def read(path):
    with open(path, "rb") as f:
        assert len(f.read()) == 20000


def test_reading_in_listing_order_requests_the_next_files(vault):
    order, backing = folder_in_listing_order(vault, "interviews")
    assert all(resident_bytes(b) == 0 for b in backing), "listing (and stat) must not read content"
    read(order[0])
    read(order[1])  # in order: the window widens to WINDOW files after this one
    ahead = backing[2:2 + WINDOW]
    assert wait_until_requested(vault, ahead) == [], "the next files were not requested"
    # Never requested, and nothing brought them in.
    beyond = backing[2 + WINDOW:]
    assert not_requested(vault, beyond) == beyond
    assert [b for b in beyond if resident_bytes(b) > 0] == []
    # Reading on keeps the window ahead of the reader.
    for p in order[2:5]:
        read(p)
    assert wait_until_requested(vault, backing[5 + 1:5 + WINDOW]) == []


def test_an_out_of_order_open_requests_little_and_writers_nothing(vault):
    order, backing = folder_in_listing_order(vault, "sessions")
    read(order[8])  # a single file, as an editor opens one note
    assert wait_until_requested(vault, backing[9:9 + FIRST_WINDOW]) == []
    others = [b for i, b in enumerate(backing) if i not in (9, 10)]
    assert not_requested(vault, others) == others
    assert [b for i, b in enumerate(backing) if resident_bytes(b) > 0 and i not in (8, 9, 10)] == []
    # Opening for writing is not reading a folder.
    with open(order[0], "r+b") as f:
        f.write(b"x")
    with open(order[1], "r+b") as f:
        f.write(b"y")
    assert resident_bytes(backing[3]) == 0 and resident_bytes(backing[12]) == 0
    assert not_requested(vault, [backing[3], backing[12]]) == [backing[3], backing[12]]


def test_a_file_gone_since_the_listing_is_skipped(vault):
    order, backing = folder_in_listing_order(vault, "drafts")
    os.unlink(order[2])  # through the mount: the listing the readahead follows still names it
    read(order[0])
    read(order[1])
    assert wait_until_requested(vault, backing[3:2 + WINDOW]) == []
    assert subprocess.run(["cat", str(order[3])], capture_output=True).returncode == 0


def test_the_window_continues_into_the_folder_listed_next(vault):
    # A tree walker lists a folder, reads its files, and goes on to the next folder it listed.
    f = folders_in_listing_order(vault, {"2024": 3, "2025-a": 4, "2025-b": 6})
    (a, a_backing), (b, b_backing) = f["2025-a"], f["2025-b"]
    for p in a[:2]:
        read(p)  # in order: the window reaches past 2025-a's last file, into 2025-b
    assert wait_until_requested(vault, a_backing[2:] + b_backing) == []
    # The folder listed before is not where the reader is going.
    assert not_requested(vault, f["2024"][1]) == f["2024"][1]
    assert [x for x in f["2024"][1] if resident_bytes(x) > 0] == []
