import CFuse3
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// Extended attributes: getxattr, setxattr, listxattr, removexattr. user.* and trusted.* are kept,
// encrypted, on regular files (ExtendedAttributes; docs/format.md §5.6); security.* and system.*
// are not (as in gocryptfs), and directories and symlinks have none (they have no file key).

extension Mount {
    static func addExtendedAttributeOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.getxattr = { req, ino, name, size in
            let n = Mount.name(name)
            // The kernel asks for security.capability before every write (to clear it): answered
            // here, with no lookup and no lock.
            guard ExtendedAttributes.isKept(n) else {
                fuse_reply_err(req, ENODATA)
                return
            }
            handle(req) { m in
                guard var value = try m.readingAttributes(ino, { try $0.extendedAttribute(n) }) else { throw Errno(ENODATA) }
                defer { wipe(&value) }  // plaintext
                try Mount.replyXattr(req, value, room: size)
            }
        }
        ops.setxattr = { req, ino, name, value, size, flags in
            handle(req) { m in
                if m.readOnly { throw Errno(EROFS) }
                let n = Mount.name(name)
                var v = size == 0 ? [] : Array(UnsafeRawBufferPointer(start: value, count: size))
                defer { wipe(&v) }  // plaintext
                guard try m.withRegularFile(ino, { try $0.setExtendedAttribute(n, v, flags: flags) }) != nil else {
                    throw Errno(EOPNOTSUPP)
                }
                fuse_reply_err(req, 0)
            }
        }
        ops.removexattr = { req, ino, name in
            handle(req) { m in
                if m.readOnly { throw Errno(EROFS) }
                let n = Mount.name(name)
                guard try m.withRegularFile(ino, { try $0.removeExtendedAttribute(n) }) != nil else { throw Errno(ENODATA) }
                fuse_reply_err(req, 0)
            }
        }
        ops.listxattr = { req, ino, size in
            handle(req) { m in
                var names = try m.readingAttributes(ino) { try $0.extendedAttributeNames() } ?? []
                // trusted.* is for root only; the kernel checks reads and writes, not listings.
                if fuse_req_ctx(req)?.pointee.uid != 0 {
                    names.removeAll { $0.starts(with: Array("trusted.".utf8)) }
                }
                try Mount.replyXattr(req, names.flatMap { $0 + [0] }, room: size)
            }
        }
    }

    /// Runs `body` on the inode's encrypted file — the open one if any, else opened for this call
    /// — or returns nil for a directory or symlink.
    func withRegularFile<R>(_ ino: UInt64, _ body: (EncryptedFile) throws -> R) throws -> R? {
        if let open = inodes.openFile(ino) { return try body(open) }
        let path = try inodes.path(ino)
        guard EntryKind(mode: try vault.tree.lstat(path).st_mode) == .file else { return nil }
        let file = try files.open(path, write: false)
        defer { files.release(file) }
        return try body(file)
    }

    /// `withRegularFile` for reading attributes: nil also when a file nobody has open holds none
    /// of ours, found without opening it as an encrypted file (ExtendedAttributes.anyStored).
    func readingAttributes<R>(_ ino: UInt64, _ body: (EncryptedFile) throws -> R) throws -> R? {
        if let open = inodes.openFile(ino) { return try body(open) }
        let path = try inodes.path(ino)
        guard EntryKind(mode: try vault.tree.lstat(path).st_mode) == .file else { return nil }
        let stored: Bool
        do {
            let backing = try vault.tree.openFile(path, flags: O_RDONLY)
            defer { backing.close() }
            stored = try ExtendedAttributes.anyStored(in: backing)
        }
        return stored ? try withRegularFile(ino, body) : nil
    }

    /// getxattr/listxattr's two-step protocol: with no room the caller asks for the size.
    static func replyXattr(_ req: fuse_req_t?, _ bytes: [UInt8], room: Int) throws {
        if room == 0 {
            fuse_reply_xattr(req, bytes.count)
        } else if bytes.count > room {
            throw Errno(ERANGE)
        } else {
            _ = bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        }
    }
}
