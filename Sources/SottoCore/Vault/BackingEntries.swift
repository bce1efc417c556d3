import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The format's rules for entries in a backing directory (docs/format.md §6), shared by the
/// offline commands (`VaultTree`) and the mount (`PathMapper`, which adds caching). Errors are
/// plain `Errno`s; callers add context.
/// An existing backing entry and its attributes, as the lookup that found it saw them (so the
/// caller does not resolve the path a second time to stat it).
public struct FoundEntry {
    public let path: String
    public let info: stat
}

extension Vault {
    /// Whether directories made in this vault get a `sotto.dirid` file (format v3).
    var writesPrimaryIDFiles: Bool { config.writesPrimaryIDFiles }

    /// Where an entry named `name` lives under directory ID `id`: the encrypted name, or the
    /// long-name container's `data`.
    func backingPath(for name: [UInt8], in backingDir: String, directoryID id: [UInt8]) throws(Errno) -> String {
        let encoded: String
        do { encoded = try names.encrypt(name, directoryID: id) } catch let e as Errno { throw e } catch { throw Errno.io }
        if encoded.utf8.count <= BackingName.maxEncodedLength { return backingDir + "/" + encoded }
        return backingDir + "/" + (try longName(encoded)) + "/" + BackingName.longDataEntry
    }

    /// `existingEntry(_:in:underID:)` for a name already validated.
    private func entryIfExists(_ name: [UInt8], in backingDir: String, underID id: [UInt8]) throws(Errno) -> FoundEntry? {
        let candidate = try backingPath(for: name, in: backingDir, directoryID: id)
        return (try? tree.lstat(candidate)).map { FoundEntry(path: candidate, info: $0) }
    }

    private func longName(_ encoded: String) throws(Errno) -> String {
        do { return try BackingName.longName(forEncoded: encoded) } catch { throw Errno.io }
    }

    /// The IDs of a backing directory, from its `sotto.dir.*` files (a listing), the primary first;
    /// EIO if it has none (no name in it could be decrypted).
    public func readDirectoryIDs(_ backingDir: String) throws(Errno) -> DirectoryIDs {
        try directoryIDs(in: try tree.listDirectory(backingDir), of: backingDir)
    }

    /// The IDs named by a directory's listing `names`; reads `sotto.dirid` if the listing has one
    /// and there is a choice to make (more than one ID: a directory merged by a sync tool).
    func directoryIDs(in names: [[UInt8]], of backingDir: String) throws(Errno) -> DirectoryIDs {
        var hasPrimaryFile = false
        let ids = names.compactMap { n -> [UInt8]? in
            switch BackingName(n) {
            case .directoryID(let id): return id
            case .primaryID: hasPrimaryFile = true; return nil
            default: return nil
            }
        }
        let primary = hasPrimaryFile && ids.count > 1 ? readPrimaryIDFile(in: backingDir) : nil
        guard let set = DirectoryIDs(ids, primary: primary) else { throw Errno.io }
        return set
    }

    /// The ID `sotto.dirid` names, or nil if it is missing, torn or malformed.
    func readPrimaryIDFile(in backingDir: String) -> [UInt8]? {
        guard let bytes = try? tree.readSmallFile(backingDir + "/" + BackingName.primaryIDFile, limit: 64) else { return nil }
        return DirectoryIDs.parsePrimaryIDText(bytes)
    }

    /// A directory's primary ID without listing it: the ID `sotto.dirid` names, if that ID's own
    /// `sotto.dir.` file exists (so `sotto.dirid` can only choose among the directory's IDs, never
    /// add one). Nil when the directory has no valid `sotto.dirid` (format v1, or torn by a crash):
    /// then only a listing tells its IDs.
    public func primaryDirectoryID(of backingDir: String) -> [UInt8]? {
        guard let id = readPrimaryIDFile(in: backingDir),
              tree.exists(backingDir + "/" + BackingName.directoryIDFile(id)) else { return nil }
        return id
    }

    /// The backing path of the entry `name` made under directory ID `id`, if it exists. Enough to
    /// find a name under a directory's primary ID without knowing (listing) the others.
    public func existingEntry(_ name: [UInt8], in backingDir: String, underID id: [UInt8]) throws(Errno) -> FoundEntry? {
        try PlainName.validate(name)
        return try entryIfExists(name, in: backingDir, underID: id)
    }

    /// The backing path of the existing entry `name` in `backingDir`, under any of its IDs, or nil.
    /// `checked`: an ID the caller has already looked under (the primary, on the fast path).
    public func existingEntry(_ name: [UInt8], in backingDir: String, ids: DirectoryIDs,
                              alreadyChecked checked: [UInt8]? = nil) throws(Errno) -> FoundEntry? {
        try PlainName.validate(name)
        for id in ids.all where id != checked {
            if let found = try entryIfExists(name, in: backingDir, underID: id) { return found }
        }
        // A conflict copy's name is made up, not encrypted: find it among the directory's copies
        // (a listing, only for names that carry the marker).
        guard name.count > ConflictCopy.displayMarker.count,
              (0...(name.count - ConflictCopy.displayMarker.count)).contains(where: { name[$0..<($0 + ConflictCopy.displayMarker.count)].elementsEqual(ConflictCopy.displayMarker) })
        else { return nil }
        let names = try tree.listDirectory(backingDir)
        guard let copy = conflictCopies(in: backingDir, names: names, ids: ids).first(where: { $0.name == name })?.backingPath else { return nil }
        return (try? tree.lstat(copy)).map { FoundEntry(path: copy, info: $0) }
    }

