#if canImport(Glibc)
import Glibc
#endif

/// Maps plaintext paths (as the kernel hands them to a mount) to backing paths, and makes and
/// removes backing entries by the format's rules (long-name containers, directory ID files).
/// Directory IDs are cached per backing directory: every operation of this mount that could
/// change them (rmdir, rename of a directory) drops the affected entries. When other programs may
/// write the vault (`shared`: a sync tool may bring in a second ID file), an entry is used only
/// while the directory's modification time is the one it was read at.
public final class PathMapper: @unchecked Sendable {
    public let vault: Vault
    public let shared: Bool
    private let cacheLock = Mutex()
    private var idCache: [String: (ids: DirectoryIDs, mtime: timespec)] = [:]
    static let maxCachedDirectories = 4096

    public init(vault: Vault, shared: Bool = false) {
        self.vault = vault
        self.shared = shared
    }

    // MARK: Lookup

    public func directoryIDs(of backingDir: String) throws(Errno) -> DirectoryIDs {
        // Taken before listing: a change during the listing then shows as a newer time next time.
        let mtime = shared ? try FileSystem.lstat(backingDir).st_mtim : timespec()
        if let hit = cacheLock.withLock({ idCache[backingDir] }),
           hit.mtime.tv_sec == mtime.tv_sec, hit.mtime.tv_nsec == mtime.tv_nsec { return hit.ids }
        let ids = try vault.readDirectoryIDs(backingDir)
        cacheLock.withLock {
            if idCache.count >= Self.maxCachedDirectories { idCache.removeAll(keepingCapacity: true) }
            idCache[backingDir] = (ids, mtime)
        }
        return ids
    }

    /// Drops cached IDs of `backingDir` and everything below it (after rmdir or rename).
    public func forget(_ backingDir: String) {
        cacheLock.withLock {
            idCache[backingDir] = nil
            let prefix = backingDir + "/"
            for key in idCache.keys where key.hasPrefix(prefix) { idCache[key] = nil }
        }
    }

    /// The backing path of `name` in `backingDir`, or nil.
    public func lookup(_ name: [UInt8], in backingDir: String) throws(Errno) -> String? {
        try vault.existingEntry(name, in: backingDir, ids: try directoryIDs(of: backingDir))
    }

    /// Reserves the backing path for a new entry (EEXIST if the name exists).
    public func newEntryPath(_ name: [UInt8], in backingDir: String) throws(Errno) -> String {
        try vault.reserveEntry(name, in: backingDir, ids: try directoryIDs(of: backingDir))
    }

    public func removeContainerIfEmpty(of backingPath: String) { Vault.releaseContainer(of: backingPath) }

    public func makeDirectory(at backingPath: String) throws(Errno) { try vault.makeDirectory(at: backingPath) }

    /// Removes a directory that holds no plaintext entry: its ID files, then itself.
    /// ENOTEMPTY if anything else is in it, including foreign files.
    public func removeDirectory(at backingPath: String) throws(Errno) {
        let names = try FileSystem.listDirectory(backingPath)
        var idFiles: [String] = []
        for n in names {
            switch BackingName(n) {
            case .directoryID: idFiles.append(String(decoding: n, as: UTF8.self))
            default: throw Errno.notEmpty
            }
        }
        for f in idFiles { try FileSystem.unlink(backingPath + "/" + f) }
        do { try FileSystem.rmdir(backingPath) } catch {
            // Something appeared meanwhile: give the directory its ID back so its names stay readable.
            for f in idFiles { _ = try? FileDescriptor.open(backingPath + "/" + f, flags: O_WRONLY | O_CREAT, mode: 0o400).close() }
            throw error
        }
        forget(backingPath)
        Vault.releaseContainer(of: backingPath)
    }

    /// Whether a backing directory holds no plaintext entry.
    public func isEmptyDirectory(_ backingPath: String) throws(Errno) -> Bool {
        try FileSystem.listDirectory(backingPath).allSatisfy { if case .directoryID = BackingName($0) { return true } else { return false } }
    }
}
