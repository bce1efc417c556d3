import CFuseRing
import Testing

/// FUSE over io_uring's messages as CFuseRing lays them out, against the kernel's uapi header
/// (linux/fuse.h, protocol 7.42, Linux 6.14; Documentation/filesystems/fuse-io-uring.rst). Debian
/// 12's headers predate it, so the module declares the structures itself: a wrong offset would
/// hand the kernel garbage, and the kernel would only say EINVAL.
@Suite struct RingLayoutTests {
    /// Sotto's own ring only against the libfuse whose custom-I/O behaviour it was written for
    /// (below 3.17), libfuse's own from 3.18 (sotto_fuse_ring.h).
    @Test func theRingKindFollowsTheLibfuseBuiltAgainst() {
        let minor = Int32(FUSE_MINOR_VERSION)
        let expected = minor < 17 ? SOTTO_RING_KIND_OWN : minor >= 18 ? SOTTO_RING_KIND_LIBFUSE : SOTTO_RING_KIND_NONE
        #expect(FUSE_MAJOR_VERSION == 3 && sotto_ring_kind() == Int32(expected))
        #expect(sotto_ring_session_option(1) == nil || expected == SOTTO_RING_KIND_LIBFUSE)
    }

    @Test func messagesMatchTheKernelABI() {
        var abi = sotto_ring_abi()
        sotto_ring_abi(&abi)
        // struct fuse_uring_ent_in_out { u64 flags; u64 commit_id; u32 payload_sz; u32 padding; u64 reserved; }
        #expect(abi.entry_size == 32 && abi.entry_commit_id == 8 && abi.entry_payload_size == 16)
        // struct fuse_uring_req_header { char in_out[128]; char op_in[128]; struct fuse_uring_ent_in_out ring_ent_in_out; }
        #expect(abi.header_size == 288 && abi.header_in_out == 0 && abi.header_op_in == 128 && abi.header_entry == 256)
        // struct fuse_uring_cmd_req { u64 flags; u64 commit_id; u16 qid; u8 padding[6]; }
        #expect(abi.command_size == 24 && abi.command_commit_id == 8 && abi.command_queue == 16)
        // enum fuse_uring_cmd { FUSE_IO_URING_CMD_INVALID, FUSE_IO_URING_CMD_REGISTER, FUSE_IO_URING_CMD_COMMIT_AND_FETCH }
        #expect(abi.command_register == 1 && abi.command_commit_and_fetch == 2)
        // #define FUSE_OVER_IO_URING (1ULL << 41), sent in the INIT reply's flags2 (the upper 32 bits)
        #expect(abi.init_flags2_over_io_uring == 1 << 9)
    }
}
