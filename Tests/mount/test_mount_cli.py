"""`sotto mount` / `sotto unmount` as a user meets them: refusals, exit codes, signals, the log,
damage reported as EIO, names that are not ours, read-only mounts, daemon hardening."""
import ctypes
import errno
import fcntl
import os
import pathlib
import select
import signal
import stat
import subprocess
import time

import pytest

from conftest import PASSWORD, SOTTO, Vault, is_mounted, sotto

# docs/cli.md
EXIT_WRONG_PASSWORD, EXIT_MOUNTPOINT, EXIT_NOT_MOUNTED, EXIT_BUSY = 12, 20, 22, 23


def daemon_pid(v):
    out = subprocess.run(["pgrep", "-f", f"sotto mount {v.dir}"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def test_wrong_password_mounts_nothing(fresh, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("not the password\n")
    r = sotto("mount", fresh.dir, fresh.mnt, "--password-file", bad, check=False)
    assert r.returncode == EXIT_WRONG_PASSWORD
    assert "wrong password" in r.stderr
    assert not is_mounted(fresh.mnt)


def test_password_from_stdin(fresh):
    r = sotto("mount", fresh.dir, fresh.mnt, "--password-stdin", input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    assert is_mounted(fresh.mnt)


def test_refusals(fresh):
    pw = ["--password-file", fresh.pwfile]
    r = sotto("mount", fresh.dir, fresh.base / "nope", *pw, check=False)
    assert r.returncode == EXIT_MOUNTPOINT and "mkdir -p" in r.stderr
    inside = fresh.dir / "inside"  # a mountpoint inside the vault
    inside.mkdir()
    r = sotto("mount", fresh.dir, inside, *pw, check=False)
    assert r.returncode == EXIT_MOUNTPOINT and "overlap" in r.stderr
    assert not is_mounted(inside)
    inside.rmdir()
    r = sotto("mount", fresh.dir, fresh.base, *pw, check=False)  # the vault inside the mountpoint
    assert r.returncode == EXIT_MOUNTPOINT and "overlap" in r.stderr
    fresh.mount()
    r = sotto("mount", fresh.dir, fresh.mnt, *pw, check=False)
    assert r.returncode == EXIT_MOUNTPOINT and "already a mountpoint" in r.stderr


def test_unmount_not_mounted_busy_and_lazy(fresh):
    r = sotto("unmount", fresh.mnt, check=False)
    assert r.returncode == EXIT_NOT_MOUNTED and "not mounted" in r.stderr
    fresh.mount()
    (fresh.mnt / "f").write_text("x")
    with open(fresh.mnt / "f") as held:
        r = sotto("unmount", fresh.mnt, check=False)
        assert r.returncode == EXIT_BUSY and "--lazy" in r.stderr
        assert is_mounted(fresh.mnt)
        r = sotto("unmount", "--lazy", fresh.mnt)
        assert not is_mounted(fresh.mnt)
        assert held.read() == "x"  # an open file keeps working after a lazy unmount


def test_unmount_returns_once_the_vault_is_free(fresh):
    # The filesystem process holds a shared lock on the vault while it runs; once `sotto unmount`
    # returns it has exited, so the lock is free at once (a rekey or `umount` of the disk under the
    # vault right after would otherwise find it busy). The daemon is made slow to finish.
    for i in range(2):
        r = subprocess.run([SOTTO, "mount", str(fresh.dir), str(fresh.mnt), "--password-file", str(fresh.pwfile)],
                           env=dict(os.environ, SOTTO_TEST_EXIT_DELAY_MS="300"), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        (fresh.mnt / f"n{i}.txt").write_text("x" * 100000)
        with open(fresh.mnt / f"n{i}.txt") as f:
            assert len(f.read()) == 100000
        pid = daemon_pid(fresh)
        sotto("unmount", fresh.mnt)
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        assert state in ("Z", "gone"), f"round {i}: the filesystem process is still running ({state})"
        fd = os.open(fresh.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if still held
        finally:
            os.close(fd)


UNDER_TSAN = os.environ.get("SOTTO_SANITIZER") == "thread"
# ThreadSanitizer defers signal handlers while a thread blocks in a system call, so libfuse's
# SIGINT/SIGTERM handler never wakes the loop under it (tools/sanitizers; docs/reliability.md).
tsan_defers_signals = pytest.mark.skipif(UNDER_TSAN, reason="ThreadSanitizer defers signal delivery")


@tsan_defers_signals
def test_sigterm_unmounts_cleanly(fresh):
    fresh.mount()
    (fresh.mnt / "kept.txt").write_text("kept across a signal")
    pid = daemon_pid(fresh)
    assert pid
    pidfd = os.pidfd_open(pid)  # readable once the daemon has exited
    os.kill(pid, signal.SIGTERM)
    ready, _, _ = select.select([pidfd], [], [], 30)
    os.close(pidfd)
    assert ready, "the daemon did not exit on SIGTERM"
    assert not is_mounted(fresh.mnt)
    fresh.mount()
    assert (fresh.mnt / "kept.txt").read_text() == "kept across a signal"


def test_daemon_hardening_and_private_log(fresh):
    fresh.mount()
    pid = daemon_pid(fresh)
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    limits = pathlib.Path(f"/proc/{pid}/limits").read_text()
    core = [l for l in limits.splitlines() if l.startswith("Max core file size")][0]
    assert core.split()[4] == "0", core
    vmlck = int([l for l in status.splitlines() if l.startswith("VmLck")][0].split()[1])
    if not os.environ.get("SOTTO_SANITIZER"):  # the sanitizers' runtimes turn mlock into a no-op
        assert vmlck > 0  # keys live in locked pages
    assert os.stat(fresh.log).st_mode & 0o777 == 0o600
    cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    assert PASSWORD.encode() not in cmdline
    environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    assert PASSWORD.encode() not in environ
    # Default mount: only the mounting user gets in.
    assert "allow_other" not in pathlib.Path("/proc/mounts").read_text().split(str(fresh.mnt))[1].split("\n")[0]


def test_log_and_version_name_the_libcrypto_loaded(fresh):
    """Its version sets the cipher's speed (docs/benchmarks.md part 6): both say which one runs."""
    fresh.mount()
    named = [l.split("cipher library: ", 1)[1] for l in fresh.log.read_text().splitlines() if "cipher library: " in l]
    assert len(named) == 1 and named[0].startswith("OpenSSL 3."), named
    assert sotto("--version").stdout.strip().endswith(f"({named[0]})")
    # The daemon maps one libcrypto, and the name is that library's own.
    maps = pathlib.Path(f"/proc/{daemon_pid(fresh)}/maps").read_text()
    loaded = {os.path.realpath(l.split()[-1]) for l in maps.splitlines() if "/libcrypto" in l}
    assert len(loaded) == 1, loaded
    assert named[0].encode() in pathlib.Path(loaded.pop()).read_bytes()


def test_damaged_block_gives_eio_and_a_log_line(fresh):
    fresh.mount()
    data = os.urandom(3 * 16384)
    (fresh.mnt / "recording.raw").write_bytes(data)
    fresh.unmount()
    backing = [p for p in fresh.dir.iterdir() if not p.name.startswith("sotto.")][0]
    raw = bytearray(backing.read_bytes())
    raw[78 + 16412 + 100] ^= 1  # block 1
    backing.write_bytes(bytes(raw))
    fresh.mount()
    with open(fresh.mnt / "recording.raw", "rb") as f:
        assert f.read(1000) == data[:1000]
        f.seek(16384 + 50)
        with pytest.raises(OSError) as e:
            f.read(100)
        assert e.value.errno == errno.EIO
    log = fresh.log.read_text()
    assert "block 1 of 4" in log and backing.name in log and "/recording.raw" in log


def test_names_that_are_not_ours_are_left_out(fresh):
    fresh.mount()
    (fresh.mnt / "a.txt").write_text("a")
    (fresh.mnt / "b.txt").write_text("b")
    fresh.unmount()
    (fresh.dir / ".DS_Store").write_bytes(b"\0")
    (fresh.dir / "desktop.ini").write_text("[x]")
    enc = [p for p in fresh.dir.iterdir() if not p.name.startswith("sotto.") and not p.name.startswith(".") and p.suffix != ".ini"][0]
    (fresh.dir / (enc.name + ".sync-conflict-20261125-141200-ABCDEFG")).write_bytes(enc.read_bytes())
    damaged = "Zm9yZ2VkLW5hbWUtdGhhdC1kZWNyeXB0cy10by1ub3RoaW5n"
    (fresh.dir / damaged).write_bytes(b"damaged name")
    fresh.mount()
    # A sync tool's conflict copy is not foreign: it is shown under a readable name (test_sync.py).
    copy = next(n for n in os.listdir(fresh.mnt) if "(conflict 2026-11-25 1412)" in n)
    assert sorted(os.listdir(fresh.mnt)) == sorted(["a.txt", "b.txt", copy])
    assert sorted(os.listdir(fresh.mnt)) == sorted(["a.txt", "b.txt", copy])
    log = fresh.log.read_text()
    for n in (".DS_Store", "desktop.ini", damaged):
        assert log.count(n) == 1, n  # one line each, not one per listing
    assert (fresh.mnt / "a.txt").read_text() == "a"


def test_read_only_mount(fresh):
    fresh.mount()
    (fresh.mnt / "r.txt").write_text("read me")
    fresh.remount("--read-only")
    assert (fresh.mnt / "r.txt").read_text() == "read me"
    with pytest.raises(OSError) as e:
        (fresh.mnt / "w.txt").write_text("no")
    assert e.value.errno == errno.EROFS
    with pytest.raises(OSError):
        (fresh.mnt / "r.txt").write_text("no")


@tsan_defers_signals
def default_stop_signals():
    """In the child: the stop signals as a terminal would give them. A signal inherited as ignored
    stays ignored by design (`nohup sotto mount` keeps running on SIGHUP; so does libfuse), and a
    test runner started under nohup, or as a background job of a script (which ignores SIGINT),
    would otherwise pass that on: round 1 of a `nohup tools/test --repeat` failed so on SIGHUP."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def test_foreground_mode_and_ctrl_c(fresh):
    p = subprocess.Popen([SOTTO, "mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile, "--foreground"],
                         stderr=subprocess.PIPE, text=True, preexec_fn=default_stop_signals)
    try:
        line = p.stderr.readline()  # "sotto: mounted ..." once ready
        assert "mounted" in line
        assert is_mounted(fresh.mnt)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 0
        assert not is_mounted(fresh.mnt)
    finally:
        if p.poll() is None:
            p.kill()


def thread_named(pid, name, bound=30.0):
    """The thread ID of `pid`'s thread called `name`, once it exists (started after "mounted")."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                if pathlib.Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip() == name:
                    return int(tid)
            except FileNotFoundError:
                pass
        time.sleep(0.01)
    raise AssertionError(f"no thread {name!r} in {pid}")


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_on_any_thread_unmounts_a_foreground_mount(fresh, signame):
    """Which thread takes a process-directed signal is the kernel's choice. libfuse's handler only
    set a flag that its main thread notices when its own wait is interrupted: a Ctrl-C taken by
    Sotto's status thread hung the mount (issue 19). Here the signal goes to that thread
    deliberately."""
    sig = getattr(signal, signame)
    p = subprocess.Popen([SOTTO, "mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile, "--foreground"],
                         stderr=subprocess.PIPE, text=True, preexec_fn=default_stop_signals)
    try:
        assert "mounted" in p.stderr.readline()
        tid = thread_named(p.pid, "sotto-status")
        assert ctypes.CDLL(None, use_errno=True).tgkill(p.pid, tid, sig) == 0
        assert p.wait(timeout=30) == 0
        assert not is_mounted(fresh.mnt)
        assert f"signal {int(sig)}" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()


EXIT_REKEY_IN_PROGRESS = 26


def test_rekey_waits_for_unmount_and_an_interrupted_rekey_blocks_mounting(fresh):
    fresh.mount()
    (fresh.mnt / "call-notes.txt").write_text("rekeyed while the mount is gone\n")
    fresh.secret("call-notes", "rekeyed while the mount")
    # The filesystem process holds the vault's lock: a rekey now would change names under it.
    busy = sotto("rekey", fresh.dir, "--password-file", fresh.pwfile, check=False)
    assert busy.returncode == EXIT_BUSY and "unmount" in busy.stderr
    fresh.unmount()
    # Interrupted (as by a power cut): mounting is refused until a rerun finishes it.
    env = dict(os.environ, SOTTO_TEST_REKEY_INTERRUPT="header:1")
    cut = subprocess.run([SOTTO, "rekey", str(fresh.dir), "--password-file", str(fresh.pwfile)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert cut.returncode == 75
    r = sotto("mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile, check=False)
    assert r.returncode == EXIT_REKEY_IN_PROGRESS and "sotto rekey" in r.stderr
    assert not is_mounted(fresh.mnt)
    sotto("rekey", fresh.dir, "--password-file", fresh.pwfile)
    fresh.mount()
    assert (fresh.mnt / "call-notes.txt").read_text() == "rekeyed while the mount is gone\n"


def test_a_vault_path_spelled_with_slashes_and_dots_works_offline(tmp_path):
    """The vault directory is reached through its descriptor: "v/", "v//" and "v/." name the same
    root, and nothing below it is taken for a path outside it."""
    pw = tmp_path / "pw"
    pw.write_text("spelled password\n")
    sotto("init", f"{tmp_path}/v/", "--password-file", pw, "--kdf-memory", "1", "--kdf-time", "1")
    (tmp_path / "a.txt").write_text("spelled\n")
    sotto("import", f"{tmp_path}/v//", tmp_path / "a.txt", "--password-file", pw)
    assert sotto("ls", f"{tmp_path}/v/.", "--password-file", pw).stdout == "a.txt\n"
    assert sotto("cat", f"{tmp_path}/./v/", "/a.txt", "--password-file", pw).stdout == "spelled\n"
    assert sotto("fsck", f"{tmp_path}/v//", "--password-file", pw).returncode == 0


def test_a_mountpoint_that_is_not_empty_is_refused_unless_asked(fresh):
    """Mounting over files hides them; a program holding one open would keep writing plaintext
    there unseen. Refused (exit 20, naming an entry), as gocryptfs does; --nonempty overrides."""
    (fresh.mnt / "draft-left-behind.txt").write_text("plaintext written while unmounted\n")
    r = sotto("mount", fresh.dir, fresh.mnt, "--password-file", fresh.pwfile, check=False)
    assert r.returncode == EXIT_MOUNTPOINT and "not empty" in r.stderr and "draft-left-behind.txt" in r.stderr
    assert "--nonempty" in r.stderr and not is_mounted(fresh.mnt)
    fresh.mount("--nonempty")
    assert os.listdir(fresh.mnt) == []  # the vault's (empty) root covers the folder
    fresh.unmount()
    assert os.listdir(fresh.mnt) == ["draft-left-behind.txt"]


NOBODY = 65534


def test_while_unmounted_the_mountpoint_refuses_a_save_instead_of_taking_plaintext(fresh):
    """An editor still open on an unmounted vault's folder saves into the bare directory: plaintext
    on the disk. While unmounted the folder is mode 000, so the save fails (for the folder's owner,
    here `nobody`; root ignores modes); it is opened again for the next mount (issue 18)."""
    os.chmod(fresh.base, 0o755)  # let `nobody` reach the folder
    os.chown(fresh.mnt, NOBODY, NOBODY)
    os.chmod(fresh.mnt, 0o755)

    def save_as_owner():
        return subprocess.run(["python3", "-c", f"open({str(fresh.mnt / 'notes.md')!r}, 'w').write('plaintext')"],
                              preexec_fn=lambda: (os.setgid(NOBODY), os.setuid(NOBODY)), capture_output=True, text=True)
    fresh.mount()
    fresh.unmount()
    assert stat.S_IMODE(os.stat(fresh.mnt).st_mode) == 0
    r = save_as_owner()
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert os.listdir(fresh.mnt) == []
    # A mount that does not happen (wrong password) leaves it locked too.
    wrong = fresh.base / "wrong"
    wrong.write_text("not the password\n")
    assert sotto("mount", fresh.dir, fresh.mnt, "--password-file", wrong, check=False).returncode == EXIT_WRONG_PASSWORD
    assert stat.S_IMODE(os.stat(fresh.mnt).st_mode) == 0
    # Mounted again, then the idle timer unmounts: locked again.
    fresh.mount("--idle", "1s")
    (fresh.mnt / "inside.txt").write_text("encrypted\n")

    def in_mount_table():  # not is_mounted: resolving the path would be an access, resetting the timer
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == str(fresh.mnt) for line in f)
    def locked():
        return not in_mount_table() and stat.S_IMODE(os.stat(fresh.mnt).st_mode) == 0
    deadline = time.monotonic() + 20  # the unmount and the lock are two steps of the daemon
    while not locked() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert locked()
    assert save_as_owner().returncode != 0


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_at_the_password_prompt_gives_the_terminal_back_with_echo(tmp_path, signame):
    """Killed at the prompt (echo off), the process first restores the terminal: some shells
    (dash) leave it as a killed program left it, and the user's typing would be invisible."""
    import pty
    import termios
    sig = getattr(signal, signame)
    pid, master = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        os.execv(SOTTO, [SOTTO, "init", str(tmp_path / "vault")])
    try:
        seen, deadline = b"", time.monotonic() + 30
        while b"assword" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 1024)
        assert b"assword" in seen, seen
        assert not termios.tcgetattr(master)[3] & termios.ECHO  # prompting: echo off
        os.kill(pid, sig)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig  # still ends as killed by it
        assert termios.tcgetattr(master)[3] & termios.ECHO
        assert not (tmp_path / "vault" / "sotto.conf").exists()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)


def test_enter_at_a_slot_prompt_of_rekey_drops_that_slot(fresh, tmp_path):
    """`rekey` asks on the terminal for each other slot's password, "Enter to drop the slot":
    Enter alone was read as an empty password and aborted with exit 15 (issue 18)."""
    import pty
    second = tmp_path / "second"
    second.write_text("a second mount test password\n")
    sotto("key", "add", fresh.dir, "--password-file", fresh.pwfile, "--new-password-file", second,
          "--kdf-memory", "1", "--kdf-time", "1")
    pid, master = pty.fork()
    if pid == 0:
        os.execv(SOTTO, [SOTTO, "rekey", str(fresh.dir), "--password-file", str(fresh.pwfile)])
    try:
        seen, deadline = b"", time.monotonic() + 60
        while b"Enter to drop the slot" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 1024)
        assert b"Enter to drop the slot" in seen, seen
        os.write(master, b"\n")
        while True:  # drain until the child closes the terminal
            try:
                if not os.read(master, 1024):
                    break
            except OSError:
                break
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)
    listing = sotto("key", "list", fresh.dir).stdout
    assert "1 of 8 slots in use" in listing, listing
    assert sotto("cat", fresh.dir, "/nothing", "--password-file", second, check=False).returncode == 12  # dropped