    /// The conflict copies in a backing directory and the plaintext names they are shown under:
    /// copies of encrypted entries, copies of a long-name entry's `data` inside its container,
    /// and twins — the same name made under two IDs of a directory merged by a sync tool, where
    /// the one under the primary ID keeps the name (as lookups find it) and the others are
    /// `copy 2`, `copy 3`. Names that would clash with a real entry (`taken`) or another copy
    /// carry the tool's whole marker instead of the short label.
    /// `twins`: when the caller has them already.
    public func conflictCopies(in backingDir: String, names raw: [[UInt8]], ids: DirectoryIDs, taken: Set<[UInt8]> = [],
                               twins known: [Twin]? = nil) -> [(name: [UInt8], backingPath: String, copy: ConflictCopy)] {
        var found: [(plain: [UInt8], backingPath: String, copy: ConflictCopy)] = []
        for twin in known ?? twins(in: backingDir, names: raw, ids: ids) {
            found.append((twin.name, twin.backingPath, ConflictCopy(original: twin.original, suffix: "", label: "copy \(twin.rank)")))
        }
        for r in raw {
            let text = String(decoding: r, as: UTF8.self)
            switch BackingName(r) {
            case .conflict(let c):
                if let n = ids.all.lazy.compactMap({ self.names.decrypt(c.original, directoryID: $0) }).first {
                    found.append((n, backingDir + "/" + text, c))
                }
            case .long:
                let container = backingDir + "/" + text
                guard let inside = try? tree.listDirectory(container) else { continue }
                let copies = inside.compactMap { ConflictCopy.parse(String(decoding: $0, as: UTF8.self)) }
                    .filter { $0.original == BackingName.longDataEntry }
                guard !copies.isEmpty, let bytes = try? tree.readSmallFile(container + "/" + BackingName.longNameFile, limit: 4096),
                      let encoded = String(validating: bytes, as: UTF8.self),
                      let n = ids.all.lazy.compactMap({ self.names.decrypt(encoded, directoryID: $0) }).first else { continue }
                for c in copies { found.append((n, container + "/" + c.original + c.suffix, c)) }
            default:
                continue
            }
        }
        var used = taken
        var out: [(name: [UInt8], backingPath: String, copy: ConflictCopy)] = []
        found.sort { $0.backingPath < $1.backingPath }
        for f in found {
            var shown = ConflictCopy.displayName(of: f.plain, label: f.copy.label)
            if used.contains(shown) {
                shown = ConflictCopy.displayName(of: f.plain, label: f.copy.suffix.trimmingCharacters(in: CharacterSet(charactersIn: " .()")))
            }
            guard !used.contains(shown) else { continue }
            used.insert(shown)
            out.append((shown, f.backingPath, f.copy))
        }
        return out
    }

    public typealias Twin = (name: [UInt8], backingPath: String, original: String, rank: Int)

    /// Entries of a merged directory whose name another entry also has (under another ID), with
    /// their rank (2, 3, …) in `ids.all` order (the primary first); rank 1 keeps the name. Empty
    /// for a directory with one ID.
    func twins(in backingDir: String, names raw: [[UInt8]], ids: DirectoryIDs) -> [Twin] {
        guard ids.all.count > 1 else { return [] }
        var byName: [[UInt8]: [(idIndex: Int, backingPath: String, original: String)]] = [:]
        for r in raw {
            let text = String(decoding: r, as: UTF8.self)
            var encoded: String, path = backingDir + "/" + text, original = text
            switch BackingName(r) {
            case .encrypted(let s):
                encoded = s
            case .long:
                guard let bytes = try? tree.readSmallFile(path + "/" + BackingName.longNameFile, limit: 4096),
                      let s = String(validating: bytes, as: UTF8.self) else { continue }
                encoded = s
                path += "/" + BackingName.longDataEntry
                original = BackingName.longDataEntry
            default:
                continue
            }
            for (k, id) in ids.all.enumerated() {
                if let n = names.decrypt(encoded, directoryID: id) { byName[n, default: []].append((k, path, original)); break }
            }
        }
        var out: [Twin] = []
        for (name, entries) in byName where entries.count > 1 {
            let ranked = entries.sorted { ($0.idIndex, $0.backingPath) < ($1.idIndex, $1.backingPath) }
            for (i, e) in ranked.enumerated().dropFirst() { out.append((name, e.backingPath, e.original, i + 1)) }
        }
        return out
    }

