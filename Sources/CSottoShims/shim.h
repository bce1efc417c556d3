#pragma once
/* Calls Swift's Glibc module does not export. Static inline: no C target to build. */
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static inline int sotto_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

static inline const unsigned int sotto_rename_noreplace(void) { return RENAME_NOREPLACE; }
static inline const unsigned int sotto_rename_exchange(void) { return RENAME_EXCHANGE; }

#include <sys/prctl.h>
#include <spawn.h>
#include <sys/mount.h>

/* prctl is variadic, so Swift cannot call it directly. */
static inline int sotto_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
/* The calling thread's name (15 bytes kept). */
static inline int sotto_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

static inline short sotto_posix_spawn_setsid(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0x80;
#endif
}

/* pipe2 is a GNU extension Swift's Glibc module does not export. */
int pipe2(int pipefd[2], int flags);
static inline int sotto_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
static inline int sotto_pipe_nonblocking_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK); }

/* fallocate is a GNU extension too. KEEP_SIZE: allocate past the end without changing the size. */
int fallocate(int fd, int mode, long long offset, long long len);
static inline int sotto_fallocate(int fd, int mode, long long offset, long long len) {
    return fallocate(fd, mode, offset, len);
}

/* Extended attributes (<sys/xattr.h>, which Swift's Glibc module does not export). */
#include <sys/xattr.h>
static inline long sotto_fgetxattr(int fd, const char *name, void *value, unsigned long size) {
    return fgetxattr(fd, name, value, size);
}
static inline int sotto_fsetxattr(int fd, const char *name, const void *value, unsigned long size, int flags) {
    return fsetxattr(fd, name, value, size, flags);
}
static inline long sotto_flistxattr(int fd, char *list, unsigned long size) { return flistxattr(fd, list, size); }
static inline int sotto_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }

/* syncfs is a GNU extension too: one call makes a whole rekey batch durable. */
int syncfs(int fd);
static inline int sotto_syncfs(int fd) { return syncfs(fd); }

/* sync_file_range is Linux-only (GNU): starts writeback of a written range without waiting. */
int sync_file_range(int fd, long long offset, long long nbytes, unsigned int flags);
static inline int sotto_start_writeback(int fd, long long offset, long long nbytes) {
    return sync_file_range(fd, offset, nbytes, 2 /* SYNC_FILE_RANGE_WRITE */);
}

/* preadv2 is a GNU extension too. RWF_NOWAIT: only what the page cache holds, EAGAIN if the
 * disk would have to be waited for. */
#include <sys/uio.h>
ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);
static inline long sotto_pread_cached(int fd, void *buf, size_t count, long long offset) {
    struct iovec v = { buf, count };
    return (long)preadv2(fd, &v, 1, (off_t)offset, 0x00000008 /* RWF_NOWAIT */);
}

/* pidfd_open (Linux 5.3+): a descriptor that becomes readable when the process exits, and that
 * a reused process ID cannot fool. */
#include <sys/syscall.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
static inline int sotto_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* O_PATH (fcntl.h under _GNU_SOURCE): a reference to a file that opens nothing. */
#ifndef O_PATH
#define O_PATH 010000000
#endif
static inline int sotto_o_path(void) { return O_PATH; }

/* openat2 (Linux 5.6+; glibc has no wrapper): resolves a path beneath a directory descriptor,
 * refusing symlinks, magic links and escapes ("..", absolute paths) anywhere on the way. The
 * vault directory is reached only this way (docs/threat-model.md). */
#include <stdint.h>
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct sotto_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
static inline int sotto_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    struct sotto_open_how how = { (uint64_t)(unsigned int)flags, flags & (O_CREAT | 020000000 /* O_TMPFILE */) ? mode : 0,
                                  0x08 /* RESOLVE_BENEATH */ | 0x04 /* RESOLVE_NO_SYMLINKS */ | 0x02 /* RESOLVE_NO_MAGICLINKS */ };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* fcntl is variadic too. */
static inline int sotto_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
