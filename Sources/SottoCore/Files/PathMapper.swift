#if canImport(Glibc)
import Glibc
#endif

/// Maps plaintext paths (as the kernel hands them to a mount) to backing paths, and makes and
/// removes backing entries by the format's rules (long-name containers, directory ID files).
/// Directory IDs are cached per backing directory: only this mount writes the vault, and every
/// operation that could change them (rmdir, rename of a directory) drops the affected entries.
public final class PathMapper: @unchecked Sendable {
    public let vault: Vault
    private let cacheLock = Mutex()
    private var idCache: [String: DirectoryIDs] = [:]
    static let maxCachedDirectories = 4096

    public init(vault: Vault) { self.vault = vault }

    // MARK: Lookup

    public func directoryIDs(of backingDir: String) throws(Errno) -> DirectoryIDs {
        if let ids = cacheLock.withLock({ idCache[backingDir] }) { return ids }
        let names = try FileSystem.listDirectory(backingDir)
        let found = names.compactMap { n -> [UInt8]? in
            if case .directoryID(let id) = BackingName(n) { return id }
            return nil
        }
        guard let ids = DirectoryIDs(found) else { throw Errno.io }  // a directory without an ID shows nothing
        cacheLock.withLock {
            if idCache.count >= Self.maxCachedDirectories { idCache.removeAll(keepingCapacity: true) }
            idCache[backingDir] = ids
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

    /// Splits a kernel path ("/a/b") into name components.
    static func components(_ path: UnsafePointer<CChar>) -> [[UInt8]] {
        let len = strlen(path)
        return UnsafeRawBufferPointer(start: path, count: len).split(separator: UInt8(ascii: "/")).map(Array.init)
    }

    /// The backing path of an existing entry; ENOENT if any component is missing.
    public func backingPath(_ path: UnsafePointer<CChar>) throws(Errno) -> String {
        var current = vault.path
        for name in Self.components(path) {
            guard let found = try lookup(name, in: current) else { throw Errno.noEntry }
            current = found
        }
        return current
    }

    /// The parent's backing path and the last name of `path`.
    public func parentAndName(_ path: UnsafePointer<CChar>) throws(Errno) -> (parent: String, name: [UInt8]) {
        var parts = Self.components(path)
        guard let name = parts.popLast() else { throw Errno(EBUSY) }  // the root itself
        var current = vault.path
        for p in parts {
            guard let found = try lookup(p, in: current) else { throw Errno.noEntry }
            current = found
        }
        return (current, name)
    }

    /// The backing path of `name` in `backingDir`, or nil.
    public func lookup(_ name: [UInt8], in backingDir: String) throws(Errno) -> String? {
        try PlainName.validate(name)
        let ids = try directoryIDs(of: backingDir)
        for id in ids.all {
            let candidate: String
            do { candidate = try vault.backingPath(for: name, in: backingDir, directoryID: id) } catch { throw Errno.io }
            if FileSystem.exists(candidate) { return candidate }
        }
        return nil
    }

    // MARK: Creating and removing

    /// Reserves the backing path for a new entry (EEXIST if the name exists); for a long name,
    /// makes the container and its name file first.
    public func newEntryPath(_ name: [UInt8], in backingDir: String) throws(Errno) -> String {
        if try lookup(name, in: backingDir) != nil { throw Errno.exists }
        let ids = try directoryIDs(of: backingDir)
        let encoded: String
        do { encoded = try vault.names.encrypt(name, directoryID: ids.primary) } catch let e as Errno { throw e } catch { throw Errno.io }
        if encoded.utf8.count <= BackingName.maxEncodedLength { return backingDir + "/" + encoded }
        let container: String, tmp: String
        do {
            container = backingDir + "/" + (try BackingName.longName(forEncoded: encoded))
            tmp = container + "/" + (try BackingName.temporaryName())
        } catch { throw Errno.io }
        try FileSystem.mkdir(container, mode: 0o700)
        do {
            try writeFileDurably(tmp, Array(encoded.utf8), mode: 0o400)
            try FileSystem.rename(tmp, container + "/" + BackingName.longNameFile)
        } catch {
            _ = try? FileSystem.unlink(tmp)
            _ = try? FileSystem.rmdir(container)
            throw error
        }
        return container + "/" + BackingName.longDataEntry
    }

    /// The long-name container an entry lives in, if it does.
    public static func container(of backingPath: String) -> String? {
        guard backingPath.hasSuffix("/" + BackingName.longDataEntry) else { return nil }
        let c = String(backingPath.dropLast(BackingName.longDataEntry.count + 1))
        guard let slash = c.lastIndex(of: "/"), c[c.index(after: slash)...].hasPrefix(BackingName.longPrefix) else { return nil }
        return c
    }

    /// Removes what is left of a long-name container once its entry is gone (or was never made).
    public func removeContainerIfEmpty(of backingPath: String) {
        guard let c = Self.container(of: backingPath), !FileSystem.exists(backingPath) else { return }
        _ = try? FileSystem.unlink(c + "/" + BackingName.longNameFile)
        _ = try? FileSystem.rmdir(c)
    }

    /// Makes a directory with a fresh ID at a reserved path.
    public func makeDirectory(at backingPath: String) throws(Errno) {
        try FileSystem.mkdir(backingPath, mode: 0o700)
        do {
            let id = try DirectoryIDs.random()
            let p = backingPath + "/" + BackingName.directoryIDFile(id)
            let fd = try FileDescriptor.open(p, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o400)
            fd.close()
        } catch {
            _ = try? FileSystem.rmdir(backingPath)
            throw (error as? Errno) ?? Errno.io
        }
    }

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
        removeContainerIfEmpty(of: backingPath)
    }

    /// Whether a backing directory holds no plaintext entry.
    public func isEmptyDirectory(_ backingPath: String) throws(Errno) -> Bool {
        try FileSystem.listDirectory(backingPath).allSatisfy { if case .directoryID = BackingName($0) { return true } else { return false } }
    }
}
