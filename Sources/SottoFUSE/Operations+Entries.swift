import CFuse3
import CFuseRing
import CSottoShims
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// Names: lookup and forget, creating and removing entries, links, renames.

extension Mount {
    static func addEntryOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.`init` = { userdata, conn in
            let m = Unmanaged<Mount>.fromOpaque(userdata!).takeUnretainedValue()
            // Without OPENDIR the kernel also caches listings, trusting the directory's mtime to
            // tell it of changes: true when only this mount writes, not quite with --shared (two
            // changes a sync tool makes within one clock tick share an mtime).
            m.noOpendir = !m.shared && conn!.pointee.capable & UInt32(FUSE_CAP_NO_OPENDIR_SUPPORT) != 0
            // Where no hook sees the INIT reply (libfuse 3.17+), the transport is told here.
            sotto_ring_init_done(m.ring)
        }
        ops.lookup = { req, parent, name in
            handle(req) { m in
                let dir = try m.inodes.path(parent)
                guard let found = try m.mapper.lookup(Mount.name(name), in: dir) else {
                    // A negative entry the kernel may cache: only this mount creates names.
                    var e = fuse_entry_param()
                    e.entry_timeout = Mount.cacheTimeout
                    fuse_reply_entry(req, &e)
                    return
                }
                try m.replyEntry(req, parent: parent, name: Mount.name(name), backingPath: found.path, attributes: found.info)
            }
        }
        ops.forget = { req, ino, n in
            mount(of: req).inodes.forget(ino, n)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, list in
            let m = mount(of: req)
            for i in 0..<count { m.inodes.forget(list![i].ino, list![i].nlookup) }
            fuse_reply_none(req)
        }
        ops.mkdir = { req, parent, name, mode in
            handle(req) { m in
                let dir = try m.inodes.path(parent)
                let b = try m.mapper.newEntryPath(Mount.name(name), in: dir)
                do { try m.mapper.makeDirectory(at: b) } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                m.takeOwnership(of: b, parent: dir, request: req)
                try m.vault.tree.chmod(b, mode: (mode & 0o7777) | m.inheritedSetgid(dir))
                try m.replyEntry(req, parent: parent, name: Mount.name(name), backingPath: b)
            }
        }
        ops.mknod = { req, parent, name, mode, rdev in
            handle(req) { m in
                let dir = try m.inodes.path(parent)
                let b = try m.mapper.newEntryPath(Mount.name(name), in: dir)
                do {
                    if mode & S_IFMT == S_IFREG {
                        m.files.release(try m.files.create(b, mode: mode, owner: m.owner(for: req, parent: dir)))
                    } else {
                        try m.vault.tree.mknod(b, mode: mode, device: rdev)
                        m.takeOwnership(of: b, parent: dir, request: req)
                        try m.vault.tree.chmod(b, mode: mode & 0o7777)  // the daemon's umask applied to mknod
                    }
                } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                try m.replyEntry(req, parent: parent, name: Mount.name(name), backingPath: b)
            }
        }
        ops.symlink = { req, target, parent, name in
            handle(req) { m in
                let dir = try m.inodes.path(parent)
                let stored = try m.codecs.with { try m.vault.symlinks.encrypt(Mount.name(target), gcm: $0.gcm) }
                let b = try m.mapper.newEntryPath(Mount.name(name), in: dir)
                do { try m.vault.tree.symlink(target: stored, at: b) } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                m.takeOwnership(of: b, parent: dir, request: req)
                try m.replyEntry(req, parent: parent, name: Mount.name(name), backingPath: b)
            }
        }
        ops.link = { req, ino, newParent, newName in
            handle(req) { m in
                let src = try m.inodes.path(ino)
                let dir = try m.inodes.path(newParent)
                let b = try m.mapper.newEntryPath(Mount.name(newName), in: dir)
                do { try m.vault.tree.link(src, b) } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                try m.replyEntry(req, parent: newParent, name: Mount.name(newName), backingPath: b)
            }
        }
        ops.unlink = { req, parent, name in
            handle(req) { m in
                guard let b = try m.existingPath(parent, Mount.name(name)) else { throw Errno.noEntry }
                // unlink(2) of a directory fails with EISDIR on Linux (and the kernel checks first).
                try m.removals.freeingLater(b) { try m.vault.tree.unlink(b) }
                m.mapper.removeContainerIfEmpty(of: b)
                m.inodes.removeLink(parent: parent, name: Mount.name(name), backingPath: b)
                fuse_reply_err(req, 0)
            }
        }
        ops.rmdir = { req, parent, name in
            handle(req) { m in
                guard let b = try m.existingPath(parent, Mount.name(name)) else { throw Errno.noEntry }
                guard try m.vault.tree.lstat(b).st_mode & S_IFMT == S_IFDIR else { throw Errno.notDirectory }
                try m.mapper.removeDirectory(at: b)
                m.inodes.removeLink(parent: parent, name: Mount.name(name), backingPath: b)
                fuse_reply_err(req, 0)
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            handle(req) { m in
                try m.rename(parent: parent, name: Mount.name(name), newParent: newParent, newName: Mount.name(newName), flags: flags)
                fuse_reply_err(req, 0)
            }
        }
    }

