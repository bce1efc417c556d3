import CFuse3
import CFuseRing
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// File content: create, open, read, write, fsync, release, fallocate. No global lock here: each
// file's own lock (in EncryptedFile) orders its block read-modify-writes.

extension Mount {
    static func addFileOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.create = { req, parent, name, mode, fi in
            handle(req) { m in
                let dir = try m.inodes.path(parent)
                let b = try m.mapper.newEntryPath(Mount.name(name), in: dir)
                let file: EncryptedFile
                do { file = try m.files.create(b, mode: mode, owner: m.owner(for: req, parent: dir)) } catch {
                    m.mapper.removeContainerIfEmpty(of: b)
                    throw error
                }
                let h = Handle(file)
                h.store(in: fi!)
                fi!.pointee.keep_cache = m.shared ? 0 : 1
                do {
                    try m.replyEntry(req, parent: parent, name: Mount.name(name), backingPath: b, open: fi) { ino in
                        m.inodes.attach(ino, h.file)
                        h.file.plainPath = m.inodes.plainPath(ino)
                    }
                } catch {
                    m.files.release(h.file)
                    _ = OpenHandle.take(fi)
                    throw error
                }
            }
        }
        ops.open = { req, ino, fi in
            handle(req) { m in
                let b = try m.inodes.path(ino)
                let write = fi!.pointee.flags & O_ACCMODE != O_RDONLY
                let file: EncryptedFile
                do { file = try m.files.open(b, write: write) } catch SottoError.integrity(_, let backing, let detail) {
                    // Damaged before any read (its size): name the plaintext path in the log too.
                    throw SottoError.integrity(path: m.inodes.plainPath(ino) ?? backing, backingPath: backing, detail: detail)
                }
                let h = Handle(file)
                h.file.plainPath = m.inodes.plainPath(ino)
                // libfuse negotiates atomic O_TRUNC: the kernel leaves the truncation to open.
                if fi!.pointee.flags & O_TRUNC != 0 && write {
                    do { try h.file.truncate(to: 0) } catch {
                        m.files.release(h.file)
                        throw error
                    }
                }
                h.store(in: fi!)
                m.inodes.attach(ino, h.file)
                // One kernel inode per backing file, and only this mount writes it: cached pages
                // stay valid across opens. Shared: each open drops them, so it reads what is there now.
                fi!.pointee.keep_cache = m.shared ? 0 : 1
                fuse_reply_open(req, fi)
                if !write && !m.shared, let link = m.inodes.firstLink(ino) { m.readahead.opened(link.name, in: link.parent) }
            }
        }
        ops.read = { req, _, size, offset, fi in
            handle(req) { m in
                guard let h = Handle.file(fi) else { throw Errno(EBADF) }
                if size >= Mount.streamingRead { sotto_ring_streaming() }
                func readAndReply(from p: UnsafeMutableRawPointer) throws {
                    let n = try h.file.read(into: UnsafeMutableRawBufferPointer(start: p, count: size), at: Int(offset))
                    fuse_reply_buf(req, p.assumingMemoryBound(to: CChar.self), n)
                }
                // Through io_uring: decrypt straight into the ring entry the reply goes out of.
                // Otherwise a pooled reply buffer: no allocation (for 128 KiB, an mmap) per read.
                if let p = sotto_ring_reply_buffer(max(size, 1)) {
                    try readAndReply(from: p)
                } else {
                    try m.codecs.with { scratch in try readAndReply(from: scratch.reply(max(size, 1)).baseAddress!) }
                }
            }
        }
        ops.write = { req, _, buf, size, offset, fi in
            handle(req) { m in
                guard let h = Handle.file(fi) else { throw Errno(EBADF) }
                try m.removals.retryingWhenFull { try h.file.write(UnsafeRawBufferPointer(start: buf, count: size), at: Int(offset)) }
                fuse_reply_write(req, size)
            }
        }
        // No flush: every write is already in the backing file, and without the operation the
        // kernel stops sending FLUSH on each close (one round trip less per file).
        ops.release = { req, ino, fi in
            let m = mount(of: req)
            if let h = OpenHandle.take(fi) as? Handle {
                m.inodes.detach(ino)
                m.files.release(h.file)
            }
            fuse_reply_err(req, 0)
        }
        ops.fsync = { req, _, datasync, fi in
            handle(req) { m in
                guard let h = Handle.file(fi) else { throw Errno(EBADF) }
                try h.file.sync(dataOnly: datasync != 0)
                fuse_reply_err(req, 0)
            }
        }
        ops.fallocate = { req, _, mode, offset, length, fi in
            handle(req) { m in
                // Allocation (its space reserved first), KEEP_SIZE reservations, zeroing a range,
                // and punching holes (format 7 on: whole blocks become a hole run).
                let keepSize = mode & FileDescriptor.keepSize != 0
                guard let h = Handle.file(fi) else { throw Errno(EBADF) }
                if mode == FileDescriptor.punchHole | FileDescriptor.keepSize {
                    try h.file.punchHole(offset: Int(offset), length: Int(length))
                    fuse_reply_err(req, 0)
                    return
                }
                let zeroing = mode & ~FileDescriptor.keepSize == FileDescriptor.zeroRange
                guard zeroing || mode & ~FileDescriptor.keepSize == 0 else { throw Errno(EOPNOTSUPP) }
                try m.removals.retryingWhenFull {
                    try h.file.allocate(offset: Int(offset), length: Int(length), keepSize: keepSize, zeroing: zeroing)
                }
                fuse_reply_err(req, 0)
            }
        }
        ops.lseek = { req, _, offset, whence, fi in
            handle(req) { _ in
                guard let h = Handle.file(fi) else { throw Errno(EBADF) }
                guard whence == FileDescriptor.seekData || whence == FileDescriptor.seekHole else { throw Errno.invalid }
                fuse_reply_lseek(req, off_t(try h.file.seek(from: Int(offset), data: whence == FileDescriptor.seekData)))
            }
        }
    }
}
