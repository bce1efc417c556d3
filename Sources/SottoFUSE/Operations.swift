import CFuse3
import CSottoShims
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// The fuse_operations table, one function per kernel request, split by family. Callbacks capture
// nothing (they are C function pointers); the mount comes from the request's context.

extension Mount {
    static func operations() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { _, cfg in
            if let cfg {
                cfg.pointee.use_ino = 1          // the backing inode numbers: hard links show as such
                cfg.pointee.hard_remove = 1      // unlink at once; open handles keep their backing fd
                cfg.pointee.nullpath_ok = 1      // operations on an unlinked open file get no path
                cfg.pointee.kernel_cache = 1     // page cache kept across opens: only this mount writes the vault
                cfg.pointee.entry_timeout = 1
                cfg.pointee.attr_timeout = 1
                cfg.pointee.negative_timeout = 1
            }
            return fuse_get_context()!.pointee.private_data
        }
        addAttributeOperations(&ops)
        addDirectoryOperations(&ops)
        addEntryOperations(&ops)
        addFileOperations(&ops)
        addExtendedAttributeOperations(&ops)
        return ops
    }

    // MARK: Attributes

    static func addAttributeOperations(_ ops: inout fuse_operations) {
        ops.getattr = { path, st, fi in
            perform { m in
                if let h = Handle.file(fi) { st!.pointee = try h.file.attributes(); return 0 }
                let b = try m.mapper.backingPath(path!)
                var s = try FileSystem.lstat(b)
                m.plaintextAttributes(&s, backingPath: b)
                st!.pointee = s
                return 0
            }
        }
        ops.chmod = { path, mode, fi in
            perform { m in
                if let h = Handle.file(fi) { try h.file.chmod(mode & 0o7777); return 0 }
                let b = try m.mapper.backingPath(path!)
                try retryingCall { Glibc.chmod(b, mode & 0o7777) }
                return 0
            }
        }
        ops.chown = { path, uid, gid, fi in
            perform { m in
                if let h = Handle.file(fi) { try h.file.chown(uid, gid); return 0 }
                let b = try m.mapper.backingPath(path!)
                try retryingCall { lchown(b, uid, gid) }
                return 0
            }
        }
        ops.utimens = { path, tv, fi in
            perform { m in
                if let h = Handle.file(fi) { try h.file.setTimes(tv!); return 0 }
                let b = try m.mapper.backingPath(path!)
                try retryingCall { utimensat(AT_FDCWD, b, tv, AT_SYMLINK_NOFOLLOW) }
                return 0
            }
        }
        ops.truncate = { path, size, fi in
            perform { m in
                if let h = Handle.file(fi) { try h.file.truncate(to: Int(size)); return 0 }
                let b = try m.mapper.backingPath(path!)
                let file = try m.files.open(b, write: true)
                defer { m.files.release(file) }
                try file.truncate(to: Int(size))
                return 0
            }
        }
        ops.statfs = { _, st in
            perform { m in
                var s = statvfs()
                try retryingCall { statvfs(m.vault.path, &s) }
                s.f_namemax = UInt(PlainName.maxLength)  // long names are stored in containers
                st!.pointee = s
                return 0
            }
        }
        ops.access = { path, mask in
            perform { m in
                _ = try m.mapper.backingPath(path!)  // the kernel checks modes itself (default_permissions)
                return 0
            }
        }
    }

    // MARK: Directories

    static func addDirectoryOperations(_ ops: inout fuse_operations) {
        ops.opendir = { path, fi in
            perform { m in
                let b = try m.mapper.backingPath(path!)
                let fd = try FileDescriptor.open(b, flags: O_RDONLY | O_DIRECTORY)
                DirectoryHandle(fd: fd, plainPath: String(kernelPath: path)).store(in: fi!)
                return 0
            }
        }
        ops.releasedir = { _, fi in
            _ = OpenHandle.take(fi)
            return 0
        }
        ops.readdir = { _, buf, filler, _, fi, _ in
            perform { m in
                guard let h = OpenHandle.from(fi) as? DirectoryHandle else { return -EBADF }
                let dir = VaultEntry(plainPath: h.plainPath, backingPath: h.backingPath, info: try h.fd.stat())
                let (entries, skipped) = try m.vault.list(dir)
                for s in skipped { m.log.once("skip:" + s.backingPath, "left out of the listing: \(s)") }
                _ = filler!(buf, ".", nil, 0, fuse_fill_dir_flags(0))
                _ = filler!(buf, "..", nil, 0, fuse_fill_dir_flags(0))
                for e in entries {
                    let full = e.name.withUnsafeBufferPointer { n -> Int32 in
                        var z = Array(n); z.append(0)
                        return z.withUnsafeBufferPointer { p in
                            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: z.count) { filler!(buf, $0, nil, 0, fuse_fill_dir_flags(0)) }
                        }
                    }
                    if full != 0 { break }
                }
                return 0
            }
        }
        ops.mkdir = { path, mode in
            perform { m in
                let (parent, name) = try m.mapper.parentAndName(path!)
                let b = try m.mapper.newEntryPath(name, in: parent)
                do {
                    try m.mapper.makeDirectory(at: b)
                } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                m.takeOwnership(of: b, parent: parent)
                try retryingCall { Glibc.chmod(b, (mode & 0o7777) | m.inheritedSetgid(parent)) }
                return 0
            }
        }
        ops.rmdir = { path in
            perform { m in
                let b = try m.mapper.backingPath(path!)
                guard b != m.vault.path else { return -EBUSY }
                guard try FileSystem.lstat(b).st_mode & S_IFMT == S_IFDIR else { return -ENOTDIR }
                try m.mapper.removeDirectory(at: b)
                return 0
            }
        }
        ops.fsyncdir = { _, _, fi in
            perform { m in
                guard let h = OpenHandle.from(fi) as? DirectoryHandle else { return -EBADF }
                try h.fd.sync()
                return 0
            }
        }
    }

    // MARK: Entries: names, links, renames

    static func addEntryOperations(_ ops: inout fuse_operations) {
        ops.unlink = { path in
            perform { m in
                let b = try m.mapper.backingPath(path!)
                guard try FileSystem.lstat(b).st_mode & S_IFMT != S_IFDIR else { return -EISDIR }
                try FileSystem.unlink(b)
                m.mapper.removeContainerIfEmpty(of: b)
                return 0
            }
        }
        ops.symlink = { target, path in
            perform { m in
                let (parent, name) = try m.mapper.parentAndName(path!)
                let stored: [UInt8]
                do {
                    stored = try m.gcm.with { try m.vault.symlinks.encrypt(Array(UnsafeRawBufferPointer(start: target!, count: strlen(target!))), gcm: $0) }
                } catch let e as Errno { throw e }
                let b = try m.mapper.newEntryPath(name, in: parent)
                do { try FileSystem.symlink(target: stored, at: Array(b.utf8)) } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                m.takeOwnership(of: b, parent: parent)
                return 0
            }
        }
        ops.readlink = { path, buf, size in
            perform { m in
                let b = try m.mapper.backingPath(path!)
                let stored = try FileSystem.readlink(Array(b.utf8))
                let target: [UInt8]
                do { target = try m.gcm.with { try m.vault.symlinks.decrypt(stored, gcm: $0) } } catch CryptoError.authenticationFailed {
                    m.log.error("\(b): symlink target does not authenticate (damaged or tampered)")
                    return -EIO
                }
                let n = min(target.count, size - 1)
                target.withUnsafeBytes { UnsafeMutableRawPointer(buf!).copyMemory(from: $0.baseAddress!, byteCount: n) }
                buf![n] = 0
                return 0
            }
        }
        ops.link = { from, to in
            perform { m in
                let src = try m.mapper.backingPath(from!)
                let (parent, name) = try m.mapper.parentAndName(to!)
                let b = try m.mapper.newEntryPath(name, in: parent)
                do { try retryingCall { Glibc.link(src, b) } } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                return 0
            }
        }
        ops.rename = { from, to, flags in
            perform { m in try m.rename(from!, to!, flags: flags) }
        }
        ops.mknod = { path, mode, rdev in
            perform { m in
                let (parent, name) = try m.mapper.parentAndName(path!)
                let b = try m.mapper.newEntryPath(name, in: parent)
                do {
                    if mode & S_IFMT == S_IFREG {
                        try m.createBackingFile(b, mode: mode).close()
                    } else {
                        try retryingCall { Glibc.mknod(b, mode, rdev) }
                    }
                } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                m.takeOwnership(of: b, parent: parent)
                return 0
            }
        }
    }

    /// rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE. Replacing a directory requires it to be
    /// empty of plaintext entries; its ID files go with it.
    func rename(_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>, flags: UInt32) throws -> Int32 {
        let src = try mapper.backingPath(from)
        guard src != vault.path else { return -EBUSY }
        let (parent, name) = try mapper.parentAndName(to)
        let existing = try mapper.lookup(name, in: parent)
        let srcStat = try FileSystem.lstat(src)
        let srcIsDir = srcStat.st_mode & S_IFMT == S_IFDIR
        if flags & sotto_rename_exchange() != 0 {
            guard let existing else { return -ENOENT }
            try retryingCall { sotto_renameat2(AT_FDCWD, src, AT_FDCWD, existing, sotto_rename_exchange()) }
            mapper.forget(src)
            mapper.forget(existing)
            return 0
        }
        let target: String
        if let existing {
            if flags & sotto_rename_noreplace() != 0 { return -EEXIST }
            let dst = try FileSystem.lstat(existing)
            if dst.st_ino == srcStat.st_ino && dst.st_dev == srcStat.st_dev { return 0 }  // same file: nothing to do
            let dstIsDir = dst.st_mode & S_IFMT == S_IFDIR
            if srcIsDir && !dstIsDir { return -ENOTDIR }
            if !srcIsDir && dstIsDir { return -EISDIR }
            if dstIsDir {
                if FileSystem.isSameOrInside(existing, src) { return -EINVAL }
                guard try mapper.isEmptyDirectory(existing) else { return -ENOTEMPTY }
                try mapper.removeDirectory(at: existing)
                target = try mapper.newEntryPath(name, in: parent)
            } else {
                target = existing
            }
        } else {
            target = try mapper.newEntryPath(name, in: parent)
        }
        do {
            try retryingCall { Glibc.rename(src, target) }
        } catch {
            if target != existing { mapper.removeContainerIfEmpty(of: target) }
            throw error
        }
        if srcIsDir { mapper.forget(src) }
        mapper.removeContainerIfEmpty(of: src)
        return 0
    }

    /// A new, empty encrypted file (header and empty final block) at a reserved backing path.
    func createBackingFile(_ path: String, mode: mode_t) throws -> FileDescriptor {
        let fd = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        do {
            try gcm.with { try EncryptedFile.initialize(fd, keys: vault.keys, layout: vault.layout, gcm: $0) }
            if isRoot, let ctx = fuse_get_context() {
                var gid = ctx.pointee.gid
                let parent = String(path[..<path.lastIndex(of: "/")!])
                if let p = try? FileSystem.lstat(PathMapper.container(of: path).map { String($0[..<$0.lastIndex(of: "/")!]) } ?? parent),
                   p.st_mode & S_ISGID != 0 { gid = p.st_gid }
                _ = fchown(fd.rawValue, ctx.pointee.uid, gid)
            }
            try retryingCall { fchmod(fd.rawValue, mode & 0o7777) }
        } catch {
            fd.close()
            _ = try? FileSystem.unlink(path)
            throw error
        }
        return fd
    }

    // MARK: File content

    static func addFileOperations(_ ops: inout fuse_operations) {
        ops.create = { path, mode, fi in
            perform { m in
                let (parent, name) = try m.mapper.parentAndName(path!)
                let b = try m.mapper.newEntryPath(name, in: parent)
                do { try m.createBackingFile(b, mode: mode).close() } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                Handle(try m.files.open(b, write: true)).store(in: fi!)
                return 0
            }
        }
        ops.open = { path, fi in
            perform { m in
                let b = try m.mapper.backingPath(path!)
                let write = fi!.pointee.flags & O_ACCMODE != O_RDONLY
                Handle(try m.files.open(b, write: write)).store(in: fi!)
                return 0
            }
        }
        ops.read = { _, buf, size, offset, fi in
            perform { m in
                guard let h = Handle.file(fi) else { return -EBADF }
                return Int32(try h.file.read(into: UnsafeMutableRawBufferPointer(start: buf, count: size), at: Int(offset)))
            }
        }
        ops.write = { _, buf, size, offset, fi in
            perform { m in
                guard let h = Handle.file(fi) else { return -EBADF }
                try h.file.write(UnsafeRawBufferPointer(start: buf, count: size), at: Int(offset))
                return Int32(size)
            }
        }
        ops.flush = { _, _ in 0 }
        ops.release = { _, fi in
            perform { m in
                if let h = OpenHandle.take(fi) as? Handle { m.files.release(h.file) }
                return 0
            }
        }
        ops.fsync = { _, datasync, fi in
            perform { m in
                guard let h = Handle.file(fi) else { return -EBADF }
                try h.file.sync(dataOnly: datasync != 0)
                return 0
            }
        }
        ops.fallocate = { _, mode, offset, length, fi in
            perform { m in
                // Plain allocation only: grow with (encrypted) zeros. Hole punching and the like
                // would need sparse ciphertext, which the format does not have.
                guard mode == 0 else { return -EOPNOTSUPP }
                guard let h = Handle.file(fi) else { return -EBADF }
                let end = Int(offset + length)
                if end > h.file.size { try h.file.truncate(to: end) }
                return 0
            }
        }
    }

    // MARK: Extended attributes

    /// Not supported in format v1: no attribute exists, and setting one says ENOTSUP, which cp,
    /// rsync and tar treat as "this filesystem has none".
    static func addExtendedAttributeOperations(_ ops: inout fuse_operations) {
        ops.setxattr = { _, _, _, _, _ in -ENOTSUP }
        ops.getxattr = { _, _, _, _ in -ENODATA }
        ops.listxattr = { _, _, _ in 0 }
        ops.removexattr = { _, _ in -ENODATA }
    }
}

/// Runs a libc call returning -1 on failure, throwing its errno.
@inline(__always)
func retryingCall(_ call: () -> Int32) throws(Errno) {
    while call() == -1 {
        let e = errno
        if e != EINTR { throw Errno(e) }
    }
}