    /// The backing path of an existing `parent/name`: from the inode table when the kernel knows
    /// the name, else by encrypting it.
    func existingPath(_ parent: UInt64, _ name: [UInt8]) throws -> String? {
        if let cached = inodes.cachedPath(parent: parent, name: name) { return cached }
        return try mapper.lookup(name, in: try inodes.path(parent))?.path
    }

    /// rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE. Replacing a directory requires it to be
    /// empty of plaintext entries; its ID files go with it.
    func rename(parent: UInt64, name: [UInt8], newParent: UInt64, newName: [UInt8], flags: UInt32) throws {
        let dstDir = try inodes.path(newParent)
        guard let src = try existingPath(parent, name) else { throw Errno.noEntry }
        let existing = try mapper.lookup(newName, in: dstDir)?.path
        let srcStat = try vault.tree.lstat(src)
        let srcIsDir = srcStat.st_mode & S_IFMT == S_IFDIR
        if srcIsDir, dstDir == src || dstDir.hasPrefix(src + "/") { throw Errno.invalid }  // into itself (backing paths are canonical)
        if flags & sotto_rename_exchange() != 0 {
            guard let existing else { throw Errno.noEntry }
            try vault.tree.rename(src, existing, flags: sotto_rename_exchange())
            mapper.forget(src)
            mapper.forget(existing)
            inodes.exchange(.init(parent: parent, name: name), src, .init(parent: newParent, name: newName), existing)
            return
        }
        let target: String
        if let existing {
            if flags & sotto_rename_noreplace() != 0 { throw Errno.exists }
            let dst = try vault.tree.lstat(existing)
            if dst.st_ino == srcStat.st_ino && dst.st_dev == srcStat.st_dev { return }  // two names of one file
            let dstIsDir = dst.st_mode & S_IFMT == S_IFDIR
            if srcIsDir && !dstIsDir { throw Errno.notDirectory }
            if !srcIsDir && dstIsDir { throw Errno.isDirectory }
            if dstIsDir {
                guard try mapper.isEmptyDirectory(existing) else { throw Errno.notEmpty }
                try mapper.removeDirectory(at: existing)
                target = try mapper.newEntryPath(newName, in: dstDir)
            } else {
                target = existing
            }
            inodes.removeLink(parent: newParent, name: newName, backingPath: existing)
        } else {
            target = try mapper.newEntryPath(newName, in: dstDir)
        }
        do {
            try removals.freeingLater(target == existing ? target : nil) { try vault.tree.rename(src, target) }
        } catch {
            if target != existing { mapper.removeContainerIfEmpty(of: target) }
            throw error
        }
        if srcIsDir { mapper.forget(src) }
        mapper.removeContainerIfEmpty(of: src)
        inodes.rename(parent: parent, name: name, from: src, to: newParent, newName: newName, newPath: target, isDirectory: srcIsDir)
    }
}

