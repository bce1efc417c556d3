#if canImport(Glibc)
import Glibc
#endif

/// Maps plaintext paths (as the kernel hands them to a mount) to backing paths, and makes and
/// removes backing entries by the format's rules (long-name containers, directory ID files).
///
/// Directory IDs are cached per backing directory, in two degrees: the primary ID alone, read
/// from `sotto.dirid` without listing (format v3), which is enough to find any name made under it;
/// or every ID, which takes a listing and is needed to be sure a name does not exist (a directory
/// merged by a sync tool holds names under other IDs). So opening an existing file costs the same
/// in a directory of 10 or 100,000 entries, and only a miss, a create or a v1 vault lists it, once.
/// Every operation of this mount that could change the IDs (rmdir, rename of a directory) drops
/// the affected entries. When other programs may write the vault (`shared`: a sync tool may
/// bring in a second ID file), an entry is used only while the directory's modification time is
/// the one it was read at.
public final class PathMapper: @unchecked Sendable {
    public let vault: Vault
    public let shared: Bool
    /// Whether a lost `sotto.dirid` may be written back: not in a read-only mount, which writes
    /// nothing into the vault, nor with `shared`.
    let repairs: Bool
    private let cacheLock = Mutex()
    private var idCache: [String: (ids: KnownIDs, mtime: timespec)] = [:]
    static let maxCachedDirectories = 4096
    /// Directory listings made to learn IDs (tests: a lookup that found its name made none).
    private(set) var idListings = 0

    private enum KnownIDs {
        case primary([UInt8])
        case all(DirectoryIDs)
    }

    public init(vault: Vault, shared: Bool = false, readOnly: Bool = false) {
        self.vault = vault
        self.shared = shared
        repairs = !shared && !readOnly
    }

    // MARK: Lookup

    private func cached(_ backingDir: String, _ mtime: timespec) -> KnownIDs? {
        guard let hit = cacheLock.withLock({ idCache[backingDir] }),
              hit.mtime.tv_sec == mtime.tv_sec, hit.mtime.tv_nsec == mtime.tv_nsec else { return nil }
        return hit.ids
    }

    private func remember(_ backingDir: String, _ ids: KnownIDs, _ mtime: timespec) {
        cacheLock.withLock {
            if idCache.count >= Self.maxCachedDirectories { idCache.removeAll(keepingCapacity: true) }
            idCache[backingDir] = (ids, mtime)
        }
    }

    /// Taken before reading: a change during the read then shows as a newer time next time.
    private func modificationTime(_ backingDir: String) throws(Errno) -> timespec {
        shared ? try vault.tree.lstat(backingDir).st_mtim : timespec()
    }

    /// Every ID of a directory, the primary first (a listing, unless cached).
    public func directoryIDs(of backingDir: String) throws(Errno) -> DirectoryIDs {
        let mtime = try modificationTime(backingDir)
        if case .all(let ids) = cached(backingDir, mtime) { return ids }
        cacheLock.withLock { idListings += 1 }
        let ids = try vault.readDirectoryIDs(backingDir)
        if repairs, vault.writesPrimaryIDFiles, vault.readPrimaryIDFile(in: backingDir) == nil {
            // A v3 directory whose `sotto.dirid` a crash left missing or torn gets it back, naming
            // the ID that is primary without it: nothing changes, but the next mount's lookups
            // skip the listing. Best effort: a vault on read-only media stays as it is.
            try? vault.replacePrimaryIDFile(ids.primary, in: backingDir)
        }
        remember(backingDir, .all(ids), mtime)
        return ids
    }

    /// The primary ID, from the cache or `sotto.dirid` (no listing); nil for a v1 directory.
    private func primaryID(of backingDir: String, _ mtime: timespec) -> [UInt8]? {
        switch cached(backingDir, mtime) {
        case .all(let ids): return ids.primary
        case .primary(let id): return id
        case nil:
            guard let id = vault.primaryDirectoryID(of: backingDir) else { return nil }
            remember(backingDir, .primary(id), mtime)
            return id
        }
    }

    /// Drops cached IDs of `backingDir` and everything below it (after rmdir or rename).
    public func forget(_ backingDir: String) {
        cacheLock.withLock {
            idCache[backingDir] = nil
            let prefix = backingDir + "/"
            for key in idCache.keys where key.hasPrefix(prefix) { idCache[key] = nil }
        }
    }

    /// The backing path of `name` in `backingDir`, or nil. A name made under the primary ID is
    /// found without knowing the others; anything else needs them all.
    public func lookup(_ name: [UInt8], in backingDir: String) throws(Errno) -> FoundEntry? {
        let mtime = try modificationTime(backingDir)
        if case .all(let ids) = cached(backingDir, mtime) {
            return try vault.existingEntry(name, in: backingDir, ids: ids)
        }
        let primary = primaryID(of: backingDir, mtime)
        if let primary, let found = try vault.existingEntry(name, in: backingDir, underID: primary) {
            return found
        }
        return try vault.existingEntry(name, in: backingDir, ids: try directoryIDs(of: backingDir), alreadyChecked: primary)
    }

    /// Reserves the backing path for a new entry (EEXIST if the name exists).
    public func newEntryPath(_ name: [UInt8], in backingDir: String) throws(Errno) -> String {
        try vault.reserveEntry(name, in: backingDir, ids: try directoryIDs(of: backingDir))
    }

    public func removeContainerIfEmpty(of backingPath: String) { vault.releaseContainer(of: backingPath) }

    public func makeDirectory(at backingPath: String) throws(Errno) { try vault.makeDirectory(at: backingPath) }

    /// Removes a directory that holds no plaintext entry: its ID files, then itself.
    /// ENOTEMPTY if anything else is in it, including foreign files.
    public func removeDirectory(at backingPath: String) throws(Errno) {
        let names = try vault.tree.listDirectory(backingPath)
        var idFiles: [String] = [], primaryFiles: [String] = []
        for n in names {
            switch BackingName(n) {
            case .directoryID: idFiles.append(String(decoding: n, as: UTF8.self))
            case .primaryID, .primaryIDCopy: primaryFiles.append(String(decoding: n, as: UTF8.self))
            default: throw Errno.notEmpty
            }
        }
        // `sotto.dirid` first: while ID files remain, the directory stays readable without it.
        for f in primaryFiles + idFiles { try vault.tree.unlink(backingPath + "/" + f) }
        do { try vault.tree.rmdir(backingPath) } catch {
            // Something appeared meanwhile: give the directory its ID back so its names stay
            // readable (lookups list it once to find the ID, and rewrite `sotto.dirid`).
            for f in idFiles { _ = try? vault.tree.openFile(backingPath + "/" + f, flags: O_WRONLY | O_CREAT, mode: 0o400).close() }
            forget(backingPath)
            throw error
        }
        forget(backingPath)
        vault.releaseContainer(of: backingPath)
    }

    /// Whether a backing directory holds no plaintext entry.
    public func isEmptyDirectory(_ backingPath: String) throws(Errno) -> Bool {
        try vault.tree.listDirectory(backingPath).allSatisfy {
            switch BackingName($0) {
            case .directoryID, .primaryID, .primaryIDCopy: return true
            default: return false
            }
        }
    }
}
