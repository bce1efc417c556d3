import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Directory listings for READDIR without per-open state, so the kernel can skip OPENDIR and
/// RELEASEDIR (two round trips per directory read; FUSE's no-opendir mode).
///
/// Each entry's directory offset comes from its name, not its position: a reader that resumes at
/// an offset gets the entries whose name keys follow it in whatever listing is current, so an
/// entry that neither appeared nor vanished meanwhile is returned exactly once (POSIX readdir's
/// promise) even if the directory changed, the listing was rebuilt, or another reader started
/// over at offset 0.
final class DirectoryListings: @unchecked Sendable {
    /// An entry as listed: its plaintext name, backing path and attributes as the mount shows them.
    typealias Entry = (name: [UInt8], backingPath: String, attributes: stat)

    struct Row {
        let name: [UInt8]
        let backingPath: String
        let attributes: stat
        /// Where this entry sorts: a reader resuming at an offset gets the rows with key ≥ it.
        let key: off_t
        /// The offset to resume after this entry (what the kernel hands back): key + 1, or `end`.
        let next: off_t
    }

    /// Rows sorted by offset; immutable once built, shared by every reader of the directory.
    final class Listing: Sendable {
        let rows: [Row]
        init(_ rows: [Row]) { self.rows = rows }

        /// The first row not yet returned to a reader resuming at `offset`.
        func firstIndex(resumingAt offset: off_t) -> Int {
            var lo = 0, hi = rows.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if rows[mid].key < offset { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    /// "." resumes at 1, ".." at 2; named entries between 3 and 2^62 + 3; the last row of a
    /// listing at `end`, after which there is nothing to list (no rebuild to find that out).
    static let end: off_t = (1 << 62) + 8

    /// Listings being read, by directory inode. A listing is dropped when its last row has been
    /// returned; a reader that comes back later rebuilds it. Bounded in rows so a huge directory
    /// read by many programs at once cannot hold memory indefinitely.
    private let lock = Mutex()  // pthread-based: ThreadSanitizer sees it (it does not see Synchronization's)
    private var byDirectory: [UInt64: Listing] = [:]
    private var cachedRows = 0
    static let maxCachedRows = 200_000

    /// The listing to serve `offset` from: a fresh one for a reader starting at 0 (attributes as
    /// they are now), else the one being read, built if it is gone.
    func listing(for ino: UInt64, offset: off_t, build: () throws -> [Entry]) throws -> Listing {
        if offset != 0, let l = lock.withLock({ byDirectory[ino] }) { return l }
        let l = Listing(Self.order(try build()))
        lock.withLock {
            if let old = byDirectory[ino] { cachedRows -= old.rows.count }
            if cachedRows + l.rows.count > Self.maxCachedRows { byDirectory = [:]; cachedRows = 0 }
            byDirectory[ino] = l
            cachedRows += l.rows.count
        }
        return l
    }

    /// The reader got the last row: drop the listing unless another reader replaced it.
    func finished(_ ino: UInt64, _ l: Listing) {
        lock.withLock {
            if byDirectory[ino] === l {
                byDirectory[ino] = nil
                cachedRows -= l.rows.count
            }
        }
    }

    /// Sorts entries by their name key ("." and ".." first) and gives each its resume offset.
    /// Keys are a hash of the name; equal keys (two names colliding) are separated by one, so
    /// offsets stay strictly increasing within a listing.
    static func order(_ entries: [Entry]) -> [Row] {
        var keyed = entries.map { e -> (key: Int64, e: Entry) in
            if e.name == [0x2E] { return (0, e) }
            if e.name == [0x2E, 0x2E] { return (1, e) }
            return (2 + Int64(fnv1a(e.name) % (1 << 62)), e)
        }
        keyed.sort { $0.key != $1.key ? $0.key < $1.key : $0.e.name.lexicographicallyPrecedes($1.e.name) }
        var rows: [Row] = []
        rows.reserveCapacity(keyed.count)
        var previous: Int64 = -1
        for (i, k) in keyed.enumerated() {
            let key = max(k.key, previous + 1)
            previous = key
            let next = i == keyed.count - 1 ? end : off_t(key + 1)
            rows.append(Row(name: k.e.name, backingPath: k.e.backingPath, attributes: k.e.attributes, key: off_t(key), next: next))
        }
        return rows
    }

    /// FNV-1a, 64 bits: stable across runs and builds (Swift's Hasher is seeded per process).
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
