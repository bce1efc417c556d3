"""How requests reach the daemon: FUSE over io_uring (a queue per CPU, CFuseRing) where the
kernel offers it, /dev/fuse otherwise or with --no-io-uring. tools/test runs every mount test once
with the kernel offering io_uring and once without; these tests check the choice itself and push
the ring where it differs from /dev/fuse: callers on every CPU at once, and the largest requests."""
import json
import os
import subprocess
import sys
import time

from conftest import kernel_offers_io_uring, run, sotto, status_mounts, transport_in_log


def ring_threads(mnt):
    pid = next(e["pid"] for e in status_mounts() if e["mountpoint"] == os.path.realpath(mnt))
    names = [open(f"/proc/{pid}/task/{t}/comm").read().strip() for t in os.listdir(f"/proc/{pid}/task")]
    return pid, [n for n in names if n.startswith("sotto-ring-")]


def status_transport(mnt):
    return next(e["transport"] for e in status_mounts()
                if e["mountpoint"] == os.path.realpath(mnt))


def test_transport_follows_what_the_kernel_offers(vault):
    _, threads = ring_threads(vault.mnt)
    if kernel_offers_io_uring():
        assert status_transport(vault.mnt) == "io_uring"
        # Four threads bound to each possible CPU, named by the queue (CPU) they serve.
        cpus = os.sysconf("SC_NPROCESSORS_CONF")
        assert sorted(threads) == sorted(f"sotto-ring-{c}" for c in range(cpus) for _ in range(4))
    else:
        assert status_transport(vault.mnt) == "/dev/fuse"
        assert threads == []
        assert "does not offer FUSE over io_uring" in vault.log.read_text()


def test_no_io_uring_takes_requests_through_dev_fuse(vault):
    vault.remount("--no-io-uring")
    assert status_transport(vault.mnt) == "/dev/fuse"
    assert ring_threads(vault.mnt)[1] == []
    assert transport_in_log(vault.log) == "/dev/fuse"
    (vault.mnt / "a.txt").write_text("through /dev/fuse\n")
    vault.secret("through /dev/fuse")
    vault.remount()
    assert (vault.mnt / "a.txt").read_text() == "through /dev/fuse\n"


WORKER = r"""
import os, random, sys
cpu, tag, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.sched_setaffinity(0, {cpu})
rng = random.Random(tag)
d = os.path.join(root, tag)
os.mkdir(d)
for i in range(60):
    data = rng.randbytes(rng.choice([0, 1, 4095, 16384, 70000, 1 << 20, (1 << 20) + 12345]))
    tmp, final = os.path.join(d, f"f{i}.tmp"), os.path.join(d, f"f{i % 7}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, final)
    with open(final, "rb") as f:
        assert f.read() == data, (tag, i)
    os.stat(final)
    os.listdir(d)
print("ok")
"""


def test_callers_on_every_cpu_at_once(vault):
    # Two processes bound to each CPU: every queue busy at once, and more callers than one thread
    # per queue, with requests from 0 bytes to past the 1 MiB payload (the kernel splits those).
    workers = [(c, f"cpu{c}-{k}") for c in sorted(os.sched_getaffinity(0)) for k in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(c), tag, str(vault.mnt)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c, tag in workers]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    assert all(rc == 0 and out.strip() == "ok" for out, err, rc in results), results
    for _, tag in workers:
        assert sorted(os.listdir(vault.mnt / tag)) == [f"f{i}" for i in range(7)]


def test_largest_requests_round_trip(vault):
    # 1 MiB WRITEs and READs fill a ring entry's payload exactly; unaligned ones straddle it.
    data = os.urandom(5 * (1 << 20) + 777)
    p = vault.mnt / "big.bin"
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        assert os.pwrite(fd, data, 0) == len(data)
        assert os.pwrite(fd, data[:1 << 20], 333) == 1 << 20
    finally:
        os.close(fd)
    expected = data[:333] + data[:1 << 20] + data[333 + (1 << 20):]
    vault.remount()  # cold: every byte comes back through READ replies
    fd = os.open(p, os.O_RDONLY)
    try:
        got = b"".join(os.pread(fd, 1 << 20, off) for off in range(0, len(expected), 1 << 20))
    finally:
        os.close(fd)
    assert got == expected


