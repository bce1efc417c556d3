import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's inode numbers and what they stand for. One node per backing inode, so every hard
/// link of a file is one kernel inode with one page cache and one set of attributes. A node knows
/// the names the kernel has looked it up by (each kernel dentry came from one of our replies), and
/// the backing path of one of them.
final class InodeTable: @unchecked Sendable {
    struct Link: Hashable { let parent: UInt64; let name: [UInt8] }

    final class Node {
        let ino: UInt64
        let identity: EncryptedFile.Identity
        var links: [Link]
        var backingPath: String?
        var lookups: UInt64 = 0
        /// The open state while any handle has the file open: reaches it after its last name is gone.
        var openFile: EncryptedFile?
        var openCount = 0
        init(ino: UInt64, identity: EncryptedFile.Identity, link: Link?, backingPath: String) {
            self.ino = ino
            self.identity = identity
            self.links = link.map { [$0] } ?? []
            self.backingPath = backingPath
        }
    }

    static let rootIno: UInt64 = 1  // FUSE_ROOT_ID
    private let lock = Mutex()
    private var nodes: [UInt64: Node] = [:]
    private var byIdentity: [EncryptedFile.Identity: UInt64] = [:]
    /// Which node each known name belongs to: unlink and rename find it without a scan.
    private var byLink: [Link: UInt64] = [:]
    private var nextIno: UInt64 = 2
    let mapper: PathMapper

    init(rootPath: String, rootStat: stat, mapper: PathMapper) {
        self.mapper = mapper
        let id = EncryptedFile.Identity(device: UInt64(rootStat.st_dev), inode: UInt64(rootStat.st_ino))
        nodes[Self.rootIno] = Node(ino: Self.rootIno, identity: id, link: nil, backingPath: rootPath)
        byIdentity[id] = Self.rootIno
    }

    /// The backing path of an inode; ENOENT once every name of it is gone.
    func path(_ ino: UInt64) throws(Errno) -> String {
        guard let p = lock.withLock({ nodes[ino]?.backingPath }) else { throw Errno.noEntry }
        return p
    }

    /// The backing path of `parent/name` if the kernel knows that name as a node's only name (a
    /// hard-linked node's path may be another of its names): saves an encryption and an lstat.
    func cachedPath(parent: UInt64, name: [UInt8]) -> String? {
        lock.withLock {
            let link = Link(parent: parent, name: name)
            guard let ino = byLink[link], let node = nodes[ino], node.links.count == 1, node.links[0] == link else { return nil }
            return node.backingPath
        }
    }

    /// A plaintext path of an inode (for log lines), from the names the kernel knows it by.
    func plainPath(_ ino: UInt64) -> String? {
        lock.withLock {
            var parts: [[UInt8]] = []
            var current = ino
            while current != Self.rootIno {
                guard let link = nodes[current]?.links.first, parts.count < 4096 else { return nil }
                parts.append(link.name)
                current = link.parent
            }
            return "/" + parts.reversed().map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
        }
    }

    /// One name the kernel knows the inode by.
    func firstLink(_ ino: UInt64) -> Link? { lock.withLock { nodes[ino]?.links.first } }

    /// The open state of an inode whose every name may be gone (fstat or fchmod after unlink).
    func openFile(_ ino: UInt64) -> EncryptedFile? { lock.withLock { nodes[ino]?.openFile } }

    func attach(_ ino: UInt64, _ file: EncryptedFile) {
        lock.withLock {
            guard let node = nodes[ino] else { return }
            node.openFile = file
            node.openCount += 1
        }
    }

    func detach(_ ino: UInt64) {
        lock.withLock {
            guard let node = nodes[ino] else { return }
            node.openCount -= 1
            if node.openCount <= 0 { node.openFile = nil; node.openCount = 0 }
        }
    }

