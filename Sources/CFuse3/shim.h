#pragma once
/* 3.12: the newest API level whose fuse_loop_mt is a real function Swift can call
   (at 3.5 it is a function-like macro). libfuse 3.14 is what Debian 12 ships. */
#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <fuse_lowlevel.h>

/* fuse_new is a macro over a versioned symbol; this gives Swift one name for it. */
static inline struct fuse *sotto_fuse_new(struct fuse_args *args, const struct fuse_operations *op,
                                          size_t op_size, void *private_data) {
    return fuse_new(args, op, op_size, private_data);
}

static inline int sotto_fuse_loop_mt(struct fuse *f, struct fuse_loop_config *config) {
    return fuse_loop_mt(f, config);
}

static inline struct fuse_session *sotto_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *op,
                                                     size_t op_size, void *userdata) {
    return fuse_session_new(args, op, op_size, userdata);
}

static inline int sotto_session_loop_mt(struct fuse_session *se, struct fuse_loop_config *config) {
    return fuse_session_loop_mt(se, config);
}
