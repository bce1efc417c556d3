/* FUSE over io_uring beside libfuse 3.14: see include/sotto_fuse_ring.h for what and why.
 *
 * Kernel interface (FUSE protocol 7.42, Linux 6.14+; Documentation/filesystems/fuse-io-uring.rst):
 * each ring entry is a header buffer (struct ring_header) and a payload buffer, handed to the
 * kernel by an IORING_OP_URING_CMD on /dev/fuse. A REGISTER or COMMIT_AND_FETCH command completes
 * when a request has been written into the entry: its fuse_in_header, its fixed per-operation
 * argument (op_in) and the rest (names, write data) in the payload. The reply goes back the same
 * way: fuse_out_header in the header buffer, the reply's arguments in the payload, and a
 * COMMIT_AND_FETCH that also asks for the next request. The kernel uses the ring only when the
 * FUSE_INIT reply announces it and every CPU's queue has registered an entry. */
#define _GNU_SOURCE
#include "sotto_fuse_ring.h"

#include <errno.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- kernel ABI (uapi linux/fuse.h of 6.14+; Debian 12's headers are older) --- */
enum { RING_IN_OUT_SIZE = 128, RING_OP_IN_SIZE = 128 };

struct ring_entry_in_out {
    uint64_t flags;
    uint64_t commit_id;   /* the request's unique, echoed in the commit */
    uint32_t payload_sz;  /* bytes used in the payload buffer, either direction */
    uint32_t padding;
    uint64_t reserved;
};

struct ring_header {
    char in_out[RING_IN_OUT_SIZE];  /* fuse_in_header on fetch, fuse_out_header on commit */
    char op_in[RING_OP_IN_SIZE];    /* the operation's fixed argument (in_args[0]) */
    struct ring_entry_in_out entry;
};