    /// Records that the kernel now knows `parent/name` as the inode behind `st` (one more lookup).
    func remember(parent: UInt64, name: [UInt8], backingPath: String, stat st: stat) -> UInt64 {
        let id = EncryptedFile.Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        let link = Link(parent: parent, name: name)
        return lock.withLock {
            if let ino = byIdentity[id], let node = nodes[ino], !(node.links.isEmpty && node.ino != Self.rootIno) {
                if !node.links.contains(link) { node.links.append(link) }
                byLink[link] = ino
                node.backingPath = backingPath
                node.lookups += 1
                return ino
            }
            // New, or a backing inode number reused after its old file lost every name.
            let ino = nextIno
            nextIno += 1
            let node = Node(ino: ino, identity: id, link: link, backingPath: backingPath)
            node.lookups = 1
            nodes[ino] = node
            byIdentity[id] = ino
            byLink[link] = ino
            return ino
        }
    }

    func forget(_ ino: UInt64, _ count: UInt64) {
        guard ino != Self.rootIno else { return }
        lock.withLock {
            guard let node = nodes[ino] else { return }
            node.lookups = node.lookups > count ? node.lookups - count : 0
            if node.lookups == 0 {
                nodes[ino] = nil
                if byIdentity[node.identity] == ino { byIdentity[node.identity] = nil }
                for l in node.links where byLink[l] == ino { byLink[l] = nil }
            }
        }
    }

    /// `parent/name` no longer exists (unlink, rmdir, or replaced by a rename).
    func removeLink(parent: UInt64, name: [UInt8], backingPath: String) {
        lock.withLock {
            let link = Link(parent: parent, name: name)
            guard let ino = byLink.removeValue(forKey: link), let node = nodes[ino] else { return }
            node.links.removeAll { $0 == link }
            if node.backingPath == backingPath { node.backingPath = nil }
            if node.backingPath == nil, let other = node.links.first, let pp = nodes[other.parent]?.backingPath {
                // Another name of the same file: find its backing path again.
                node.backingPath = (try? mapper.lookup(other.name, in: pp))?.path
            }
        }
    }

    /// `parent/name` was renamed to `newParent/newName` at `newPath`. A directory's descendants
    /// move with it, so their cached backing paths are rewritten by prefix.
    func rename(parent: UInt64, name: [UInt8], from oldPath: String, to newParent: UInt64, newName: [UInt8], newPath: String,
                isDirectory: Bool) {
        lock.withLock {
            let old = Link(parent: parent, name: name), new = Link(parent: newParent, name: newName)
            if let ino = byLink.removeValue(forKey: old), let node = nodes[ino] {
                node.links = node.links.map { $0 == old ? new : $0 }
                byLink[new] = ino
                if node.backingPath == oldPath { node.backingPath = newPath }
            }
            guard isDirectory else { return }
            let prefix = oldPath + "/"
            for node in nodes.values {
                if let p = node.backingPath, p.hasPrefix(prefix) { node.backingPath = newPath + "/" + p.dropFirst(prefix.count) }
            }
        }
    }

    /// After RENAME_EXCHANGE: the two names swapped entries.
    func exchange(_ a: Link, _ aPath: String, _ b: Link, _ bPath: String) {
        lock.withLock {
            let na = byLink[a].flatMap { nodes[$0] }, nb = byLink[b].flatMap { nodes[$0] }
            if let na { na.links = na.links.map { $0 == a ? b : $0 }; byLink[b] = na.ino } else { byLink[b] = nil }
            if let nb { nb.links = nb.links.map { $0 == b ? a : $0 }; byLink[a] = nb.ino } else { byLink[a] = nil }
            if na?.backingPath == aPath { na?.backingPath = bPath }
            if nb?.backingPath == bPath { nb?.backingPath = aPath }
            // Descendants of exchanged directories: rewrite through a placeholder so the two
            // prefixes do not overwrite each other.
            let marker = "\u{0}exchange\u{0}/"
            for node in nodes.values where node !== na && node !== nb {
                guard let p = node.backingPath else { continue }
                if p.hasPrefix(aPath + "/") { node.backingPath = marker + p.dropFirst(aPath.count + 1) }
                else if p.hasPrefix(bPath + "/") { node.backingPath = aPath + "/" + p.dropFirst(bPath.count + 1) }
            }
            for node in nodes.values {
                if let p = node.backingPath, p.hasPrefix(marker) { node.backingPath = bPath + "/" + p.dropFirst(marker.count) }
            }
        }
    }
}
