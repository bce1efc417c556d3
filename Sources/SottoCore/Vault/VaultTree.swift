#if canImport(Glibc)
import Glibc
#endif

public enum EntryKind: Sendable {
    case file, directory, symlink, other

    /// From `st_mode` (a plain integer, so no `struct stat` crosses module boundaries: it is
    /// imported once per C module that includes <sys/stat.h>, as distinct Swift types).
    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .file
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        default: self = .other
        }
    }

    /// For messages: "a symlink", "a FIFO, device or socket".
    public var withArticle: String {
        switch self {
        case .file: return "a regular file"
        case .directory: return "a directory"
        case .symlink: return "a symlink"
        case .other: return "a FIFO, device or socket"
        }
    }
}

/// One entry of the plaintext tree and where it lives in the vault directory.
public struct VaultEntry {
    /// Plaintext path inside the vault, for messages ("/" for the root).
    public let plainPath: String
    /// The backing file, directory or symlink (for long names, the container's `data`).
    public let backingPath: String
    public let info: stat

    public init(plainPath: String, backingPath: String, info: stat) {
        self.plainPath = plainPath
        self.backingPath = backingPath
        self.info = info
    }

    public var kind: EntryKind { EntryKind(mode: info.st_mode) }
    public var permissions: mode_t { info.st_mode & 0o7777 }
}

/// Something in the vault directory that is left out of a listing, with why.
public struct SkippedEntry: CustomStringConvertible {
    public let backingPath: String
    public let reason: String
    public var description: String { "\(backingPath): \(reason)" }
}

/// The plaintext tree over the vault directory, for offline commands (import, export, cat, ls).
extension Vault {
    public var root: VaultEntry {
        get throws { VaultEntry(plainPath: "/", backingPath: path, info: try io("stat", path) { () throws(Errno) in try tree.lstat(path) }) }
    }