def cpus_allowed(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        return next(l.split(":")[1].strip() for l in f if l.startswith("Cpus_allowed_list"))


def test_reads_that_wait_for_the_disk_return_every_queue_thread_to_its_cpu(vault):
    # A queue thread waiting for the disk runs unbound (woken wherever the disk's interrupt lands)
    # and binds itself to its CPU again after the reply: cold reads on every CPU, then each
    # sotto-ring-N thread is allowed exactly CPU N again.
    data = os.urandom(8 << 20)
    (vault.mnt / "cold.bin").write_bytes(data)
    ref = vault.base / "ref.bin"
    ref.write_bytes(data)
    vault.unmount()
    vault.evict_backing_pages()
    vault.mount()
    for cpu in sorted(os.sched_getaffinity(0)):
        code = ("import os,sys,random;os.sched_setaffinity(0,{%d});r=random.Random(%d);f=os.open(sys.argv[1],os.O_RDONLY);"
                "d=open(sys.argv[2],'rb').read();"
                "[(lambda o:(os.pread(f,4096,o)==d[o:o+4096]) or sys.exit('mismatch at %%d'%%o))(r.randrange(0,len(d)-4096)) for _ in range(200)]") % (cpu, cpu)
        run(sys.executable, "-c", code, vault.mnt / "cold.bin", ref)
    pid, _ = ring_threads(vault.mnt)
    if not kernel_offers_io_uring():
        return  # no queue threads: the reads above are the test
    deadline = time.monotonic() + 20
    while True:
        wrong = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            if name.startswith("sotto-ring-") and cpus_allowed(pid, tid) != name.removeprefix("sotto-ring-"):
                wrong[tid] = (name, cpus_allowed(pid, tid))
        if not wrong or time.monotonic() > deadline:
            break
    assert wrong == {}


RING_KIND_PROBE = r"""
#include "sotto_fuse_ring.h"
#include <stdio.h>
#include <string.h>
static int told = -1;
static char said[256];
static void notify(void *context, int state, const char *message) {
    (void)context; told = state; snprintf(said, sizeof said, "%s", message);
}
int main(void) {
    struct sotto_ring *r = sotto_ring_attach(NULL, WANT, 0, notify, NULL);
    if (!r || told != -1) return 10;  /* nothing is told before INIT */
    sotto_ring_init_done(r);
    const char *option = sotto_ring_session_option(WANT);
    printf("%d|%d|%s|%s|%d\n", sotto_ring_kind(), told, option ? option : "-", said,
           sotto_ring_reply_buffer(16) == NULL);
    sotto_ring_will_wait();
    sotto_ring_streaming();
    sotto_ring_stop(r);
    return 0;
}
"""


def test_the_ring_code_for_other_libfuse_versions_builds_and_does_what_it_says(tmp_path):
    """One machine has one libfuse (3.14 here: Sotto's own ring). The code for 3.17 (no io_uring)
    and 3.18+ (libfuse's own, by `-o io_uring`) is built here with the kind forced, warnings as
    errors, and run: it installs nothing, tells the transport at INIT, and asks libfuse for its
    io_uring only on 3.18+ and only when wanted."""
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    (tmp_path / "probe.c").write_text(RING_KIND_PROBE)
    for kind, want, expect in [
        (1, 1, "1|3|io_uring|libfuse 3.14's own io_uring asked for"),
        (1, 0, "1|0|-|requests arrive through /dev/fuse (io_uring not wanted)"),
        (2, 1, "2|0|-|requests arrive through /dev/fuse (libfuse 3.14 has no io_uring Sotto can use)"),
    ]:
        exe = tmp_path / f"probe-{kind}-{want}"
        subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", f"-DSOTTO_RING_KIND={kind}",
                        f"-DWANT={want}", "-I/usr/include/fuse3", f"-I{repo}/Sources/CFuseRing/include",
                        str(tmp_path / "probe.c"), f"{repo}/Sources/CFuseRing/fuse_ring.c",
                        "-o", str(exe), "-lfuse3", "-luring", "-lpthread"], check=True)
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
        assert out.startswith(expect), (kind, want, out)
        assert out.rstrip().endswith("|1"), out  # no reply buffer: replies go through libfuse
