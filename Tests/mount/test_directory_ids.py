"""Directory IDs through a real mount (docs/format.md §6.3). Format v3 names each directory's
primary ID in `sotto.dirid`, so a file opens by name without its directory being listed, whatever
its size. Observed through the backing directory's access time: a listing (getdents) sets it under
`relatime` when it is older than the modification time; a lookup (`lstat` of one name) never does."""
import hashlib
import json
import os
import pathlib
import shutil

from conftest import Vault, sotto

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "SottoCoreTests" / "Fixtures"
LONG_AGO = 1_000_000_000  # 2001: older than any mtime, so the next listing moves the atime


def backing_dirs(v):
    return [p for p in v.dir.iterdir() if p.is_dir() and not p.name.startswith("sotto.")]


def folder_with_files(v, count):
    v.mount()
    (v.mnt / "folder").mkdir()
    for i in range(count):
        (v.mnt / "folder" / f"f{i}.txt").write_text(f"file {i}")
    v.unmount()
    (folder,) = backing_dirs(v)
    return folder


def age_access_time(path):
    st = os.stat(path)
    os.utime(path, ns=(LONG_AGO * 10**9, st.st_mtime_ns))


def test_a_file_opens_by_name_without_listing_its_directory(fresh):
    folder = folder_with_files(fresh, 300)
    assert (folder / "sotto.dirid").is_file()
    age_access_time(folder)
    fresh.mount()
    assert (fresh.mnt / "folder" / "f123.txt").read_text() == "file 123"
    with open(fresh.mnt / "folder" / "f7.txt", "a") as f:  # and one opened for writing
        f.write("!")
    assert os.stat(folder).st_atime_ns == LONG_AGO * 10**9, "the directory was listed to open a name in it"
    # A name that is not there might exist under a second ID (a merged folder): that takes a listing.
    assert not (fresh.mnt / "folder" / "absent.txt").exists()
    assert os.stat(folder).st_atime_ns > LONG_AGO * 10**9, "a miss must list (or this test observes nothing)"
    assert (fresh.mnt / "folder" / "f7.txt").read_text() == "file 7!"


def test_a_lost_primary_id_file_is_written_back(fresh):
    folder = folder_with_files(fresh, 3)
    (idfile,) = [p.name for p in folder.iterdir() if p.name.startswith("sotto.dir.")]
    (folder / "sotto.dirid").unlink()  # as a crash right after mkdir can leave it (never fsynced)
    fresh.mount()
    assert (fresh.mnt / "folder" / "f1.txt").read_text() == "file 1"
    assert sorted(os.listdir(fresh.mnt / "folder")) == ["f0.txt", "f1.txt", "f2.txt"]
    fresh.unmount()
    assert (folder / "sotto.dirid").read_text() == idfile[len("sotto.dir."):]
    assert not [p for p in folder.iterdir() if p.name.startswith("sotto.tmp.")]
    age_access_time(folder)
    fresh.mount()
    assert (fresh.mnt / "folder" / "f2.txt").read_text() == "file 2"
    assert os.stat(folder).st_atime_ns == LONG_AGO * 10**9
    r = sotto("fsck", fresh.dir, "--password-file", fresh.pwfile, "--json", check=False)
    assert r.returncode == 0 and json.loads(r.stdout)["findings"] == [], r.stdout


def test_a_read_only_mount_writes_no_lost_primary_id_file_back(fresh):
    folder = folder_with_files(fresh, 2)
    (folder / "sotto.dirid").unlink()
    before = sorted(p.name for p in folder.iterdir())
    fresh.mount("--read-only")
    assert (fresh.mnt / "folder" / "f1.txt").read_text() == "file 1"
    assert not (fresh.mnt / "folder" / "absent.txt").exists()
    fresh.unmount()
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_version_1_vault_mounts_reads_and_stays_version_1(tmp_path):
    """Written by the first build: the mount reads it, writes into it, and adds nothing a v1 build
    would not know (no `sotto.dirid`), so that build keeps reading it."""
    v = Vault(tmp_path, create=False)
    v.dir.rmdir()
    shutil.copytree(FIXTURES / "vault-v1", v.dir, symlinks=True)
    manifest = json.loads((FIXTURES / "vault-v1.json").read_text())
    v.pwfile.write_text(manifest["password"] + "\n")
    assert f"'sotto upgrade {v.dir}' makes it v7" in sotto("info", v.dir).stdout
    try:
        v.mount()
        for plain, sha in manifest["files"].items():
            assert hashlib.sha256((v.mnt / plain.lstrip("/")).read_bytes()).hexdigest() == sha, plain
        (v.mnt / "interviews" / "2027").mkdir()
        (v.mnt / "interviews" / "2027" / "new.txt").write_text("written by a v3 build")
        os.rename(v.mnt / "interviews" / "2027", v.mnt / "interviews" / "next")
        assert (v.mnt / "interviews" / "next" / "new.txt").read_text() == "written by a v3 build"
    finally:
        v.unmount()
    assert json.loads((v.dir / "sotto.conf").read_text())["version"] == 1
    assert not [p for p in v.dir.rglob("sotto.dirid*")]
    r = sotto("fsck", v.dir, "--password-file", v.pwfile, "--json", check=False)
    assert r.returncode == 0, r.stdout


def test_sotto_upgrade_makes_a_version_1_vault_open_names_without_listing(tmp_path):
    v = Vault(tmp_path, create=False)
    v.dir.rmdir()
    shutil.copytree(FIXTURES / "vault-v1", v.dir, symlinks=True)
    v.pwfile.write_text(json.loads((FIXTURES / "vault-v1.json").read_text())["password"] + "\n")
    try:
        v.mount()
        r = sotto("upgrade", v.dir, "--password-file", v.pwfile, check=False)
        assert r.returncode == 23 and "unmount" in r.stderr, r.stderr  # never under a mount (docs/cli.md)
    finally:
        v.unmount()
    r = sotto("upgrade", v.dir, "--password-file", v.pwfile)
    assert "from format v1 to v7: 4 folders, 4 sotto.dirid files written" in r.stdout, r.stdout
    assert json.loads((v.dir / "sotto.conf").read_text())["version"] == 7
    assert "already format v7" in sotto("upgrade", v.dir, "--password-file", v.pwfile).stdout
    (interviews,) = [p for p in backing_dirs(v) if any(q.is_dir() for q in p.iterdir())]  # holds 2026/
    age_access_time(interviews)
    try:
        v.mount()
        assert (v.mnt / "interviews" / "2026" / "transcript-01.txt").read_text().startswith("Interviewer:")
        assert os.stat(interviews).st_atime_ns == LONG_AGO * 10**9
    finally:
        v.unmount()
