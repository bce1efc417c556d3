import CFuse3
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// Directories: listings without per-open state (DirectoryListings), so the kernel can skip
// OPENDIR and RELEASEDIR; readdir pages through the listing by name-derived offsets.

extension Mount {
    static func addDirectoryOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.opendir = { req, _, fi in
            // ENOSYS, where the kernel supports it, means "opened, and never send OPENDIR or
            // RELEASEDIR again"; elsewhere an open with no handle.
            if mount(of: req).noOpendir { fuse_reply_err(req, ENOSYS) } else { fuse_reply_open(req, fi) }
        }
        ops.readdir = { req, ino, size, offset, _ in
            handle(req) { m in try m.readDirectory(req, ino, size, offset, plus: false) }
        }
        // READDIRPLUS: names with their attributes in one reply, so `ls -l` needs no LOOKUP per entry.
        ops.readdirplus = { req, ino, size, offset, _ in
            handle(req) { m in try m.readDirectory(req, ino, size, offset, plus: true) }
        }
        ops.releasedir = { req, _, _ in fuse_reply_err(req, 0) }
        ops.fsyncdir = { req, ino, _, _ in
            handle(req) { m in
                try m.vault.tree.syncDirectory(try m.inodes.path(ino))
                fuse_reply_err(req, 0)
            }
        }
    }

    /// The entries of a directory as the mount shows them, "." and ".." first.
    func directoryRows(_ ino: UInt64) throws -> [DirectoryListings.Entry] {
        let b = try inodes.path(ino)
        let dir = VaultEntry(plainPath: b, backingPath: b, info: try vault.tree.lstat(b))
        let (entries, skipped) = try vault.list(dir)
        for s in skipped { log.once("skip:" + s.backingPath, "left out of the listing: \(s)") }
        var parent = stat()
        parent.st_mode = S_IFDIR
        var rows: [DirectoryListings.Entry] = [([0x2E], b, dir.info), ([0x2E, 0x2E], b, parent)]
        rows.reserveCapacity(entries.count + 2)
        for e in entries {
            var st = e.entry.info
            plaintextAttributes(&st, backingPath: e.entry.backingPath)
            rows.append((e.name, e.entry.backingPath, st))
        }
        return rows
    }

    /// One page of a directory from `offset`. With `plus`, each entry sent counts as a lookup
    /// (the kernel now holds it), except "." and "..".
    func readDirectory(_ req: fuse_req_t?, _ ino: UInt64, _ size: Int, _ offset: off_t, plus: Bool) throws {
        if offset >= DirectoryListings.end {
            fuse_reply_buf(req, nil, 0)
            return
        }
        let listing = try listings.listing(for: ino, offset: offset) { try directoryRows(ino) }
        // A reader starting over gets a fresh listing: its order is what a whole-folder reader follows.
        if offset == 0 && !shared { readahead.listed(ino, listing.rows) }
        let buf = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
        defer { buf.deallocate() }
        var used = 0
        var i = listing.firstIndex(resumingAt: offset)
        while i < listing.rows.count {
            let row = listing.rows[i]
            var z = row.name
            z.append(0)
            let isDots = row.key < 2
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
                            e.entry_timeout = entryTimeout
                        }
                        return fuse_add_direntry_plus(req, buf + used, size - used, name, &e, row.next)
                    }
                    var st = stat()
                    st.st_ino = row.attributes.st_ino
                    st.st_mode = row.attributes.st_mode & S_IFMT
                    return fuse_add_direntry(req, buf + used, size - used, name, &st, row.next)
                }
            }
            if used + need > size {
                if remembered != 0 { inodes.forget(remembered, 1) }  // not sent: the kernel does not hold it
                break
            }
            used += need
            i += 1
        }
        if i == listing.rows.count { listings.finished(ino, listing) }
        fuse_reply_buf(req, buf, used)
    }
}
