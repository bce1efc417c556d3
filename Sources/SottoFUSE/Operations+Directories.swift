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
                var parent = stat()
                parent.st_mode = S_IFDIR
                var rows: [DirectoryHandle.Row] = [.init(name: [0x2E], backingPath: b, attributes: dir.info),
                                                   .init(name: [0x2E, 0x2E], backingPath: b, attributes: parent)]
                for e in entries {
                    var st = e.entry.info
                    m.plaintextAttributes(&st, backingPath: e.entry.backingPath)
                    rows.append(.init(name: e.name, backingPath: e.entry.backingPath, attributes: st))
                }
                DirectoryHandle(rows).store(in: fi!)
                fuse_reply_open(req, fi)
            }
        }
        ops.readdir = { req, ino, size, offset, fi in
            handle(req) { m in try m.readDirectory(req, ino, size, offset, fi, plus: false) }
        }
        // READDIRPLUS: names with their attributes in one reply, so `ls -l` needs no LOOKUP per entry.
        ops.readdirplus = { req, ino, size, offset, fi in
            handle(req) { m in try m.readDirectory(req, ino, size, offset, fi, plus: true) }
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

    /// Pages through the snapshot taken at opendir. With `plus`, each entry sent counts as a
    /// lookup (the kernel now holds it), except "." and "..".
    func readDirectory(_ req: fuse_req_t?, _ ino: UInt64, _ size: Int, _ offset: off_t,
                       _ fi: UnsafeMutablePointer<fuse_file_info>?, plus: Bool) throws {
        guard let h = OpenHandle.from(fi) as? DirectoryHandle else { throw Errno(EBADF) }
        let buf = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
        defer { buf.deallocate() }
        var used = 0
        var i = Int(offset)
        while i < h.rows.count {
            let row = h.rows[i]
            var z = row.name
            z.append(0)
            let isDots = i < 2
            var remembered: UInt64 = 0
            let need: Int = z.withUnsafeBufferPointer { n in
                n.baseAddress!.withMemoryRebound(to: CChar.self, capacity: z.count) { name in
                    if plus {
                        var e = fuse_entry_param()
                        e.attr = row.attributes
                        if !isDots {
                            remembered = inodes.remember(parent: ino, name: row.name, backingPath: row.backingPath, stat: row.attributes)
                            e.ino = remembered
                            e.generation = 1
                            e.attr_timeout = Mount.cacheTimeout
                            e.entry_timeout = Mount.cacheTimeout
                        }
                        return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, off_t(i + 1))
                    }
                    var st = stat()
                    st.st_ino = row.attributes.st_ino
                    st.st_mode = row.attributes.st_mode & S_IFMT
                    return fuse_add_direntry(req, buf + used, size - used, name, &st, off_t(i + 1))
                }
            }
            if used + need > size {
                if remembered != 0 { inodes.forget(remembered, 1) }  // not sent: the kernel does not hold it
                break
            }
            used += need
            i += 1
        }
        fuse_reply_buf(req, buf, used)
    }
}