    /// Splits a user's path into name components ("/a//b/" → ["a", "b"]).
    public static func components(of plainPath: String) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for part in plainPath.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let name = Array(part)
            if name == [0x2E] { continue }
            guard name != [0x2E, 0x2E] else { throw SottoError.invalidArgument("'..' is not allowed in a vault path: '\(plainPath)'") }
            out.append(name)
        }
        return out
    }

    static func join(_ parent: String, _ name: [UInt8]) -> String {
        (parent == "/" ? "" : parent) + "/" + String(decoding: name, as: UTF8.self)
    }

    /// Finds the entry at a plaintext path by encrypting each component: under the directory's
    /// primary ID from `sotto.dirid` (no listing), else under every ID (a listing; format v1).
    public func resolve(_ plainPath: String) throws -> VaultEntry {
        var entry = try root
        for name in try Self.components(of: plainPath) {
            guard entry.kind == .directory else { throw SottoError.notFound(path: plainPath) }
            let dir = entry
            guard let found = try lookup(name, in: dir.backingPath, primary: primaryDirectoryID(of: dir.backingPath),
                                         ids: { try self.directoryIDs(of: dir) }) else {
                throw SottoError.notFound(path: plainPath)
            }
            entry = VaultEntry(plainPath: Self.join(entry.plainPath, name), backingPath: found.path, info: found.info)
        }
        return entry
    }

    public func directoryIDs(of dir: VaultEntry) throws -> DirectoryIDs {
        let names = try io("list", dir.backingPath) { () throws(Errno) in try tree.listDirectory(dir.backingPath) }
        return try directoryIDs(of: dir, names: names)
    }

    func directoryIDs(of dir: VaultEntry, names: [[UInt8]]) throws -> DirectoryIDs {
        do { return try directoryIDs(in: names, of: dir.backingPath) } catch {
            throw SottoError.integrity(path: dir.plainPath, backingPath: dir.backingPath,
                                       detail: "the directory has no sotto.dir.* ID file, so no name in it can be decrypted")
        }
    }

    /// The backing path of `name` in a backing directory, or nil if there is none: under its
    /// `primary` ID first (no listing), then under the others (`ids`: a listing, asked only then).
    func lookup(_ name: [UInt8], in backingDir: String, primary: [UInt8]?, ids: () throws -> DirectoryIDs) throws -> FoundEntry? {
        do {
            if let primary, let found = try existingEntry(name, in: backingDir, underID: primary) { return found }
            return try existingEntry(name, in: backingDir, ids: try ids(), alreadyChecked: primary)
        } catch let error as Errno {
            if error == .io { throw SottoError.io(operation: "look up a name in", path: backingDir, errno: error) }
            throw SottoError.invalidArgument("'\(String(decoding: name, as: UTF8.self))' is not a valid name: \(error)")
        }
    }

    /// The entries of a directory, sorted by name bytes, and what was left out.
    public func list(_ dir: VaultEntry) throws -> (entries: [(name: [UInt8], entry: VaultEntry)], skipped: [SkippedEntry]) {
        let raw = try io("list", dir.backingPath) { () throws(Errno) in try tree.listDirectory(dir.backingPath) }
        let ids = try directoryIDs(of: dir, names: raw)
        var entries: [(name: [UInt8], entry: VaultEntry)] = []
        var skipped: [SkippedEntry] = []
        var mayHoldCopies: [[UInt8]] = []  // conflict copies, and long-name containers (copies of their data sit inside)
        for r in raw {
            let rawText = String(decoding: r, as: UTF8.self)
            let backing = dir.backingPath + "/" + rawText
            var encoded: String
            var entryPath = backing
            switch BackingName(r) {
            case .directoryID, .primaryID, .primaryIDCopy, .temporary, .config, .syncTool:
                continue
            case .conflict:
                mayHoldCopies.append(r)  // below, once every real name is known
                continue
            case .foreign:
                skipped.append(SkippedEntry(backingPath: backing, reason: "not a Sotto name (left by another program?)"))
                continue
            case .encrypted(let s):
                encoded = s
            case .long(let container):
                let nameFile = backing + "/" + BackingName.longNameFile
                guard let bytes = try? tree.readSmallFile(nameFile, limit: 4096), let s = String(validating: bytes, as: UTF8.self),
                      (try? BackingName.longName(forEncoded: s)) == container else {
                    skipped.append(SkippedEntry(backingPath: backing, reason: "long-name container with a missing or mismatched name file"))
                    continue
                }
                encoded = s
                entryPath = backing + "/" + BackingName.longDataEntry
                mayHoldCopies.append(r)
            }
            guard let name = ids.all.lazy.compactMap({ self.names.decrypt(encoded, directoryID: $0) }).first else {
                skipped.append(SkippedEntry(backingPath: backing, reason: "name does not decrypt under this directory's ID (damaged, or moved from another directory)"))
                continue
            }
            guard let st = try? tree.lstat(entryPath) else {
                skipped.append(SkippedEntry(backingPath: entryPath, reason: "entry vanished or is unreadable"))
                continue
            }
            entries.append((name, VaultEntry(plainPath: Self.join(dir.plainPath, name), backingPath: entryPath, info: st)))
        }
        // Twins (one name made under two IDs): the copies leave the real name to the first.
        let twinList = twins(in: dir.backingPath, names: raw, ids: ids)
        let twinPaths = Set(twinList.map(\.backingPath))
        entries.removeAll { twinPaths.contains($0.entry.backingPath) }
        for c in conflictCopies(in: dir.backingPath, names: mayHoldCopies, ids: ids, taken: Set(entries.map(\.name)), twins: twinList) {
            guard let st = try? tree.lstat(c.backingPath) else { continue }
            entries.append((c.name, VaultEntry(plainPath: Self.join(dir.plainPath, c.name), backingPath: c.backingPath, info: st)))
        }
        entries.sort { $0.name.lexicographicallyPrecedes($1.name) }
        return (entries, skipped)
    }

    /// Plaintext size of an entry, from the backing size alone; nil for a file whose size is invalid.
    public func plaintextSize(of entry: VaultEntry) -> Int? {
        plaintextSize(mode: entry.info.st_mode, storedSize: Int(entry.info.st_size))
    }

    /// The same, from a backing `st_mode` and `st_size` (what `stat` shows through the mount).
    public func plaintextSize(mode: mode_t, storedSize: Int) -> Int? {
        switch EntryKind(mode: mode) {
        case .file: return layout.plaintextSize(ciphertextSize: storedSize)
        case .symlink: return SymlinkCipher.plaintextLength(storedLength: storedSize)
        default: return storedSize
        }
    }

    // MARK: Reading

    /// Streams a file's plaintext to `sink`; only authenticated bytes are handed over. With
    /// `holes`, the blocks of its hole runs go there as byte counts instead of zeros to `sink`.
    public func readFile(_ entry: VaultEntry, holes holeSink: ((Int) throws -> Void)? = nil,
                         to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard entry.kind == .file else {
            throw SottoError.invalidArgument("'\(entry.plainPath)' is not a regular file")
        }
        let fd = try io("open", entry.backingPath) { () throws(Errno) in try tree.openFile(entry.backingPath, flags: O_RDONLY) }
        defer { fd.close() }
        do {
            try FileContent.decrypt(fd, keys: keys, layout: layout, holes: config.allowsHoles, holeSink: holeSink, sink: sink)
        } catch let e as FileContent.DecodeError {
            throw SottoError.integrity(path: entry.plainPath, backingPath: entry.backingPath, detail: e.description)
        } catch let e as Errno {
            throw SottoError.io(operation: "read", path: entry.backingPath, errno: e)
        }
    }

    /// A file's extended attributes (docs/format.md §5.6), decrypted; a value that does not
    /// authenticate is an integrity error naming the file.
    public func extendedAttributes(of entry: VaultEntry) throws -> [(name: [UInt8], value: [UInt8])] {
        let fd = try io("open", entry.backingPath) { () throws(Errno) in try tree.openFile(entry.backingPath, flags: O_RDONLY) }
        defer { fd.close() }
        let stored = try io("list extended attributes", entry.backingPath) { () throws(Errno) in
            try fd.extendedAttributeNames().filter { $0.starts(with: ExtendedAttributes.storedPrefix) }
        }
        guard !stored.isEmpty else { return [] }
        let gcm = try AESGCM()
        let header: FileHeader
        do { header = try FileContent.readHeader(fd, keys: self.keys, gcm: gcm) } catch let e as FileContent.DecodeError {
            throw SottoError.integrity(path: entry.plainPath, backingPath: entry.backingPath, detail: e.description)
        }
        let attributeKeys = try ExtendedAttributes(header: header)
        return try stored.compactMap { s in
            guard let name = attributeKeys.plainName(s) else { return nil }
            let sealed = try io("read extended attribute", entry.backingPath) { () throws(Errno) in try fd.extendedAttribute(s) }
            do { return (name, try attributeKeys.open(sealed, storedName: s, gcm: gcm)) } catch {
                throw SottoError.integrity(path: entry.plainPath, backingPath: entry.backingPath,
                                           detail: "extended attribute '\(TerminalText.escaped(String(decoding: name, as: UTF8.self)))' does not authenticate")
            }
        }
    }

    /// Encrypts `source`'s extended attributes of the kept namespaces onto the new backing file
    /// `fd` (import). Nothing is silently dropped: an attribute the vault's filesystem cannot
    /// store fails the import of that file.
    func keepExtendedAttributes(of source: FileDescriptor, in fd: FileDescriptor, backingPath: String, plainPath: String) throws {
        // A source filesystem without extended attributes has none to keep.
        guard let names = try? source.extendedAttributeNames().filter(ExtendedAttributes.isKept), !names.isEmpty else { return }
        let gcm = try AESGCM()
        let keys: ExtendedAttributes
        do { keys = try ExtendedAttributes(header: try FileContent.readHeader(fd, keys: self.keys, gcm: gcm)) } catch let e as FileContent.DecodeError {
            throw SottoError.integrity(path: plainPath, backingPath: backingPath, detail: e.description)
        }
        for name in names {
            let shown = TerminalText.escaped(String(decoding: name, as: UTF8.self))
            guard var value = try? source.extendedAttribute(name) else { continue }  // removed meanwhile
            defer { wipe(&value) }
            guard name.count <= ExtendedAttributes.maxName else {
                throw SottoError.invalidArgument("'\(plainPath)': extended attribute '\(shown)' has a name longer than \(ExtendedAttributes.maxName) bytes, which a vault cannot keep")
            }
            let stored = try keys.storedName(name)
            let sealed = try keys.seal(value, storedName: stored, gcm: gcm)
            try io("keep extended attribute '\(shown)' of", plainPath) { () throws(Errno) in try fd.setExtendedAttribute(stored, sealed, flags: 0) }
        }
    }

    public func readSymlink(_ entry: VaultEntry) throws -> [UInt8] {
        let stored = try io("read link", entry.backingPath) { () throws(Errno) in try tree.readlink(entry.backingPath) }
        do {
            return try symlinks.decrypt(stored, gcm: AESGCM())
        } catch CryptoError.authenticationFailed {
            throw SottoError.integrity(path: entry.plainPath, backingPath: entry.backingPath, detail: "the symlink target does not authenticate")
        }
    }

    // MARK: Creating

    /// Reserves the backing path for a new entry `name` in `dir` (see `reserveEntry`).
    func prepareNewEntry(_ name: [UInt8], in dir: VaultEntry, ids: DirectoryIDs) throws -> String {
        let display = Self.join(dir.plainPath, name)
        do { return try reserveEntry(name, in: dir.backingPath, ids: ids) } catch {
            if error == .exists { throw SottoError.exists(path: display) }
            throw SottoError.io(operation: "create", path: display, errno: error)
        }
    }

    /// Encrypts everything from `source` into a new file `name` in `dir`. The content goes to a
    /// temporary name first and is fsynced, then renamed into place: a crash never leaves a
    /// partial file under the real name.
    @discardableResult
    public func createFile(_ name: [UInt8], in dir: VaultEntry, mode: mode_t, from source: FileDescriptor,
                           modificationTime: timespec? = nil, shouldStop: () -> Bool = { false }) throws -> VaultEntry {
        let ids = try directoryIDs(of: dir)
        let final = try prepareNewEntry(name, in: dir, ids: ids)
        do {
            try writeFile(at: final, plainPath: Self.join(dir.plainPath, name), mode: mode, from: source,
                          modificationTime: modificationTime, replacing: false, shouldStop: shouldStop)
        } catch {
            releaseContainer(of: final)
            throw error
        }
        let st = try io("stat", final) { () throws(Errno) in try tree.lstat(final) }
        return VaultEntry(plainPath: Self.join(dir.plainPath, name), backingPath: final, info: st)
    }

    /// Replaces file `existing` with everything from `source`, as `createFile` writes a new one;
    /// the rename over it is atomic: the old content stays whole until the new one is in place.
    @discardableResult
    public func replaceFile(_ existing: VaultEntry, mode: mode_t, from source: FileDescriptor,
                            modificationTime: timespec? = nil, shouldStop: () -> Bool = { false }) throws -> VaultEntry {
        guard existing.kind == .file else { throw SottoError.invalidArgument("'\(existing.plainPath)' is not a file") }
        try writeFile(at: existing.backingPath, plainPath: existing.plainPath, mode: mode, from: source,
                      modificationTime: modificationTime, replacing: true, shouldStop: shouldStop)
        let st = try io("stat", existing.backingPath) { () throws(Errno) in try tree.lstat(existing.backingPath) }
        return VaultEntry(plainPath: existing.plainPath, backingPath: existing.backingPath, info: st)
    }

    private func writeFile(at final: String, plainPath: String, mode: mode_t, from source: FileDescriptor,
                           modificationTime: timespec?, replacing: Bool, shouldStop: () -> Bool) throws {
        let parent = String(final[..<final.lastIndex(of: "/")!])
        let tmp = parent + "/" + (try BackingName.temporaryName())
        do {
            let fd = try io("create", tmp) { () throws(Errno) in try tree.openFile(tmp, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600) }
            do {
                defer { fd.close() }
                do {
                    try FileContent.encrypt(from: source, to: fd, keys: keys, layout: layout, holes: config.allowsHoles,
                                            shouldStop: shouldStop)
                } catch let e as Errno {
                    throw SottoError.io(operation: "write", path: tmp, errno: e)
                }
                try keepExtendedAttributes(of: source, in: fd, backingPath: tmp, plainPath: plainPath)
                try io("sync", tmp) { () throws(Errno) in try fd.sync() }
                try io("chmod", tmp) { () throws(Errno) in try retryingSyscall { fchmod(fd.rawValue, mode & 0o7777) } }
            }
            if let m = modificationTime {
                try io("set times", tmp) { () throws(Errno) in try tree.setTimes(tmp, access: m, modification: m) }
            }
            try io("rename into place", final) { () throws(Errno) in
                if replacing { try tree.rename(tmp, final) } else { try tree.renameNoReplace(tmp, final) }
            }
        } catch {
            _ = try? tree.unlink(tmp)
            throw error
        }
    }

    /// Makes directory `name` in `dir` with its own random ID. The backing directory stays 0700
    /// until `finishDirectory` applies the final mode (so read-only sources can still be filled).
    public func createDirectory(_ name: [UInt8], in dir: VaultEntry) throws -> VaultEntry {
        let ids = try directoryIDs(of: dir)
        let final = try prepareNewEntry(name, in: dir, ids: ids)
        do {
            try io("create directory", final) { () throws(Errno) in try makeDirectory(at: final) }
        } catch {
            releaseContainer(of: final)
            throw error
        }
        let st = try io("stat", final) { () throws(Errno) in try tree.lstat(final) }
        return VaultEntry(plainPath: Self.join(dir.plainPath, name), backingPath: final, info: st)
    }

    /// Applies a directory's final mode and times and makes its entries durable.
    public func finishDirectory(_ dir: VaultEntry, mode: mode_t, modificationTime: timespec?) throws {
        try io("sync directory", dir.backingPath) { () throws(Errno) in try tree.syncDirectory(dir.backingPath) }
        // Owner keeps write+search on the backing directory; the plaintext mode is what the mount shows.
        try io("chmod", dir.backingPath) { () throws(Errno) in try tree.chmod(dir.backingPath, mode: (mode & 0o7777) | 0o700) }
        if let m = modificationTime {
            try io("set times", dir.backingPath) { () throws(Errno) in try tree.setTimes(dir.backingPath, access: m, modification: m) }
        }
    }

    public func createSymlink(_ name: [UInt8], in dir: VaultEntry, target: [UInt8], modificationTime: timespec? = nil) throws {
        let ids = try directoryIDs(of: dir)
        let final = try prepareNewEntry(name, in: dir, ids: ids)
        do {
            let stored: [UInt8]
            do { stored = try symlinks.encrypt(target, gcm: AESGCM()) } catch let e as Errno {
                throw SottoError.io(operation: "encrypt symlink target of", path: Self.join(dir.plainPath, name), errno: e)
            }
            try io("create symlink", final) { () throws(Errno) in try tree.symlink(target: stored, at: final) }
            if let m = modificationTime {
                try io("set times", final) { () throws(Errno) in try tree.setTimes(final, access: m, modification: m) }
            }
        } catch {
            releaseContainer(of: final)
            throw error
        }
    }
}
