"""Files through the mount: sizes around the block edges, copies, trees, sizes without reads."""
import hashlib
import os
import random

import pytest

from conftest import run

B = 16384


@pytest.mark.parametrize("size", [0, 1, B - 1, B, B + 1, 3 * B, 50 * 1000 * 1000])
def test_cp_and_cmp(vault, tmp_path, size):
    src = tmp_path / "src.bin"
    rnd = random.Random(size)
    src.write_bytes(rnd.randbytes(size))
    run("cp", src, vault.path("copy.bin"))
    run("cmp", src, vault.path("copy.bin"))
    assert os.stat(vault.path("copy.bin")).st_size == size
    vault.remount()
    run("cmp", src, vault.path("copy.bin"))
    # st_size comes from the ciphertext size alone and is exact.
    assert os.stat(vault.path("copy.bin")).st_size == size


def test_tar_tree_in_and_out(vault, tmp_path):
    tree = tmp_path / "project-tree"
    (tree / "src" / "deep" / "er").mkdir(parents=True)
    (tree / "src" / "main.c").write_text("int main(void) { return 0; } // marker-main-source\n")
    (tree / "src" / "deep" / "er" / "notes.txt").write_text("quarterly confidential notes\n" * 100)
    (tree / "empty").write_bytes(b"")
    (tree / "exec.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(tree / "exec.sh", 0o750)
    os.chmod(tree / "src" / "deep", 0o700)
    os.symlink("src/main.c", tree / "link-to-main")
    os.symlink("../nowhere", tree / "dangling")
    (tree / ("long-" + "n" * 240)).write_text("long name file\n")
    (tree / "ünïcødé – 文字.txt").write_text("unicode name\n")
    vault.secret("marker-main-source", "quarterly confidential", "ünïcødé", "project-tree", "notes.txt", "long-nnnn")
    run("tar", "-C", tmp_path, "-cf", tmp_path / "in.tar", "project-tree")
    run("tar", "-C", vault.mnt, "-xf", tmp_path / "in.tar")
    vault.remount()
    out = tmp_path / "out"
    out.mkdir()
    run("tar", "-C", vault.mnt, "-cf", tmp_path / "out.tar", "project-tree")
    run("tar", "-C", out, "-xf", tmp_path / "out.tar")
    run("diff", "-r", "--no-dereference", tree, out / "project-tree")
    for root, dirs, files in os.walk(tree):
        for n in dirs + files:
            a = os.path.join(root, n)
            b = os.path.join(out / "project-tree", os.path.relpath(a, tree))
            sa, sb = os.lstat(a), os.lstat(b)
            assert sa.st_mode == sb.st_mode, a
            if os.path.islink(a):
                assert os.readlink(a) == os.readlink(b)
    # ls -lR sizes equal the source's.
    def sizes(base):
        return {os.path.relpath(os.path.join(r, n), base): os.lstat(os.path.join(r, n)).st_size
                for r, ds, fs in os.walk(base) for n in fs}
    assert sizes(tree) == sizes(vault.path("project-tree"))


def test_sparse_gap_reads_back_zeros(vault):
    p = vault.path("gap.bin")
    with open(p, "wb") as f:
        f.write(b"head")
        f.seek(5 * B + 7)
        f.write(b"tail")
    data = open(p, "rb").read()
    assert data == b"head" + b"\0" * (5 * B + 3) + b"tail"


def test_truncate_grow_and_shrink_mid_block(vault):
    p = vault.path("t.bin")
    payload = bytes(range(256)) * 200  # 51200 bytes: 3 blocks and a bit
    p.write_bytes(payload)
    os.truncate(p, B + 100)
    assert p.read_bytes() == payload[:B + 100]
    os.truncate(p, 3 * B)
    assert p.read_bytes() == payload[:B + 100] + b"\0" * (2 * B - 100)
    with open(p, "r+b") as f:
        f.truncate(0)
    assert p.read_bytes() == b""
    vault.remount()
    assert p.read_bytes() == b""


def test_shared_writable_mmap(vault):
    import mmap
    p = vault.path("mapped.bin")
    p.write_bytes(b"\0" * (2 * B))
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), 2 * B)
        m[B - 2:B + 2] = b"MMAP"
        m.flush()
        m.close()
    vault.remount()
    assert p.read_bytes()[B - 2:B + 2] == b"MMAP"
