#pragma once
/* FUSE over io_uring for libfuse 3.14, which predates it (libfuse 3.18 has it built in).
 *
 * Requests reach the daemon through one io_uring queue per CPU, each served by a thread bound to
 * that CPU, so the thread that answers a request is woken on the CPU its caller runs on: no
 * cross-CPU wake-up per request. libfuse still decodes and dispatches every request
 * (fuse_session_process_buf) and encodes every reply; this module only moves the bytes, through
 * the session's custom I/O hooks. /dev/fuse stays in use for what the kernel never sends through
 * the ring (FORGET, INTERRUPT, notifications) and for everything when io_uring is unavailable. */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

/* Which io_uring a build has, by the libfuse it is compiled against (sotto_ring_kind):
 * - OWN: this module. It relies on how libfuse 3.14 calls the custom-I/O hooks (installed after
 *   the mount; the INIT reply passing through writev; a reply written on the thread that
 *   dispatched its request), which libfuse does not promise and 3.17 changed. So only below 3.17.
 * - LIBFUSE: libfuse 3.18 and later have FUSE over io_uring built in (`-o io_uring`); this module
 *   installs nothing and asks for that instead.
 * - NONE: 3.17, which has neither: /dev/fuse only.
 * SOTTO_RING_KIND may be defined by the build to compile another kind's code (the kinds' build
 * test in Tests/mount/test_transport.py does, since one machine has one libfuse). */
#define SOTTO_RING_KIND_OWN 0
#define SOTTO_RING_KIND_LIBFUSE 1
#define SOTTO_RING_KIND_NONE 2
#ifndef SOTTO_RING_KIND
#  if FUSE_VERSION < FUSE_MAKE_VERSION(3, 17)
#    define SOTTO_RING_KIND SOTTO_RING_KIND_OWN
#  elif FUSE_VERSION >= FUSE_MAKE_VERSION(3, 18)
#    define SOTTO_RING_KIND SOTTO_RING_KIND_LIBFUSE
#  else
#    define SOTTO_RING_KIND SOTTO_RING_KIND_NONE
#  endif
#endif

int sotto_ring_kind(void);

struct sotto_ring;

enum sotto_ring_state {
    SOTTO_RING_OFF = 0,      /* not asked for, or the kernel does not offer it: /dev/fuse */
    SOTTO_RING_SERVING = 1,  /* every queue registered: requests arrive through io_uring */
    SOTTO_RING_FAILED = 2,   /* asked for and offered, but setting it up failed: /dev/fuse */
    SOTTO_RING_LIBFUSE = 3,  /* (kind LIBFUSE) libfuse's own io_uring asked for: used where offered */
};

/* The libfuse option to add to the session's arguments ("io_uring" for kind LIBFUSE when
 * io_uring is wanted), or NULL. */
const char *sotto_ring_session_option(int want_uring);

/* Called by the filesystem's init operation. For kinds other than OWN, whose INIT reply is not
 * seen by a hook, this is when the ring's notify is told how requests will arrive. */
void sotto_ring_init_done(struct sotto_ring *ring);

/* Told once the FUSE_INIT reply is with the kernel (and the ring, if any, is set up): the
 * filesystem now answers requests. `message` says how they arrive and why. Told again, with
 * SOTTO_RING_FAILED, if a queue fails later (the mount then ends as on SIGTERM). */
typedef void (*sotto_ring_notify)(void *context, int state, const char *message);

/* Installs the custom I/O on a mounted session (after fuse_session_mount, before the loop).
 * With want_uring 0 nothing changes but the hooks; entries_per_thread 0: the default (1).
 * Kinds other than OWN install nothing. NULL only if memory runs out. */
struct sotto_ring *sotto_ring_attach(struct fuse_session *se, int want_uring, int entries_per_thread,
                                     sotto_ring_notify notify, void *context);

/* Where a reply of `size` bytes to the request this thread is answering can be built in place:
 * the ring entry's payload buffer, so the kernel copies it from there with no copy before. NULL
 * when the request came through /dev/fuse (or the reply would not fit). Valid until the reply. */
void *sotto_ring_reply_buffer(size_t size);

/* The request this thread answers is about to wait for the disk: on a queue thread, lifts the
 * thread's CPU binding until the reply is sent. Elsewhere nothing. */
void sotto_ring_will_wait(void);

/* The request this thread answers is a large read (readahead): on a queue thread, lifts the CPU
 * binding until the thread has answered a request that is not one. Elsewhere nothing. */
void sotto_ring_streaming(void);

int sotto_ring_state(const struct sotto_ring *ring);

/* After the session loop has ended: stops the queue threads and frees everything. */
void sotto_ring_stop(struct sotto_ring *ring);

/* The kernel ABI as this module lays it out (Debian 12's headers predate it), for a unit test to
 * check against the numbers of linux/fuse.h 7.42 (SottoFUSETests/RingLayoutTests). */
struct sotto_ring_abi {
    size_t entry_size, entry_commit_id, entry_payload_size;               /* fuse_uring_ent_in_out */
    size_t header_size, header_in_out, header_op_in, header_entry;        /* fuse_uring_req_header */
    size_t command_size, command_commit_id, command_queue;                /* fuse_uring_cmd_req */
    unsigned command_register, command_commit_and_fetch;                 /* FUSE_IO_URING_CMD_* */
    unsigned init_flags2_over_io_uring;                                   /* FUSE_OVER_IO_URING >> 32 */
};
void sotto_ring_abi(struct sotto_ring_abi *out);
