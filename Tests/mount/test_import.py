"""`sotto import` into what is already there (issue 18, item 3): new entries are added, files the
vault holds byte for byte are skipped, differing ones are kept and listed (exit 19) unless
--update; an import interrupted by Ctrl-C leaves no temporary file and is finished by running it
again, with nothing imported twice. Checked through a real mount."""
import os
import signal
import subprocess
import time

from conftest import SOTTO, sotto

EXIT_EXISTS = 19


def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def stopped(pid):
    """Whether the process is stopped (state T in /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except FileNotFoundError:
        return False


def temporaries(vault_dir):
    return [os.path.join(d, n) for d, _, files in os.walk(vault_dir) for n in files if n.startswith("sotto.tmp.")]


def test_importing_again_adds_what_is_new_skips_what_is_there_and_updates_on_request(fresh, tmp_path):
    src = tmp_path / "week-48"
    (src / "audio").mkdir(parents=True)
    (src / "monday.md").write_text("monday's transcript\n")
    (src / "tuesday.md").write_text("tuesday's transcript\n")
    (src / "audio" / "monday.wav").write_bytes(os.urandom(70_000))
    sotto("import", fresh.dir, src, "--password-file", fresh.pwfile)
    # This week's new recording, and an edited transcript.
    (src / "wednesday.md").write_text("wednesday's transcript\n")
    (src / "tuesday.md").write_text("tuesday's transcript, corrected\n")
    r = sotto("import", fresh.dir, src, "--password-file", fresh.pwfile, check=False)
    assert r.returncode == EXIT_EXISTS and "/week-48/tuesday.md' differs" in r.stderr and "--update" in r.stderr, r.stderr
    assert "2 already in the vault, unchanged" in r.stdout, r.stdout
    fresh.mount()
    got = tree(fresh.mnt / "week-48")
    assert got["wednesday.md"] == b"wednesday's transcript\n"
    assert got["tuesday.md"] == b"tuesday's transcript\n"  # kept: not replaced without --update
    assert got["audio/monday.wav"] == (src / "audio" / "monday.wav").read_bytes()
    fresh.unmount()
    r = sotto("import", fresh.dir, src, "--password-file", fresh.pwfile, "--update")
    assert "1 replaced" in r.stdout and "3 already in the vault, unchanged" in r.stdout, r.stdout
    fresh.mount()
    assert tree(fresh.mnt / "week-48") == tree(src)
    assert not temporaries(fresh.dir)


def test_an_interrupted_import_leaves_nothing_partial_and_a_rerun_finishes_it(fresh, tmp_path):
    src = tmp_path / "recordings"
    src.mkdir()
    for i in range(5):
        (src / f"note-{i}.txt").write_text(f"note {i}\n")
    with open(src / "session.raw", "wb") as f:  # large enough to be interrupted in the middle
        f.truncate(512 << 20)
        f.seek(100 << 20)
        f.write(os.urandom(4096))
    # The debug build stops itself (SIGSTOP) after the large file's first batch: Ctrl-C lands in
    # the middle of it for certain. (Polling for the temporary file raced the import, which can
    # write 512 MiB between two polls of a busy test runner, and once did.)
    p = subprocess.Popen([SOTTO, "import", fresh.dir, src, "--password-file", fresh.pwfile],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "SOTTO_TEST_IMPORT_PAUSE": "1"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while p.poll() is None and not stopped(p.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert stopped(p.pid), "the import never reached the middle of the large file"
        assert temporaries(fresh.dir), "the large file was not being written"
        p.send_signal(signal.SIGINT)
        p.send_signal(signal.SIGCONT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == -signal.SIGINT, (p.returncode, err)
    assert "run the same command again" in err
    assert not temporaries(fresh.dir)
    r = sotto("import", fresh.dir, src, "--password-file", fresh.pwfile, timeout=300)
    assert "imported 6 files" in r.stdout, r.stdout
    fresh.mount()
    names = sorted(os.listdir(fresh.mnt / "recordings"))
    assert names == sorted(os.listdir(src))  # nothing twice
    for n in names:
        if n != "session.raw":
            assert (fresh.mnt / "recordings" / n).read_bytes() == (src / n).read_bytes()
    subprocess.run(["cmp", src / "session.raw", fresh.mnt / "recordings" / "session.raw"], check=True)
    assert not temporaries(fresh.dir)


def allocated(path):
    """Bytes of disk under `path` (a file, or a folder's files)."""
    if os.path.isfile(path):
        return os.stat(path).st_blocks * 512
    return sum(os.stat(os.path.join(d, n)).st_blocks * 512 for d, _, files in os.walk(path) for n in files)


def test_a_sparse_file_is_imported_and_exported_with_its_holes(fresh, tmp_path):
    """A disk image made with `truncate -s` (64 MiB, three small extents, one of them across a
    16 MiB chunk edge) takes a few blocks in the vault, reads back the same through the mount with
    its holes reported, and is exported sparse; zeros written as data stay data."""
    src = tmp_path / "in"
    src.mkdir()
    size, chunk = 64 << 20, 16 << 20
    extents = [(0, os.urandom(10_000)), (chunk - 100, os.urandom(300)), (3 * chunk + 5, os.urandom(20))]
    with open(src / "disk.img", "wb") as f:
        f.truncate(size)
        for at, data in extents:
            f.seek(at)
            f.write(data)
    (src / "zeros.bin").write_bytes(bytes(1 << 20))
    expected = (src / "disk.img").read_bytes()
    sotto("import", fresh.dir, src, "--password-file", fresh.pwfile)
    assert allocated(fresh.dir) < (2 << 20) + 256 * 1024, allocated(fresh.dir)  # the dense zeros and a little
    fresh.mount()
    img = fresh.mnt / "in" / "disk.img"
    assert img.read_bytes() == expected
    with open(img, "rb") as f:
        first_hole = os.lseek(f.fileno(), 0, os.SEEK_HOLE)
        assert 10_000 <= first_hole < 64 * 1024, first_hole
        assert os.lseek(f.fileno(), first_hole, os.SEEK_DATA) <= chunk - 100
    fresh.unmount()
    out = tmp_path / "out"
    sotto("export", fresh.dir, "/in", out, "--password-file", fresh.pwfile)
    assert (out / "disk.img").read_bytes() == expected
    assert os.stat(out / "disk.img").st_size == size
    assert allocated(out / "disk.img") < 1 << 20, allocated(out / "disk.img")
    assert (out / "zeros.bin").read_bytes() == bytes(1 << 20)
    assert allocated(out / "zeros.bin") >= 1 << 20