struct ring_cmd {  /* in the 80-byte command area of a 128-byte SQE */
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

enum { CMD_REGISTER = 1, CMD_COMMIT_AND_FETCH = 2 };
#define INIT_FLAG2_OVER_IO_URING (1u << 9)  /* FUSE_OVER_IO_URING, bit 41 of the 64 flag bits */

_Static_assert(sizeof(struct ring_entry_in_out) == 32, "fuse_uring_ent_in_out is 32 bytes");
_Static_assert(sizeof(struct ring_cmd) == 24, "fuse_uring_cmd_req is 24 bytes");

void sotto_ring_abi(struct sotto_ring_abi *out) {
    out->entry_size = sizeof(struct ring_entry_in_out);
    out->entry_commit_id = offsetof(struct ring_entry_in_out, commit_id);
    out->entry_payload_size = offsetof(struct ring_entry_in_out, payload_sz);
    out->header_size = sizeof(struct ring_header);
    out->header_in_out = offsetof(struct ring_header, in_out);
    out->header_op_in = offsetof(struct ring_header, op_in);
    out->header_entry = offsetof(struct ring_header, entry);
    out->command_size = sizeof(struct ring_cmd);
    out->command_commit_id = offsetof(struct ring_cmd, commit_id);
    out->command_queue = offsetof(struct ring_cmd, qid);
    out->command_register = CMD_REGISTER;
    out->command_commit_and_fetch = CMD_COMMIT_AND_FETCH;
    out->init_flags2_over_io_uring = INIT_FLAG2_OVER_IO_URING;
}

int sotto_ring_kind(void) { return SOTTO_RING_KIND; }

#if SOTTO_RING_KIND != SOTTO_RING_KIND_OWN
/* libfuse 3.17 and later: this module moves no bytes (sotto_fuse_ring.h says why). */
struct sotto_ring {
    int want;
    _Atomic int state;
    sotto_ring_notify notify;
    void *context;
};

const char *sotto_ring_session_option(int want_uring) {
    return SOTTO_RING_KIND == SOTTO_RING_KIND_LIBFUSE && want_uring ? "io_uring" : NULL;
}

struct sotto_ring *sotto_ring_attach(struct fuse_session *se, int want_uring, int entries_per_thread,
                                     sotto_ring_notify notify, void *context) {
    (void)se;
    (void)entries_per_thread;
    struct sotto_ring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->want = want_uring;
    r->notify = notify;
    r->context = context;
    return r;
}

void sotto_ring_init_done(struct sotto_ring *r) {
    if (!r || !r->notify) return;
    char message[200];
    if (SOTTO_RING_KIND == SOTTO_RING_KIND_LIBFUSE && r->want) {
        atomic_store(&r->state, SOTTO_RING_LIBFUSE);
        snprintf(message, sizeof message, "libfuse %d.%d's own io_uring asked for (-o io_uring): used where the kernel "
                 "offers it (Linux 6.14+ with fuse.enable_uring=1), else /dev/fuse", FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
    } else if (!r->want) {
        snprintf(message, sizeof message, "requests arrive through /dev/fuse (io_uring not wanted)");
    } else {
        snprintf(message, sizeof message, "requests arrive through /dev/fuse (libfuse %d.%d has no io_uring Sotto can use)",
                 FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
    }
    r->notify(r->context, atomic_load(&r->state), message);
}

void *sotto_ring_reply_buffer(size_t size) { (void)size; return NULL; }
void sotto_ring_will_wait(void) {}
void sotto_ring_streaming(void) {}
int sotto_ring_state(const struct sotto_ring *ring) {
    return ring ? atomic_load(&((struct sotto_ring *)ring)->state) : SOTTO_RING_OFF;
}
void sotto_ring_stop(struct sotto_ring *ring) { free(ring); }

#else  /* SOTTO_RING_KIND_OWN: libfuse 3.14-3.16 */

const char *sotto_ring_session_option(int want_uring) { (void)want_uring; return NULL; }
/* The INIT reply hook (reply_to_init) tells the notify. */
void sotto_ring_init_done(struct sotto_ring *ring) { (void)ring; }

/* Room in front of each payload buffer: a request is rebuilt there as one contiguous message
 * (in header, op argument, then the payload where the kernel put it), as /dev/fuse would have
 * delivered it, without copying the payload (up to 1 MiB of write data). */
enum { PREFIX = 4096 };
/* Each CPU's queue is served by a few threads bound to that CPU, each with one entry: the kernel
 * hands a request to an idle entry, so a request waiting for the disk (a cold read, an fsync)
 * does not hold up the next caller on that CPU, and readahead's parallel READs overlap. Payload
 * pages are touched only by requests that big: at most THREADS_PER_QUEUE MiB per CPU. */
enum { THREADS_PER_QUEUE = 4, DEFAULT_DEPTH = 1 };
#define STOP_TOKEN ((uint64_t)1)

struct worker;

struct entry {
    struct worker *worker;
    struct ring_header *header;
    char *area;          /* mmap: PREFIX bytes, then the payload */
    char *payload;
    size_t area_size;
    struct iovec iov[2];
    uint64_t unique;
    uint64_t commit_id;
    int last_cmd;
    int replied;
};

/* A thread bound to CPU `qid`, with its own io_uring and `depth` entries registered on that
 * CPU's queue. */
struct worker {
    struct sotto_ring *ring;
    int qid;
    pthread_t thread;
    int thread_started;
    struct io_uring uring;
    int uring_ready;
    int stop_fd;
    struct entry *entries;
    int depth;
};

struct sotto_ring {
    struct fuse_session *se;
    int fd;
    int want;
    int depth;
    sotto_ring_notify notify;
    void *context;
    _Atomic int state;
    _Atomic uint64_t init_unique;  /* 0 until the INIT request is read */
    _Atomic int kernel_offers;
    size_t payload_size;
    int nworkers;
    struct worker *workers;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int reported;  /* workers that have finished setting up */
    int failures;
    int first_error;
};

/* The session's custom I/O gets libfuse's userdata (the Mount), not ours: one mount per process. */
static struct sotto_ring *the_ring;
/* The ring entry whose request this thread is dispatching: its reply goes to the ring. */
static __thread struct entry *dispatching;

/* The CPU a queue thread is bound to (-1: not a queue thread), and whether the binding is lifted
 * for a disk wait. Bound, a request is answered on its caller's CPU with no cross-CPU wake-up;
 * but a thread asleep on the disk is woken by the disk's interrupt, and woken on a CPU the VM
 * has halted that costs more than the round trip (2,000 cold random reads, eight rounds: 0.34-0.55 s
 * bound, 0.36-0.42 s unbound for the wait). So the wait runs unbound; the binding returns after
 * the reply. */
static __thread int bound_cpu = -1;
static __thread int unbound;
/* Every possible CPU: set once, before the queue threads start (get_nprocs_conf reads sysfs). */
static cpu_set_t any_cpu;

void sotto_ring_will_wait(void) {
    if (bound_cpu < 0 || unbound) return;
    if (sched_setaffinity(0, sizeof any_cpu, &any_cpu) == 0) unbound = 1;
}

/* A large READ is the kernel's readahead, which keeps two in flight, both from the reader's CPU
 * and so on one queue: bound, its threads take turns on that CPU while the other idles. The thread
 * answering one stays unbound until it answers a request that is not one, so the next READ can be
 * answered on whichever CPU is free (cold 1 GiB read: 0.72-0.98 s instead of 0.85-1.38 s, as
 * through /dev/fuse; metadata times unchanged). */
static __thread int stay_unbound;

void sotto_ring_streaming(void) {
    if (bound_cpu < 0) return;
    sotto_ring_will_wait();
    stay_unbound = 1;
}

static void rebind(void) {
    cpu_set_t cpu;
    CPU_ZERO(&cpu);
    CPU_SET(bound_cpu, &cpu);
    (void)sched_setaffinity(0, sizeof cpu, &cpu);
    unbound = 0;
}

/* --- replies --- */

static ssize_t total_length(const struct iovec *iov, int count) {
    ssize_t n = 0;
    for (int i = 0; i < count; i++) n += (ssize_t)iov[i].iov_len;
    return n;
}

static ssize_t reply_to_entry(struct entry *e, const struct iovec *iov, int count) {
    const struct fuse_out_header *given = iov[0].iov_base;
    struct fuse_out_header *out = (struct fuse_out_header *)e->header->in_out;
    size_t capacity = e->area_size - PREFIX, used = 0;
    int error = given->error;
    for (int i = 1; i < count && error == 0; i++) {
        if (used + iov[i].iov_len > capacity) { error = -EIO; used = 0; break; }
        if (iov[i].iov_base != e->payload + used) memmove(e->payload + used, iov[i].iov_base, iov[i].iov_len);
        used += iov[i].iov_len;
    }
    out->len = (uint32_t)(sizeof *out + used);
    out->error = error;
    out->unique = given->unique;
    e->header->entry.payload_sz = (uint32_t)used;
    e->replied = 1;
    return total_length(iov, count);
}

static int start_workers(struct sotto_ring *r);

/* A queue that stops answering would leave every caller on its CPU waiting forever. Better to end
 * the mount the way SIGTERM does (the session loop ends and the mountpoint is unmounted), with the
 * reason in the log. Only once: the first failure is the one worth reporting. */
static void fail_serving(struct sotto_ring *r, int qid, const char *what, int err) {
    int serving = SOTTO_RING_SERVING;
    if (!atomic_compare_exchange_strong(&r->state, &serving, SOTTO_RING_FAILED)) return;
    if (r->notify) {
        char message[200];
        snprintf(message, sizeof message, "io_uring queue %d: %s failed (%s); unmounting", qid, what, strerror(-err));
        r->notify(r->context, SOTTO_RING_FAILED, message);
    }
    kill(getpid(), SIGTERM);
}

/* The INIT reply announces io_uring when the kernel offered it; once the kernel has taken the
 * reply the connection is initialised and the queues can register. Either way the owner is told
 * how requests will arrive, once the filesystem is ready to answer them. */
static ssize_t reply_to_init(struct sotto_ring *r, int fd, struct iovec *iov, int count) {
    const struct fuse_out_header *out = iov[0].iov_base;
    int offered = atomic_load(&r->kernel_offers);
    int use = r->want && offered && count == 2 && out->error == 0 &&
              iov[1].iov_len >= offsetof(struct fuse_init_out, unused);
    ssize_t n;
    int err = 0;
    if (use) {
        struct fuse_init_out init;
        memset(&init, 0, sizeof init);
        memcpy(&init, iov[1].iov_base, iov[1].iov_len < sizeof init ? iov[1].iov_len : sizeof init);
        init.flags |= FUSE_INIT_EXT;
        init.flags2 |= INIT_FLAG2_OVER_IO_URING;
        /* The kernel sizes a ring payload as the largest request or reply it may send. */
        size_t payload = FUSE_MIN_READ_BUFFER;
        if (init.max_write > payload) payload = init.max_write;
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        if ((size_t)init.max_pages * page > payload) payload = (size_t)init.max_pages * page;
        r->payload_size = payload;
        struct iovec patched[2] = { iov[0], { &init, iov[1].iov_len } };
        n = writev(fd, patched, 2);
        if (n >= 0) err = start_workers(r);
    } else {
        n = writev(fd, iov, count);
    }
    if (n < 0 || out->error != 0 || !r->notify) return n;
    char message[200];
    if (use && err == 0) {
        snprintf(message, sizeof message, "requests arrive through io_uring (a queue per CPU, %d CPUs, %d threads each)",
                 r->nworkers / THREADS_PER_QUEUE, THREADS_PER_QUEUE);
    } else if (use) {
        snprintf(message, sizeof message, "io_uring could not be set up (%s); requests arrive through /dev/fuse", strerror(-err));
    } else if (!r->want) {
        snprintf(message, sizeof message, "requests arrive through /dev/fuse (io_uring not wanted)");
    } else {
        snprintf(message, sizeof message, "requests arrive through /dev/fuse (the kernel does not offer FUSE over io_uring: "
                 "Linux 6.14+ with fuse.enable_uring=1)");
    }
    r->notify(r->context, atomic_load(&r->state), message);
    return n;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata) {
    (void)userdata;
    const struct fuse_out_header *out = iov[0].iov_base;
    struct entry *e = dispatching;
    if (e && !e->replied && out->unique == e->unique) return reply_to_entry(e, iov, count);
    struct sotto_ring *r = the_ring;
    uint64_t init = atomic_load(&r->init_unique);
    if (init != 0 && out->unique == init) {
        atomic_store(&r->init_unique, 0);
        return reply_to_init(r, fd, iov, count);
    }
    return writev(fd, iov, count);
}

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata) {
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    const struct fuse_in_header *in = buf;
    if (n >= (ssize_t)(sizeof *in + offsetof(struct fuse_init_in, unused)) && in->opcode == FUSE_INIT) {
        const struct fuse_init_in *init = (const void *)(in + 1);
        int offers = (init->flags & FUSE_INIT_EXT) && (init->flags2 & INIT_FLAG2_OVER_IO_URING);
        atomic_store(&the_ring->kernel_offers, offers);
        atomic_store(&the_ring->init_unique, in->unique);
    }
    return n;
}

/* --- workers --- */

static int prepare(struct worker *q, struct entry *e, int cmd) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->uring);
    /* The ring has a slot per entry plus the stop poll, and each entry has at most one command
     * outstanding, so there is always one. */
    if (!sqe) return -EOVERFLOW;
    memset(sqe, 0, 128);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = q->ring->fd;
    sqe->cmd_op = (uint32_t)cmd;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)e);
    struct ring_cmd *c = (struct ring_cmd *)sqe->cmd;
    c->qid = (uint16_t)q->qid;
    if (cmd == CMD_REGISTER) {
        sqe->addr = (uint64_t)(uintptr_t)e->iov;
        sqe->len = 2;
    } else {
        c->commit_id = e->commit_id;
    }
    e->last_cmd = cmd;
    return 0;
}

