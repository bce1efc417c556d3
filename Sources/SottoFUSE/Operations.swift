import CFuse3
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// The low-level operation table. Callbacks capture nothing (they are C function pointers); each
// family lives in its own file: Operations+Entries (names), +Attributes, +Files, +Directories,
// +ExtendedAttributes.

extension Mount {
    static func operations(extendedAttributes: Bool) -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        addEntryOperations(&ops)
        addAttributeOperations(&ops)
        addFileOperations(&ops)
        addDirectoryOperations(&ops)
        // Left out (`--no-xattr`), the kernel answers every xattr call with ENOTSUP itself, which
        // cp, rsync and tar take as "none here", and stops asking. With them, it asks for
        // security.capability before every write(2): one round trip each (measured, docs/architecture.md).
        if extendedAttributes { addExtendedAttributeOperations(&ops) }
        return ops
    }

    /// A name from the kernel (NUL-terminated, no '/').
    static func name(_ p: UnsafePointer<CChar>?) -> [UInt8] {
        guard let p else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
    }

    /// Backing attributes as the mount shows them.
    func attributes(_ backingPath: String) throws -> stat {
        var st = try vault.tree.lstat(backingPath)
        plaintextAttributes(&st, backingPath: backingPath)
        return st
    }

    /// Replies with the entry at `backingPath`, now known to the kernel as `parent/name`.
    @discardableResult
    func replyEntry(_ req: fuse_req_t?, parent: UInt64, name: [UInt8], backingPath: String,
                    attributes known: stat? = nil, open fi: UnsafeMutablePointer<fuse_file_info>? = nil,
                    beforeReply: ((UInt64) -> Void)? = nil) throws -> UInt64 {
        var e = fuse_entry_param()
        if var st = known {
            plaintextAttributes(&st, backingPath: backingPath)
            e.attr = st
        } else {
            e.attr = try attributes(backingPath)
        }
        e.ino = inodes.remember(parent: parent, name: name, backingPath: backingPath, stat: e.attr)
        e.generation = 1
        e.attr_timeout = Mount.cacheTimeout
        e.entry_timeout = entryTimeout
        // Anything keyed by the inode must be in place before the reply: from then on the kernel
        // may send RELEASE or FORGET for it on another thread.
        beforeReply?(e.ino)
        if let fi { fuse_reply_create(req, &e, fi) } else { fuse_reply_entry(req, &e) }
        return e.ino
    }
}