    /// Reserves the backing path for a new entry `name` (EEXIST if the name exists under any ID):
    /// the encrypted name under the primary ID, or, for a long name, a new container with its
    /// `name` file, whose `data` is returned.
    public func reserveEntry(_ name: [UInt8], in backingDir: String, ids: DirectoryIDs) throws(Errno) -> String {
        if try existingEntry(name, in: backingDir, ids: ids) != nil { throw Errno.exists }
        let encoded: String
        do { encoded = try names.encrypt(name, directoryID: ids.primary) } catch let e as Errno { throw e } catch { throw Errno.io }
        if encoded.utf8.count <= BackingName.maxEncodedLength { return backingDir + "/" + encoded }
        let container = backingDir + "/" + (try longName(encoded))
        try tree.mkdir(container, mode: 0o700)
        do { try writeLongName(encoded, into: container) } catch {
            _ = try? tree.rmdir(container)
            throw error
        }
        return container + "/" + BackingName.longDataEntry
    }

    /// Writes a long-name container's `name` file: temporary file, fsync, rename, so the
    /// container never holds a partial name.
    func writeLongName(_ encoded: String, into container: String) throws(Errno) {
        let tmp: String
        do { tmp = container + "/" + (try BackingName.temporaryName()) } catch { throw Errno.io }
        do {
            try tree.writeFileDurably(tmp, Array(encoded.utf8), mode: 0o400)
            try tree.rename(tmp, container + "/" + BackingName.longNameFile)
        } catch {
            _ = try? tree.unlink(tmp)
            throw error
        }
    }

    /// The long-name container an entry's backing path is in, if any.
    public static func container(of entryPath: String) -> String? {
        guard entryPath.hasSuffix("/" + BackingName.longDataEntry) else { return nil }
        let c = String(entryPath.dropLast(BackingName.longDataEntry.count + 1))
        guard let slash = c.lastIndex(of: "/"), c[c.index(after: slash)...].hasPrefix(BackingName.longPrefix) else { return nil }
        return c
    }

    /// Removes what is left of a long-name container once its entry is gone, or was never made.
    public func releaseContainer(of entryPath: String) {
        guard let c = Self.container(of: entryPath), !tree.exists(entryPath) else { return }
        _ = try? tree.unlink(c + "/" + BackingName.longNameFile)
        _ = try? tree.rmdir(c)
    }

    /// Writes a fresh directory ID file into an existing backing directory and, in a format v3
    /// vault, `sotto.dirid` naming it.
    @discardableResult
    func writeDirectoryID(in backingDir: String) throws(Errno) -> [UInt8] {
        let id: [UInt8]
        do { id = try DirectoryIDs.random() } catch { throw Errno.io }
        // Its content is empty: only the directory entry matters, made durable by the directory's
        // own fsync (fsyncdir, or the import's finishDirectory), not by fsyncing this file.
        try tree.openFile(backingDir + "/" + BackingName.directoryIDFile(id), flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o400).close()
        if writesPrimaryIDFiles { try writePrimaryIDFile(id, in: backingDir) }
        return id
    }

    /// Writes `sotto.dirid` naming `id` over whatever is there (a torn one), through a temporary
    /// name and a rename, so it is never seen half-written.
    func replacePrimaryIDFile(_ id: [UInt8], in backingDir: String) throws(Errno) {
        let tmp: String
        do { tmp = try BackingName.temporaryName() } catch { throw Errno.io }
        do {
            try writePrimaryIDFile(id, in: backingDir, name: tmp)
            try tree.rename(backingDir + "/" + tmp, backingDir + "/" + BackingName.primaryIDFile)
        } catch {
            _ = try? tree.unlink(backingDir + "/" + tmp)
            throw error
        }
    }

    /// Writes `sotto.dirid`. Not fsynced: a crash can leave it empty or missing, and then it is
    /// ignored (lookups list the directory once, as in format v1), `fsck` reports it, and the next
    /// mount that lists the directory for its IDs writes it again (`PathMapper`).
    func writePrimaryIDFile(_ id: [UInt8], in backingDir: String, name: String = BackingName.primaryIDFile) throws(Errno) {
        let fd = try tree.openFile(backingDir + "/" + name, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o400)
        defer { fd.close() }
        try fd.writeAll(DirectoryIDs.primaryIDText(id), at: 0)
    }

    /// Makes a directory with its own fresh ID at a reserved backing path (mode 0700 until the
    /// caller sets the final one).
    public func makeDirectory(at backingPath: String) throws(Errno) {
        try tree.mkdir(backingPath, mode: 0o700)
        do { try writeDirectoryID(in: backingPath) } catch {
            for name in (try? tree.listDirectory(backingPath)) ?? [] {
                _ = try? tree.unlink(backingPath + "/" + String(decoding: name, as: UTF8.self))
            }
            _ = try? tree.rmdir(backingPath)
            throw error
        }
    }
}