static int dispatch(struct worker *q, struct entry *e) {
    struct sotto_ring *r = q->ring;
    const struct fuse_in_header *in = (const void *)e->header->in_out;
    uint32_t payload = e->header->entry.payload_sz;
    size_t fixed = sizeof *in + payload;
    e->commit_id = e->header->entry.commit_id;
    e->unique = in->unique;
    e->replied = 0;
    if (in->len < fixed || in->len - fixed > RING_OP_IN_SIZE || payload > e->area_size - PREFIX) {
        /* Not a request this code understands: answer it rather than leave the caller hanging. */
        struct fuse_out_header h = { .len = sizeof h, .error = -EIO, .unique = in->unique };
        struct iovec v = { &h, sizeof h };
        reply_to_entry(e, &v, 1);
    } else {
        size_t op = in->len - fixed;
        char *message = e->payload - op - sizeof *in;
        memcpy(message, in, sizeof *in);
        memcpy(message + sizeof *in, e->header->op_in, op);
        struct fuse_buf buf = { .size = in->len, .mem = message };
        dispatching = e;
        fuse_session_process_buf(r->se, &buf);
        dispatching = NULL;
        if (!e->replied) {
            /* Every request the kernel sends through the ring expects a reply (FORGET does not
             * come this way); keep the entry alive with an error if none was given. */
            struct fuse_out_header h = { .len = sizeof h, .error = -EIO, .unique = e->unique };
            struct iovec v = { &h, sizeof h };
            reply_to_entry(e, &v, 1);
        }
    }
    return prepare(q, e, CMD_COMMIT_AND_FETCH);
}

