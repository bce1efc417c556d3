"""Real programs inside the mount: editors' saves, appends, sqlite3, git, sox."""
import os
import shutil
import subprocess
import sqlite3

import pytest

from conftest import run


def test_atomic_save_temp_fsync_rename(vault):
    p = vault.path("transcript.txt")
    p.write_text("version one of the transcript\n")
    for i in range(20):
        tmp = vault.path(f".transcript.txt.tmp{i}")
        with open(tmp, "w") as f:
            f.write(f"version {i + 2} of the transcript, edited\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, p)
    vault.secret("of the transcript", "transcript.txt")
    assert p.read_text() == "version 21 of the transcript, edited\n"
    assert sorted(os.listdir(vault.mnt)) == ["transcript.txt"]
    vault.remount()
    assert p.read_text() == "version 21 of the transcript, edited\n"


def test_vim_style_save_with_backup_rename(vault):
    p = vault.path("notes.md")
    p.write_text("# Session notes\nfirst line\n")
    # vim with backupcopy=no renames the original to a backup, writes a new file, deletes the backup.
    r = run("vim", "-u", "NONE", "-i", "NONE", "-n", "-es",
            "-c", "set backup writebackup backupcopy=no backupdir=.", "-c", "$put ='appended by vim'", "-c", "wq", p,
            cwd=vault.mnt, check=False)
    assert r.returncode == 0, r.stderr
    assert p.read_text() == "# Session notes\nfirst line\nappended by vim\n"
    vault.secret("Session notes", "appended by vim", "notes.md")
    vault.remount()
    assert p.read_text() == "# Session notes\nfirst line\nappended by vim\n"


def test_manual_vim_style_rename_dance(vault):
    p, bak = vault.path("a.txt"), vault.path("a.txt~")
    p.write_text("original\n")
    os.rename(p, bak)
    with open(p, "w") as f:
        f.write("rewritten\n")
        os.fsync(f.fileno())
    os.unlink(bak)
    assert os.listdir(vault.mnt) == ["a.txt"]
    assert p.read_text() == "rewritten\n"


def test_append_from_two_processes(vault):
    p = vault.path("log.txt")
    script = ("import sys\n"
              "with open(sys.argv[1], 'a') as f:\n"
              "    for i in range(300):\n"
              "        f.write(f'{sys.argv[2]} line {i:04d} of the shared log\\n'); f.flush()\n")
    procs = [subprocess.Popen(["python3", "-c", script, str(p), who]) for who in ("alpha", "bravo")]
    assert [pr.wait() for pr in procs] == [0, 0]
    lines = p.read_text().splitlines()
    assert len(lines) == 600
    for who in ("alpha", "bravo"):
        mine = [l for l in lines if l.startswith(who)]
        assert mine == [f"{who} line {i:04d} of the shared log" for i in range(300)]
    vault.secret("of the shared log")


def test_sqlite_inserts_and_integrity_after_remount(vault):
    db = vault.path("interviews.sqlite")
    con = sqlite3.connect(db)
    con.execute("create table t(id integer primary key, speaker text, line text)")
    for tx in range(100):
        with con:
            con.executemany("insert into t(speaker, line) values (?, ?)",
                            [("participant", f"sqlite secret utterance {tx * 100 + i}") for i in range(100)])
    con.close()
    vault.secret("sqlite secret utterance", "interviews.sqlite")
    vault.remount()
    con = sqlite3.connect(db)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert con.execute("select count(*) from t").fetchone()[0] == 10000
    con.close()
    r = run("sqlite3", db, "pragma integrity_check;")
    assert r.stdout.strip() == b"ok"


def test_git_repository(vault):
    repo = vault.path("repo")
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.org")
    def git(*a):
        r = subprocess.run(["git", *a], cwd=repo, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout
    git("init", "-q")
    for i in range(20):
        (repo / f"file{i}.txt").write_text(f"git tracked secret content {i}\n" * 50)
    git("add", ".")
    git("commit", "-q", "-m", "first commit message marker")
    (repo / "file3.txt").write_text("changed\n")
    git("commit", "-q", "-am", "second")
    assert git("status", "--porcelain") == ""
    git("fsck", "--strict")
    vault.remount()
    assert git("status", "--porcelain") == ""
    git("fsck", "--strict")
    assert "second" in git("log", "--oneline")
    vault.secret("git tracked secret content", "first commit message marker")


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_sox_trim_through_a_seek(vault, tmp_path):
    orig = tmp_path / "interview.wav"
    run("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", orig, "synth", "20", "sine", "300-3000")
    run("cp", orig, vault.path("interview.wav"))
    vault.remount()
    run("sox", vault.path("interview.wav"), tmp_path / "through.wav", "trim", "7.25", "3.5")
    run("sox", orig, tmp_path / "direct.wav", "trim", "7.25", "3.5")
    assert (tmp_path / "through.wav").read_bytes() == (tmp_path / "direct.wav").read_bytes()
    vault.secret("interview.wav")
    # Raw PCM from the middle of the recording does not appear in the vault.
    vault.secret(orig.read_bytes()[200000:200064])
