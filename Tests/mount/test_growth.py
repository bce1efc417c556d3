"""Growing a file never fills the disk by surprise (issue 19), and holes cost no disk.

A grow once filled the new range with encrypted zeros, so `truncate -s 999999999999999` wrote
84 GB, then ENOSPC. Since format 7 (docs/sparse-files.md) truncate and a write past the end add
whole blocks of zeros as sealed hole runs: a file larger than the disk takes a few KiB, and a
size past what the filesystem or Sotto can hold is EFBIG at once, with nothing written.
fallocate still takes the space (its promise is that later writes cannot fail for it): reserved
first, and a reservation that cannot be had fails at once with ENOSPC, nothing held. Punching a
hole frees whole blocks. Each test runs on a small filesystem of its own — ext4 on a loop
device, or tmpfs where loop devices are unavailable — never on the disk the suite runs on."""
import ctypes
import errno
import os
import shutil
import subprocess
import tempfile

import json
import pathlib

import pytest

from conftest import Vault, run

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "SottoCoreTests" / "Fixtures"

SMALL_FS = 64 << 20
# Past the largest file ext4 can hold (16 TiB with 4 KiB blocks): the filesystem's own EFBIG.
HUGE = 999_999_999_999_999
# Past the largest plaintext size whose ciphertext fits in off_t: Sotto's own EFBIG, on any
# filesystem (the kernel allows FUSE files up to 2^63-1 bytes).
PAST_SOTTO_MAXIMUM = (1 << 63) - (1 << 20)
NOTES = b"interview notes, kept whatever happens\n"
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02  # linux/falloc.h