static int setup_worker(struct worker *q) {
    struct sotto_ring *r = q->ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
    p.cq_entries = (unsigned)(q->depth + 1) * 2;
    int rc = io_uring_queue_init_params((unsigned)q->depth + 1, &q->uring, &p);
    if (rc < 0) return rc;
    q->uring_ready = 1;
    q->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (q->stop_fd < 0) return -errno;
    q->entries = calloc((size_t)q->depth, sizeof *q->entries);
    if (!q->entries) return -ENOMEM;
    for (int i = 0; i < q->depth; i++) {
        struct entry *e = &q->entries[i];
        e->worker = q;
        if (posix_memalign((void **)&e->header, (size_t)sysconf(_SC_PAGESIZE), sizeof *e->header) != 0) return -ENOMEM;
        memset(e->header, 0, sizeof *e->header);
        e->area_size = PREFIX + r->payload_size;
        /* Untouched pages cost nothing: a worker that only sees small requests stays small. */
        e->area = mmap(NULL, e->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (e->area == MAP_FAILED) { e->area = NULL; return -ENOMEM; }
        e->payload = e->area + PREFIX;
        e->iov[0] = (struct iovec){ e->header, sizeof *e->header };
        e->iov[1] = (struct iovec){ e->payload, r->payload_size };
        int err = prepare(q, e, CMD_REGISTER);
        if (err) return err;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->uring);
    io_uring_prep_poll_add(sqe, q->stop_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, STOP_TOKEN);
    rc = io_uring_submit(&q->uring);
    if (rc < 0) return rc;
    /* A refused REGISTER completes at once; an accepted one only when a request comes. */
    struct io_uring_cqe *cqe;
    if (io_uring_peek_cqe(&q->uring, &cqe) == 0 && cqe->res < 0) return cqe->res;
    return 0;
}

static void report(struct sotto_ring *r, int error) {
    pthread_mutex_lock(&r->lock);
    r->reported++;
    if (error) {
        r->failures++;
        if (!r->first_error) r->first_error = error;
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

static void *serve(void *arg) {
    struct worker *q = arg;
    /* Signals (SIGTERM: unmount) go to other threads: a thread waiting in io_uring is no place to
     * handle them (SottoFUSE's StopSignals does, on whichever thread takes them). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* The point of a queue per CPU: the answering thread runs where its callers run. A CPU that
     * is possible but offline simply leaves its queue unbound. */
    cpu_set_t cpu;
    CPU_ZERO(&cpu);
    CPU_SET(q->qid, &cpu);
    (void)sched_setaffinity(0, sizeof cpu, &cpu);
    bound_cpu = q->qid;
    char name[16];
    snprintf(name, sizeof name, "sotto-ring-%d", q->qid);
    pthread_setname_np(pthread_self(), name);

    int err = setup_worker(q);
    report(q->ring, err);
    if (err) return NULL;

    struct sotto_ring *r = q->ring;
    for (int running = 1; running;) {
        int rc = io_uring_submit_and_wait(&q->uring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fail_serving(r, q->qid, "waiting for requests", rc);
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&q->uring, head, cqe) {
            seen++;
            if (cqe->user_data == STOP_TOKEN) { running = 0; continue; }
            struct entry *e = (struct entry *)(uintptr_t)cqe->user_data;
            int err = 0;
            if (cqe->res == -EAGAIN || cqe->res == -EINTR) {
                err = prepare(q, e, e->last_cmd);
            } else if (cqe->res == -ENOTCONN || cqe->res == -ECONNABORTED || cqe->res == -ENODEV ||
                       cqe->res == -ECANCELED) {
                /* The mount is going away: this entry is done. */
            } else if (cqe->res < 0) {
                fail_serving(r, q->qid, e->last_cmd == CMD_REGISTER ? "registering" : "answering a request", cqe->res);
            } else {
                err = dispatch(q, e);
            }
            if (err) fail_serving(r, q->qid, "queueing the next fetch", err);
        }
        io_uring_cq_advance(&q->uring, seen);
        if (unbound && !stay_unbound) {
            /* The reply first (the caller waits for it), then back to this queue's CPU. */
            (void)io_uring_submit(&q->uring);
            rebind();
        }
        stay_unbound = 0;
    }
    return NULL;
}

static int start_workers(struct sotto_ring *r) {
    int cpus = get_nprocs_conf();
    if (cpus < 1) cpus = 1;
    CPU_ZERO(&any_cpu);
    for (int c = 0; c < cpus && c < CPU_SETSIZE; c++) CPU_SET(c, &any_cpu);
    int n = cpus * THREADS_PER_QUEUE;
    r->workers = calloc((size_t)n, sizeof *r->workers);
    if (!r->workers) {
        atomic_store(&r->state, SOTTO_RING_FAILED);
        return -ENOMEM;
    }
    r->nworkers = n;
    int started = 0;
    for (int i = 0; i < n; i++) {
        struct worker *q = &r->workers[i];
        q->ring = r;
        q->qid = i / THREADS_PER_QUEUE;
        q->depth = r->depth;
        q->stop_fd = -1;
        if (pthread_create(&q->thread, NULL, serve, q) != 0) break;
        q->thread_started = 1;
        started++;
    }
    pthread_mutex_lock(&r->lock);
    while (r->reported < started) pthread_cond_wait(&r->changed, &r->lock);
    int err = started < n ? -EAGAIN : r->failures ? r->first_error : 0;
    pthread_mutex_unlock(&r->lock);
    if (err) {
        /* The kernel keeps using /dev/fuse until every queue has registered, so a partial ring is
         * harmless; stop it now rather than keep idle threads. */
        atomic_store(&r->state, SOTTO_RING_FAILED);
        sotto_ring_stop(r);
        return err;
    }
    atomic_store(&r->state, SOTTO_RING_SERVING);
    return 0;
}

static void stop_workers(struct sotto_ring *r) {
    for (int i = 0; i < r->nworkers; i++) {
        struct worker *q = &r->workers[i];
        if (q->thread_started) {
            if (q->stop_fd >= 0) eventfd_write(q->stop_fd, 1);
            pthread_join(q->thread, NULL);
            q->thread_started = 0;
        }
    }
    for (int i = 0; i < r->nworkers; i++) {
        struct worker *q = &r->workers[i];
        /* Closing the ring cancels the commands still with the kernel before the buffers go. */
        if (q->uring_ready) io_uring_queue_exit(&q->uring);
        q->uring_ready = 0;
        if (q->stop_fd >= 0) close(q->stop_fd);
        q->stop_fd = -1;
        for (int j = 0; q->entries && j < q->depth; j++) {
            struct entry *e = &q->entries[j];
            if (e->area) munmap(e->area, e->area_size);
            free(e->header);
        }
        free(q->entries);
        q->entries = NULL;
    }
    free(r->workers);
    r->workers = NULL;
    r->nworkers = 0;
}

struct sotto_ring *sotto_ring_attach(struct fuse_session *se, int want_uring, int entries_per_thread,
                                     sotto_ring_notify notify, void *context) {
    struct sotto_ring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->se = se;
    r->fd = fuse_session_fd(se);
    r->want = want_uring;
    r->depth = entries_per_thread > 0 ? entries_per_thread : DEFAULT_DEPTH;
    r->notify = notify;
    r->context = context;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    the_ring = r;
    static const struct fuse_custom_io io = { .writev = hook_writev, .read = hook_read };
    if (fuse_session_custom_io(se, &io, r->fd) != 0) {
        the_ring = NULL;
        free(r);
        return NULL;
    }
    return r;
}

void *sotto_ring_reply_buffer(size_t size) {
    struct entry *e = dispatching;
    return e && !e->replied && size <= e->area_size - PREFIX ? e->payload : NULL;
}

int sotto_ring_state(const struct sotto_ring *ring) {
    return ring ? atomic_load(&((struct sotto_ring *)ring)->state) : SOTTO_RING_OFF;
}

void sotto_ring_stop(struct sotto_ring *ring) {
    if (!ring) return;
    if (ring->workers) stop_workers(ring);
}

#endif  /* SOTTO_RING_KIND */
