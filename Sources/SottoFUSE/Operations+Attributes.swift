import CFuse3
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// Attributes: getattr, setattr (mode, owner, size, times), readlink, statfs, access.

extension Mount {
    /// utimensat's special nanosecond values (<sys/stat.h>), which Swift does not import.
    static let utimeNow = (1 << 30) - 1
    static let utimeOmit = (1 << 30) - 2

    static func addAttributeOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.getattr = { req, ino, fi in
            handle(req) { m in
                var st = try m.currentAttributes(ino, fi)
                fuse_reply_attr(req, &st, Mount.cacheTimeout)
            }
        }
        ops.setattr = { req, ino, attr, toSet, fi in
            handle(req) { m in
                let a = attr!.pointee
                // Through an open file when there is one (the kernel's handle, or any handle of the
                // inode): no path walk, and it works once the file has no name left. Size needs a
                // writable one; otherwise by path.
                let open = Handle.file(fi)?.file ?? m.inodes.openFile(ino)
                let needsPath = open == nil || (toSet & FUSE_SET_ATTR_SIZE != 0 && !open!.writable)
                let path = needsPath ? try m.inodes.path(ino) : nil
                if toSet & FUSE_SET_ATTR_MODE != 0 {
                    if let open { try open.chmod(a.st_mode & 0o7777) } else { try m.vault.tree.chmod(path!, mode: a.st_mode & 0o7777) }
                }
                if toSet & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) != 0 {
                    let uid = toSet & FUSE_SET_ATTR_UID != 0 ? a.st_uid : uid_t.max
                    let gid = toSet & FUSE_SET_ATTR_GID != 0 ? a.st_gid : gid_t.max
                    if let open { try open.chown(uid, gid) } else { try m.vault.tree.chown(path!, uid: uid, gid: gid) }
                }
                if toSet & FUSE_SET_ATTR_SIZE != 0 {
                    if let open, open.writable {
                        try open.truncate(to: Int(a.st_size))
                    } else {
                        let file = try m.files.open(path!, write: true)
                        defer { m.files.release(file) }
                        try file.truncate(to: Int(a.st_size))
                    }
                }
                if toSet & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW) != 0 {
                    func time(_ set: Int32, _ now: Int32, _ value: timespec) -> timespec {
                        if toSet & now != 0 { return timespec(tv_sec: 0, tv_nsec: Mount.utimeNow) }
                        if toSet & set != 0 { return value }
                        return timespec(tv_sec: 0, tv_nsec: Mount.utimeOmit)
                    }
                    var times = [time(FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, a.st_atim),
                                 time(FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, a.st_mtim)]
                    if let open { try open.setTimes(&times) } else { try m.vault.tree.setTimes(path!, times) }
                }
                var st = try m.currentAttributes(ino, fi)
                fuse_reply_attr(req, &st, Mount.cacheTimeout)
            }
        }
        ops.readlink = { req, ino in
            handle(req) { m in
                let b = try m.inodes.path(ino)
                let stored = try m.vault.tree.readlink(b)
                var target: [UInt8]
                do { target = try m.codecs.with { try m.vault.symlinks.decrypt(stored, gcm: $0.gcm) } } catch CryptoError.authenticationFailed {
                    m.log.error("\(b): the symlink target does not authenticate (damaged or tampered)")
                    throw Errno.io
                }
                target.append(0)
                target.withUnsafeBufferPointer { p in
                    p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { _ = fuse_reply_readlink(req, $0) }
                }
            }
        }
        ops.statfs = { req, _ in
            handle(req) { m in
                var s = statvfs()
                m.removals.wait()  // space of files just removed counts as free
                try retryingSyscall { fstatvfs(m.vault.tree.root.rawValue, &s) }
                s.f_namemax = UInt(PlainName.maxLength)  // long names are stored in containers
                fuse_reply_statfs(req, &s)
            }
        }
        ops.access = { req, ino, _ in
            handle(req) { m in
                _ = try m.vault.tree.lstat(try m.inodes.path(ino))  // modes are checked by the kernel (default_permissions)
                fuse_reply_err(req, 0)
            }
        }
    }

    /// Attributes of an inode: through the open file when there is one (it may have no name left).
    func currentAttributes(_ ino: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>?) throws -> stat {
        if let file = Handle.file(fi)?.file ?? inodes.openFile(ino) { return try file.attributes() }
        return try attributes(try inodes.path(ino))
    }
}