@pytest.fixture
def small():
    base = tempfile.mkdtemp(prefix="sotto-small-")
    fs = os.path.join(base, "fs")
    os.mkdir(fs)
    image = os.path.join(base, "fs.img")
    with open(image, "wb") as f:
        f.truncate(SMALL_FS)
    if (subprocess.run(["mkfs.ext4", "-q", image], capture_output=True).returncode == 0
            and subprocess.run(["mount", "-o", "loop", image, fs], capture_output=True).returncode == 0):
        kind = "ext4"
    else:
        run("mount", "-t", "tmpfs", "-o", f"size={SMALL_FS}", "tmpfs", fs)
        kind = "tmpfs"
    try:
        v = Vault(fs)
        v.kind = kind
        v.mount()
        try:
            yield v
        finally:
            v.unmount()
    finally:
        subprocess.run(["umount", fs], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def free_bytes(v):
    s = os.statvfs(v.dir)
    return s.f_bavail * s.f_frsize


def backing_file(v):
    (name,) = [n for n in os.listdir(v.dir) if not n.startswith("sotto.")]
    return v.dir / name


def snapshot(v):
    st = os.stat(backing_file(v))
    return st.st_size, st.st_blocks, free_bytes(v)


def assert_unchanged(v, before, plain):
    """Nothing written and nothing held: the backing file's size is as it was, it holds at most
    one more filesystem block (ext4 may keep an extent-tree block it grew for the reservation),
    the free space is the same within that block, and the file still reads back whole."""
    size, blocks, free = snapshot(v)
    block = os.statvfs(v.dir).f_bsize
    assert size == before[0]
    assert blocks * 512 <= before[1] * 512 + block, (blocks, before[1])
    assert free >= before[2] - block, (free, before[2])
    assert plain.read_bytes() == NOTES


def expect_errno(expected, call):
    with pytest.raises(OSError) as e:
        call()
    assert e.value.errno in expected, os.strerror(e.value.errno)
    return e.value.errno


def test_a_huge_truncate_fails_at_once_having_written_nothing(small):
    f = small.mnt / "notes.txt"
    f.write_bytes(NOTES)
    before = snapshot(small)
    got = expect_errno({errno.EFBIG, errno.ENOSPC}, lambda: os.truncate(f, HUGE))
    # ext4's own limit; tmpfs has none below it and says the space is not there.
    assert got == (errno.EFBIG if small.kind == "ext4" else errno.ENOSPC)
    assert_unchanged(small, before, f)
    expect_errno({errno.EFBIG}, lambda: os.truncate(f, PAST_SOTTO_MAXIMUM))
    assert_unchanged(small, before, f)


def test_a_file_larger_than_the_disk_is_a_hole_and_fallocate_gives_everything_back(small):
    """Truncate and a write far past the end make hole runs: twice the disk's size takes a few
    KiB and reads as zeros. posix_fallocate promises the space, so it is refused at once — and
    ext4 keeps what it allocated before running out (a 100 GB request with 80 GB free held all
    80 GB): a failed reservation must be given back, or the disk is full anyway."""
    f = small.mnt / "notes.txt"
    f.write_bytes(NOTES)
    before = snapshot(small)
    too_much = 2 * SMALL_FS
    with open(f, "r+b") as h:
        expect_errno({errno.EFBIG}, lambda: os.pwrite(h.fileno(), b"x", PAST_SOTTO_MAXIMUM))
        assert_unchanged(small, before, f)
        os.pwrite(h.fileno(), b"tail", too_much)
    assert os.stat(f).st_size == too_much + 4
    assert os.stat(backing_file(small)).st_blocks * 512 < 1 << 20
    with open(f, "rb") as h:
        assert os.pread(h.fileno(), len(NOTES), 0) == NOTES
        assert os.pread(h.fileno(), 1 << 20, SMALL_FS) == bytes(1 << 20)
        assert os.pread(h.fileno(), 8, too_much - 4) == bytes(4) + b"tail"
    os.truncate(f, len(NOTES))
    assert_unchanged(small, before, f)
    # posix_fallocate (fallocate mode 0) of more than the disk: ENOSPC, nothing held.
    with open(f, "r+b") as h:
        expect_errno({errno.ENOSPC}, lambda: os.posix_fallocate(h.fileno(), 0, too_much))
    assert_unchanged(small, before, f)
    # Over a hole inside the file as well: the run's space is taken, or given back.
    os.truncate(f, SMALL_FS // 2)
    with open(f, "r+b") as h:
        expect_errno({errno.ENOSPC}, lambda: os.posix_fallocate(h.fileno(), 0, too_much))
    assert os.stat(f).st_size == SMALL_FS // 2
    assert os.stat(backing_file(small)).st_blocks * 512 < 1 << 20
    os.truncate(f, len(NOTES))
    assert_unchanged(small, before, f)


def test_grows_that_fit_still_work_and_read_as_zeros(small):
    f = small.mnt / "recording.raw"
    f.write_bytes(NOTES)
    size = 8 << 20
    os.truncate(f, size)
    assert os.stat(f).st_size == size
    with open(f, "r+b") as h:
        os.posix_fallocate(h.fileno(), 0, size + (1 << 20))
        assert os.fstat(h.fileno()).st_size == size + (1 << 20)
        os.pwrite(h.fileno(), b"end", size + (2 << 20))
    data = f.read_bytes()
    assert data[:len(NOTES)] == NOTES
    assert data[len(NOTES):size + (2 << 20)] == bytes(size + (2 << 20) - len(NOTES))
    assert data[-3:] == b"end"
    # posix_fallocate gave the hole runs in its range their space: at least the 9 MiB it covered.
    assert os.stat(backing_file(small)).st_blocks * 512 >= size + (1 << 20)
    blocks_before = os.stat(backing_file(small)).st_blocks
    # fallocate --keep-size: space reserved past the end, the size unchanged.
    run("fallocate", "--keep-size", "--offset", str(len(data)), "--length", str(4 << 20), f)
    assert os.stat(f).st_size == len(data)
    assert os.stat(backing_file(small)).st_blocks >= blocks_before + (4 << 20) // 512
    assert f.read_bytes() == data
    # More than the disk holds: refused, and what was reserved beyond the end is given back.
    r = subprocess.run(["fallocate", "--keep-size", "--offset", str(len(data)), "--length", str(2 * SMALL_FS), str(f)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "No space left" in r.stderr
    assert os.stat(f).st_size == len(data) and f.read_bytes() == data


def test_zero_range_zeroes_in_place_grows_or_reserves_and_punching_frees(small):
    f = small.mnt / "take-3.raw"
    data = bytearray(os.urandom(100_000))
    f.write_bytes(data)
    run("fallocate", "--zero-range", "--offset", "5000", "--length", "20000", f)
    data[5000:25000] = bytes(20000)
    assert f.read_bytes() == data
    # Across the end: the file grows, the new part reads as zeros.
    run("fallocate", "--zero-range", "--offset", "90000", "--length", "30000", f)
    data[90000:] = bytes(10000)
    data += bytes(20000)
    assert os.stat(f).st_size == 120_000 and f.read_bytes() == data
    # With --keep-size past the end: only space is reserved.
    blocks = os.stat(backing_file(small)).st_blocks
    run("fallocate", "--zero-range", "--keep-size", "--offset", "120000", "--length", str(1 << 20), f)
    assert os.stat(f).st_size == 120_000 and f.read_bytes() == data
    assert os.stat(backing_file(small)).st_blocks >= blocks + (1 << 20) // 512
    # Punching a hole: the range reads as zeros, whole blocks' disk space is freed.
    big = small.mnt / "take-4.raw"
    payload = bytearray(os.urandom(4 << 20))
    big.write_bytes(payload)
    os.sync()
    before = os.stat(big).st_blocks
    run("fallocate", "--punch-hole", "--offset", "1000", "--length", str(3 << 20), big)
    payload[1000:1000 + (3 << 20)] = bytes(3 << 20)
    assert big.read_bytes() == payload
    assert os.stat(big).st_blocks * 512 <= before * 512 - (3 << 20) + (64 << 10)
    # SEEK_HOLE / SEEK_DATA see it (at block granularity: 16 KiB blocks).
    with open(big, "rb") as h:
        hole = os.lseek(h.fileno(), 0, os.SEEK_HOLE)
        assert 1000 <= hole <= 1000 + (16 << 10)
        data_again = os.lseek(h.fileno(), hole, os.SEEK_DATA)
        assert 1000 + (3 << 20) - (16 << 10) <= data_again <= 1000 + (3 << 20)
    assert f.read_bytes() == data


def test_a_vault_before_format_7_refuses_to_punch(tmp_path):
    """Format 5 has no holes: punching is refused, nothing changed."""
    v = Vault(tmp_path, create=False)
    v.dir.rmdir()
    shutil.copytree(FIXTURES / "vault-v5", v.dir, symlinks=True)
    v.pwfile.write_text(json.loads((FIXTURES / "vault-v5.json").read_text())["password"] + "\n")
    v.mount()
    try:
        f = v.mnt / "notes.txt"
        f.write_bytes(NOTES * 1000)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
        with open(f, "r+b") as h:
            assert libc.fallocate(h.fileno(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 16384) == -1
            assert ctypes.get_errno() == errno.EOPNOTSUPP
        assert f.read_bytes() == NOTES * 1000
    finally:
        v.unmount()
