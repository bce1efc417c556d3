"""Extended attributes (issue 19): user.* and trusted.* on regular files, encrypted — names with
AES-SIV, values with AES-GCM bound to the file and the name (docs/format.md §5.6) — through
setfattr/getfattr, cp -a and rsync -X, kept across remounts and `sotto rekey`; security.* and
system.* are not kept (as gocryptfs); tampering in the vault directory is caught."""
import errno
import os
import shutil

import pytest

from conftest import run, sotto

NAME_LIMIT = (255 - len("user.sotto.")) * 3 // 4 - 16  # ExtendedAttributes.maxName


def backing_file(v, plain_content):
    """The backing file of the (only) file written with `plain_content`, found by size."""
    size = 78 + len(plain_content) + 28
    (p,) = [v.dir / n for n in os.listdir(v.dir) if not n.startswith("sotto.") and os.path.getsize(v.dir / n) == size]
    return p


def stored_attributes(path):
    return {n: os.getxattr(path, n) for n in os.listxattr(path)}


def test_set_get_list_remove_and_nothing_plaintext_in_the_vault(vault):
    f = vault.mnt / "session-07.txt"
    f.write_text("transcript body\n")
    run("setfattr", "-n", "user.xdg.comment", "-v", "participant P3, confidential tag", f)
    os.setxattr(f, "user.binary", b"\x00\x01\xffbinary value with a NUL\x00", os.XATTR_CREATE)
    os.setxattr(f, "user.empty", b"")
    out = run("getfattr", "-d", f).stdout.decode(errors="replace")
    assert 'user.xdg.comment="participant P3, confidential tag"' in out
    assert os.getxattr(f, "user.binary") == b"\x00\x01\xffbinary value with a NUL\x00"
    assert os.getxattr(f, "user.empty") == b""
    assert sorted(os.listxattr(f)) == ["user.binary", "user.empty", "user.xdg.comment"]
    # setxattr(2)'s flags keep their meaning.
    with pytest.raises(OSError) as e:
        os.setxattr(f, "user.binary", b"again", os.XATTR_CREATE)
    assert e.value.errno == errno.EEXIST
    with pytest.raises(OSError) as e:
        os.setxattr(f, "user.absent", b"x", os.XATTR_REPLACE)
    assert e.value.errno == errno.ENODATA
    os.setxattr(f, "user.binary", b"replaced", os.XATTR_REPLACE)
    assert os.getxattr(f, "user.binary") == b"replaced"
    os.removexattr(f, "user.empty")
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.empty")
    assert e.value.errno == errno.ENODATA
    # The longest name that fits the kernel's limit once encrypted; one more byte does not.
    longest = "user." + "n" * (NAME_LIMIT - len("user."))
    os.setxattr(f, longest, b"long name")
    assert os.getxattr(f, longest) == b"long name"
    with pytest.raises(OSError) as e:
        os.setxattr(f, longest + "n", b"too long")
    assert e.value.errno == errno.ERANGE
    # In the vault directory: only sealed names and values.
    stored = stored_attributes(backing_file(vault, b"transcript body\n"))
    assert len(stored) == 3 and all(n.startswith("user.sotto.") for n in stored)  # comment, binary, longest
    for marker in [b"xdg.comment", b"participant P3", b"binary value", b"replaced", b"nnnnnnnnnnnn", b"long name"]:
        assert not any(marker in n.encode() or marker in v for n, v in stored.items()), marker
    vault.secret("transcript body", "session-07")


def test_what_is_not_kept_and_where(vault):
    f = vault.mnt / "notes.txt"
    f.write_text("notes\n")
    (vault.mnt / "folder").mkdir()
    # Asked before every write; none kept, so none found.
    with pytest.raises(OSError) as e:
        os.getxattr(f, "security.capability")
    assert e.value.errno == errno.ENODATA
    for target, name in [(f, "security.sotto-test"), (vault.mnt / "folder", "user.tag")]:
        with pytest.raises(OSError) as e:
            os.setxattr(target, name, b"x")
        assert e.value.errno == errno.EOPNOTSUPP, (target, name)
    assert os.listxattr(vault.mnt / "folder") == []
    vault.remount("--read-only")
    with pytest.raises(OSError) as e:
        os.setxattr(f, "user.tag", b"x")
    assert e.value.errno == errno.EROFS


def test_cp_a_and_rsync_x_keep_them_and_they_survive_remount_and_rekey(fresh, tmp_path):
    src = tmp_path / "recordings"
    src.mkdir()
    (src / "interview.wav").write_bytes(os.urandom(100_000))
    (src / "transcript.md").write_text("# Transcript\n")
    os.setxattr(src / "interview.wav", "user.xdg.tags", b"2026,interviews")
    os.setxattr(src / "transcript.md", "user.checksum.sha256", b"e3b0c442")
    fresh.mount()
    run("cp", "-a", src, fresh.mnt / "by-cp")
    run("rsync", "-aX", f"{src}/", f"{fresh.mnt}/by-rsync/")
    # And back out through rsync, as a backup would.
    run("rsync", "-aX", f"{fresh.mnt}/by-rsync/", f"{tmp_path}/back/")
    for d in [fresh.mnt / "by-cp", fresh.mnt / "by-rsync", tmp_path / "back"]:
        assert os.getxattr(d / "interview.wav", "user.xdg.tags") == b"2026,interviews", d
        assert os.getxattr(d / "transcript.md", "user.checksum.sha256") == b"e3b0c442", d
    fresh.unmount()
    # A rekey rewraps headers and renames entries; the attributes' keys come from each file's
    # own key, which it keeps.
    sotto("rekey", fresh.dir, "--password-file", fresh.pwfile, timeout=120)
    fresh.mount()
    assert os.getxattr(fresh.mnt / "by-cp" / "interview.wav", "user.xdg.tags") == b"2026,interviews"
    assert os.getxattr(fresh.mnt / "by-rsync" / "transcript.md", "user.checksum.sha256") == b"e3b0c442"


