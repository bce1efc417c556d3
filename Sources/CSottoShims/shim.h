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
