import CFuse3
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// Directories: opendir takes a snapshot of the decrypted names, readdir pages through it.

extension Mount {
    static func addDirectoryOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.opendir = { req, ino, fi in
            handle(req) { m in
                let b = try m.inodes.path(ino)
                let dir = VaultEntry(plainPath: b, backingPath: b, info: try FileSystem.lstat(b))
                let (entries, skipped) = try m.vault.list(dir)
                for s in skipped { m.log.once("skip:" + s.backingPath, "left out of the listing: \(s)") }
                var rows: [DirectoryHandle.Row] = [.init(name: [0x2E], mode: S_IFDIR, ino: UInt64(dir.info.st_ino)),
                                                   .init(name: [0x2E, 0x2E], mode: S_IFDIR, ino: 0)]
                for e in entries {
                    rows.append(.init(name: e.name, mode: e.entry.info.st_mode & S_IFMT, ino: UInt64(e.entry.info.st_ino)))
                }
                DirectoryHandle(rows).store(in: fi!)
                fuse_reply_open(req, fi)
            }
        }
        ops.readdir = { req, _, size, offset, fi in
            handle(req) { m in
                guard let h = OpenHandle.from(fi) as? DirectoryHandle else { throw Errno(EBADF) }
                let buf = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
                defer { buf.deallocate() }
                var used = 0
                var i = Int(offset)
                while i < h.rows.count {
                    let row = h.rows[i]
                    var st = stat()
                    st.st_ino = ino_t(row.ino)
                    st.st_mode = row.mode
                    var z = row.name
                    z.append(0)
                    let need = z.withUnsafeBufferPointer { n in
                        n.baseAddress!.withMemoryRebound(to: CChar.self, capacity: z.count) {
                            fuse_add_direntry(req, buf + used, size - used, $0, &st, off_t(i + 1))
                        }
                    }
                    if used + need > size { break }
                    used += need
                    i += 1
                }
                fuse_reply_buf(req, buf, used)
            }
        }
        ops.releasedir = { req, _, fi in
            _ = OpenHandle.take(fi)
            fuse_reply_err(req, 0)
        }
        ops.fsyncdir = { req, ino, _, _ in
            handle(req) { m in
                try FileSystem.syncDirectory(try m.inodes.path(ino))
                fuse_reply_err(req, 0)
            }
        }
    }
}
