"""Growing a file never fills the disk by surprise (issue 19).

A grow — truncate, fallocate, a write past the end — fills the new range with encrypted zeros,
so before this it wrote until the disk was full (`truncate -s 999999999999999` wrote 84 GB, then
ENOSPC). Now the new ciphertext's space is reserved first (`fallocate(KEEP_SIZE)` on the
backing file) and a grow that cannot have it fails at once with EFBIG or ENOSPC, with nothing
written and nothing held. Each test runs on a small filesystem of its own — ext4 on a loop
device, or tmpfs where loop devices are unavailable — never on the disk the suite runs on."""
import ctypes
import errno
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import Vault, run

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


def test_a_grow_larger_than_the_free_space_gives_everything_back(small):
    """ext4 keeps what it allocated before running out (a 100 GB request with 80 GB free held
    all 80 GB): a failed reservation must be given back, or the disk is full anyway."""
    f = small.mnt / "notes.txt"
    f.write_bytes(NOTES)
    before = snapshot(small)
    too_much = 2 * SMALL_FS
    expect_errno({errno.ENOSPC}, lambda: os.truncate(f, too_much))
    assert_unchanged(small, before, f)
    # A write far past the end: the gap is a grow too.
    with open(f, "r+b") as h:
        expect_errno({errno.ENOSPC}, lambda: os.pwrite(h.fileno(), b"x", too_much))
        expect_errno({errno.EFBIG}, lambda: os.pwrite(h.fileno(), b"x", PAST_SOTTO_MAXIMUM))
    assert_unchanged(small, before, f)
    # posix_fallocate (fallocate mode 0): grows the file, so the same rule.
    with open(f, "r+b") as h:
        expect_errno({errno.ENOSPC}, lambda: os.posix_fallocate(h.fileno(), 0, too_much))
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
    # All the reserved space was used: the backing file is exactly its ciphertext, no more.
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


def test_zero_range_zeroes_in_place_grows_or_reserves_and_punching_is_refused(small):
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
    # Punching a hole would need sparse ciphertext: refused, nothing changed.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    with open(f, "r+b") as h:
        assert libc.fallocate(h.fileno(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == -1
        assert ctypes.get_errno() == errno.EOPNOTSUPP
    assert f.read_bytes() == data
