"""Tampering with the vault directory: through the mount each case gives EIO (or a clean
omission, for names) and a log line, never wrong bytes; `sotto fsck` finds every case, names the
file, and reports a clean vault as clean. --quarantine moves damage aside without deleting."""
import errno
import json
import os
import random
import shutil
import tempfile

import pytest

from conftest import Vault, sotto

HEADER, B, CB = 78, 16384, 16384 + 28
EXIT_DAMAGE = 24


@pytest.fixture
def populated():
    base = tempfile.mkdtemp(prefix="sotto-tamper-")
    v = Vault(base)
    v.mount()
    rnd = random.Random(5)
    files = {}
    for name in ("victim.bin", "other.bin"):
        before = set(os.listdir(v.dir))
        data = rnd.randbytes(3 * B + 500)
        (v.mnt / name).write_bytes(data)
        (new,) = set(os.listdir(v.dir)) - before
        files[name] = (v.dir / new, data)
    os.mkdir(v.mnt / "folder")
    (v.mnt / "folder" / "inside.txt").write_text("inside the folder")
    v.unmount()
    yield v, files
    v.unmount()
    shutil.rmtree(base, ignore_errors=True)


def flip(path, offset):
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x40
    path.write_bytes(bytes(raw))


def cut(path, length):
    raw = path.read_bytes()
    path.write_bytes(raw[:length])


CONTENT_CASES = {
    "header bit": lambda f, o: flip(f, 20),
    "wrapped key bit": lambda f, o: flip(f, 40),
    "body bit": lambda f, o: flip(f, HEADER + CB + 500),
    "tag bit": lambda f, o: flip(f, HEADER + CB - 1),
    "blocks swapped": lambda f, o: f.write_bytes(
        (lambda r: r[:HEADER] + r[HEADER + CB:HEADER + 2 * CB] + r[HEADER:HEADER + CB] + r[HEADER + 2 * CB:])(f.read_bytes())),
    "block from another file": lambda f, o: f.write_bytes(
        (lambda r, s: r[:HEADER + CB] + s[HEADER + CB:HEADER + 2 * CB] + r[HEADER + 2 * CB:])(f.read_bytes(), o.read_bytes())),
    "header from another file": lambda f, o: f.write_bytes(o.read_bytes()[:HEADER] + f.read_bytes()[HEADER:]),
    "cut at block boundary": lambda f, o: cut(f, HEADER + 2 * CB),
    "cut at last boundary": lambda f, o: cut(f, HEADER + 3 * CB),
    "cut between boundaries": lambda f, o: cut(f, HEADER + 2 * CB + 100),
}


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_content_tamper_gives_eio_and_fsck_finds_it(populated, case):
    v, files = populated
    victim, data = files["victim.bin"]
    other, _ = files["other.bin"]
    CONTENT_CASES[case](victim, other)
    v.mount()
    got = bytearray()
    with pytest.raises(OSError) as e:
        with open(v.mnt / "victim.bin", "rb") as f:
            while chunk := f.read(4096):
                got += chunk
    assert e.value.errno == errno.EIO, case
    assert data.startswith(bytes(got)), "bytes handed out that are not the original's"
    assert (v.mnt / "other.bin").read_bytes() == files["other.bin"][1]
    v.unmount()
    assert "victim.bin" in v.log.read_text()
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, "--json", check=False)
    assert r.returncode == EXIT_DAMAGE, r.stdout + r.stderr
    report = json.loads(r.stdout)
    damaged = [f for f in report["findings"] if f["severity"] == "damage"]
    assert [f["plainPath"] for f in damaged] == ["/victim.bin"], damaged
    assert damaged[0]["vaultPath"] == str(victim)


def test_name_and_directory_id_damage(populated):
    v, files = populated
    folder = [p for p in v.dir.iterdir() if p.is_dir()][0]
    victim, _ = files["victim.bin"]
    # A damaged name: the entry is left out of listings, and fsck reports it.
    renamed = victim.with_name("A" + victim.name[1:] if victim.name[0] != "A" else "B" + victim.name[1:])
    os.rename(victim, renamed)
    # A directory ID replaced: every name inside stops decrypting.
    (idfile,) = [p for p in folder.iterdir() if p.name.startswith("sotto.dir.")]
    os.rename(idfile, folder / ("sotto.dir." + "0" * 32))
    v.mount()
    assert sorted(os.listdir(v.mnt)) == ["folder", "other.bin"]
    assert os.listdir(v.mnt / "folder") == []
    v.unmount()
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, "--json", check=False)
    assert r.returncode == EXIT_DAMAGE
    damaged = [f for f in json.loads(r.stdout)["findings"] if f["severity"] == "damage"]
    assert {f["vaultPath"] for f in damaged} == {str(renamed), str(next(p for p in folder.iterdir() if not p.name.startswith("sotto.")))}


def test_clean_vault_is_clean_and_foreign_names_are_warnings(populated):
    v, files = populated
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checksum and MAC verified" in r.stdout and "slot 0 opens" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("clean: 3 files")
    (v.dir / ".DS_Store").write_bytes(b"x")
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, check=False)
    assert r.returncode == 0
    assert "warning" in r.stdout and ".DS_Store" in r.stdout


def test_quarantine_moves_damage_aside_and_deletes_nothing(populated):
    v, files = populated
    victim, data = files["victim.bin"]
    flip(victim, HEADER + 10)
    size = victim.stat().st_size
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, "--quarantine", check=False)
    assert r.returncode == EXIT_DAMAGE
    assert "moved aside" in r.stdout
    assert not victim.exists()
    moved = [p for p in (v.dir / "sotto.quarantine").rglob("*") if p.is_file()]
    assert len(moved) == 1 and moved[0].stat().st_size == size
    v.mount()
    assert sorted(os.listdir(v.mnt)) == ["folder", "other.bin"]  # the quarantine is not listed
    v.unmount()
    assert sotto("fsck", v.dir, "--password-file", v.pwfile, check=False).returncode == 0