def test_a_value_moved_between_names_or_files_is_caught_and_a_foreign_name_left_out(vault):
    a, b = vault.mnt / "a.txt", vault.mnt / "b.txt"
    a.write_text("file a\n")
    b.write_text("file bb\n")
    os.setxattr(a, "user.one", b"first value")
    os.setxattr(a, "user.two", b"second value")
    os.setxattr(b, "user.one", b"b's value")
    vault.unmount()
    ba, bb = backing_file(vault, b"file a\n"), backing_file(vault, b"file bb\n")
    sa, sb = stored_attributes(ba), stored_attributes(bb)
    one_a, two_a = list(sa)  # sealed names: which is which does not matter
    # Swap the two values of a, and give b a's value under b's own stored name.
    os.setxattr(ba, one_a, sa[two_a])
    os.setxattr(ba, two_a, sa[one_a])
    (only_b,) = sb
    os.setxattr(bb, only_b, sa[one_a])
    # Another program's attribute, and a stored name whose sealed bytes were edited.
    os.setxattr(ba, "user.other-program", b"left alone")
    edited = one_a[:-2] + ("A" if one_a[-2] != "A" else "B") + one_a[-1]
    os.setxattr(ba, edited, sa[one_a])
    vault.mount()
    for f, n in [(a, "user.one"), (a, "user.two"), (b, "user.one")]:
        with pytest.raises(OSError) as e:
            os.getxattr(f, n)
        assert e.value.errno == errno.EIO, (f, n)
    assert sorted(os.listxattr(a)) == ["user.one", "user.two"]
    assert "does not authenticate" in vault.log.read_text()
    # The damaged values can be replaced through the mount.
    os.setxattr(a, "user.one", b"rewritten")
    assert os.getxattr(a, "user.one") == b"rewritten"


def test_a_closed_file_with_none_of_ours_answers_from_the_backing_list_alone(vault):
    # `ls -l` asks every entry; a closed file with no stored attribute is answered from the
    # backing file's own list, without reading its header (Mount.readingAttributes). Proof: a
    # file whose header is destroyed still answers "none", while its content stays an error.
    f = vault.mnt / "plain.txt"
    f.write_text("no attributes\n")
    vault.unmount()
    p = backing_file(vault, b"no attributes\n")
    with open(p, "r+b") as b:
        b.write(b"\xff" * 16)
    os.setxattr(p, "user.other-program", b"not ours")
    vault.mount()
    assert os.listxattr(f) == []
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.other-program")
    assert e.value.errno == errno.ENODATA
    with pytest.raises(OSError) as e:
        f.read_bytes()
    assert e.value.errno == errno.EIO


@pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* needs CAP_SYS_ADMIN")
def test_trusted_attributes_are_kept_encrypted(vault):
    f = vault.mnt / "t.txt"
    f.write_text("t\n")
    os.setxattr(f, "trusted.overlay.origin", b"kept for root")
    assert os.getxattr(f, "trusted.overlay.origin") == b"kept for root"
    assert "trusted.overlay.origin" in os.listxattr(f)
    assert not any(n.startswith("trusted.") for n in stored_attributes(backing_file(vault, b"t\n")))


def test_no_xattr_leaves_them_out_and_keeps_what_is_stored(fresh):
    """`--no-xattr`: the kernel answers every xattr call itself (ENOTSUP) and stops asking for
    security.capability before each write; attributes stored earlier are untouched."""
    fresh.mount()
    f = fresh.mnt / "kept.txt"
    f.write_text("kept\n")
    os.setxattr(f, "user.tag", b"stored before")
    fresh.remount("--no-xattr")
    for call in (lambda: os.getxattr(f, "user.tag"), lambda: os.setxattr(f, "user.tag", b"x"), lambda: os.listxattr(f)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EOPNOTSUPP
    fresh.remount()
    assert os.getxattr(f, "user.tag") == b"stored before"


def test_import_and_export_keep_them(fresh, tmp_path):
    src = tmp_path / "field-notes"
    (src / "day-2").mkdir(parents=True)
    (src / "day-1.md").write_text("day one\n")
    (src / "day-2" / "call.txt").write_text("call\n")
    os.setxattr(src / "day-1.md", "user.xdg.origin.url", b"https://example.org/recording-7")
    os.setxattr(src / "day-2" / "call.txt", "user.tag", b"follow-up")
    sotto("import", fresh.dir, src, "--password-file", fresh.pwfile)
    fresh.mount()
    assert os.getxattr(fresh.mnt / "field-notes" / "day-1.md", "user.xdg.origin.url") == b"https://example.org/recording-7"
    fresh.unmount()
    sotto("export", fresh.dir, "/field-notes", tmp_path / "out", "--password-file", fresh.pwfile)
    assert os.getxattr(tmp_path / "out" / "day-1.md", "user.xdg.origin.url") == b"https://example.org/recording-7"
    assert os.getxattr(tmp_path / "out" / "day-2" / "call.txt", "user.tag") == b"follow-up"
    for root, _, files in os.walk(fresh.dir):
        for n in files:
            for name in os.listxattr(os.path.join(root, n)):
                value = os.getxattr(os.path.join(root, n), name)
                assert b"recording-7" not in value and b"follow-up" not in value and "origin" not in name
