/// How entries are named in an encrypted directory (formats v1 and v3, docs/format.md §2).
///
/// - `<base64url(AES-SIV(name; AD = directory ID))>`: a file, directory or symlink whose plaintext
///   name is `name`. Deterministic, so a lookup encrypts the name instead of listing the directory.
/// - `sotto.long.<base64url(SHA-256(encoded name))>`: a directory holding an entry whose encoded
///   name is over 255 bytes; inside, `name` holds the encoded name and `data` is the entry itself.
///   One directory keeps the pieces together through renames and sync (Cryptomator's separate side
///   files got separated: their issues 1036 and 891).
/// - `sotto.dir.<32 hex>`: empty file; its name is one ID of this directory (see `DirectoryIDs`).
/// - `sotto.dirid` (format v3): the primary ID in 32 hex digits, at a fixed name so a lookup finds
///   the ID without listing the directory; a sync tool's conflict copies of it are ignored.
/// - `sotto.tmp.<hex>`: a file being written; never listed, removed by fsck.
/// - `sotto.conf`, `sotto.conf.bak`, `sotto.conf.tmp`: the vault config (root only);
///   `sotto.rekey.journal` and `sotto.rekey.tmp` exist only while `sotto rekey` runs.
/// - `<encrypted name><marker>`: a sync tool's conflict copy, shown under a readable name
///   (`ConflictCopy`).
/// - `.stfolder`, `.syncthing.*.tmp`, `.dropbox`, …: a sync tool's bookkeeping, silently ignored.
/// Base64url has no '.', so no encrypted name can collide with a reserved one. Anything else
/// (`.DS_Store`, `desktop.ini`) is foreign and left out of listings.
public enum BackingName: Equatable {
    case encrypted(String)
    case long(String)
    case directoryID([UInt8])
    /// `sotto.dirid`, naming the directory's primary ID (format v3).
    case primaryID
    /// A sync tool's conflict copy of `sotto.dirid` (two merged copies of a directory each had
    /// one): never read, removed with the directory.
    case primaryIDCopy
    case temporary
    case config
    /// A sync tool's conflict copy of an encrypted entry (see `ConflictCopy`).
    case conflict(ConflictCopy)
    /// A sync tool's own bookkeeping (Syncthing's `.stfolder` and temporary files, Dropbox's
    /// `.dropbox`…): expected in a synced vault, never shown, never reported.
    case syncTool
    case foreign

    public static let maxEncodedLength = 255
    public static let longPrefix = "sotto.long."
    public static let directoryIDPrefix = "sotto.dir."
    public static let primaryIDFile = "sotto.dirid"
    public static let temporaryPrefix = "sotto.tmp."
    public static let longNameFile = "name"
    public static let longDataEntry = "data"
    public static let configFile = "sotto.conf"
    public static let configBackupFile = "sotto.conf.bak"
    public static let configTemporaryFile = "sotto.conf.tmp"
    /// Old file headers of the batch `sotto rekey` is rewriting (root only, only while it runs).
    public static let rekeyJournalFile = "sotto.rekey.journal"
    public static let rekeyJournalTemporaryFile = "sotto.rekey.tmp"
    /// Where `sotto fsck --quarantine` moves damaged entries (root only; never listed).
    public static let quarantineDirectory = "sotto.quarantine"

    /// Exact names and prefixes sync tools keep in the folders they sync.
    static let syncToolNames: Set<String> = [".stfolder", ".stignore", ".stversions", ".dropbox", ".dropbox.attr", ".dropbox.cache",
                                             ".nextcloudsync.log", ".owncloudsync.log", ".sync_journal.db"]
    static let syncToolPrefixes = [".syncthing.", "~syncthing~", ".sync_", "._sync_"]

    public init(_ raw: [UInt8]) {
        guard let s = String(validating: raw, as: UTF8.self) else { self = .foreign; return }
        if s.hasPrefix(".") || s.hasPrefix("~") {
            if Self.syncToolNames.contains(s) || Self.syncToolPrefixes.contains(where: { s.hasPrefix($0) }) { self = .syncTool; return }
        }
        if s == Self.primaryIDFile {
            self = .primaryID
        } else if Self.isPrimaryIDCopy(s) {
            self = .primaryIDCopy
        } else if s.hasPrefix(Self.directoryIDPrefix) {
            let hex = String(s.dropFirst(Self.directoryIDPrefix.count))
            if hex.utf8.count == DirectoryIDs.idSize * 2, let id = Hex.decode(hex) { self = .directoryID(id) } else { self = .foreign }
        } else if s.hasPrefix(Self.longPrefix) {
            let h = s.dropFirst(Self.longPrefix.count)
            self = (h.utf8.count == 43 && Base64URL.decode(Array(h.utf8)) != nil) ? .long(s) : .foreign
        } else if s.hasPrefix(Self.temporaryPrefix) {
            self = .temporary
        } else if [Self.configFile, Self.configBackupFile, Self.configTemporaryFile, Self.quarantineDirectory,
                    Self.rekeyJournalFile, Self.rekeyJournalTemporaryFile].contains(s) {
            self = .config
        } else if raw.count > AESSIV.tagSize, Base64URL.decode(raw) != nil {
            self = .encrypted(s)
        } else if let c = ConflictCopy.parse(s), case .encrypted = BackingName(Array(c.original.utf8)) {
            self = .conflict(c)
        } else {
            self = .foreign
        }
    }

    /// A sync tool's conflict copy of `sotto.dirid`: the marker at the end (rclone bisync's
    /// `..path1`), or before the extension, as Syncthing and Dropbox place it
    /// (`sotto.sync-conflict-20261126-061425-AVFHAGE.dirid`).
    static func isPrimaryIDCopy(_ s: String) -> Bool {
        if s.hasPrefix(primaryIDFile), ConflictCopy.parse(s)?.original == primaryIDFile { return true }
        let stem = "sotto", ext = String(primaryIDFile.dropFirst(stem.count))
        guard s.hasPrefix(stem), s.hasSuffix(ext), s.utf8.count > primaryIDFile.utf8.count else { return false }
        return ConflictCopy.parse(String(s.dropLast(ext.count)))?.original == stem
    }

    public static func longName(forEncoded encoded: String) throws -> String {
        longPrefix + Base64URL.encode(try Digest.sha256(Array(encoded.utf8)))
    }

    public static func directoryIDFile(_ id: [UInt8]) -> String { directoryIDPrefix + Hex.encode(id) }

    public static func temporaryName() throws -> String { temporaryPrefix + Hex.encode(try SecureRandom.bytes(8)) }
}

/// Plaintext names are byte strings, as on ext4: no Unicode normalization, so two names Linux keeps
/// apart stay apart (see docs/format.md). Compare them as bytes, never as Swift `String`s, which
/// compare by canonical equivalence.
public enum PlainName {
    public static let maxLength = 255

    /// ENAMETOOLONG for over 255 bytes, EINVAL for empty, ".", "..", or '/' or NUL inside.
    public static func validate(_ name: [UInt8]) throws(Errno) {
        guard !name.isEmpty, name != [0x2E], name != [0x2E, 0x2E], !name.contains(0x2F), !name.contains(0) else {
            throw Errno.invalid
        }
        guard name.count <= maxLength else { throw Errno.nameTooLong }
    }
}

/// Encrypts and decrypts names with AES-256-SIV, the directory ID as associated data, so equal
/// names in different directories differ.
public struct NameCipher: Sendable {
    let key: SecretBytes

    public init(keys: VaultKeys) { key = keys.names }

    public func encrypt(_ name: [UInt8], directoryID: [UInt8]) throws -> String {
        try PlainName.validate(name)
        return Base64URL.encode(try key.withUnsafeBytes { try AESSIV.seal(name, associatedData: [directoryID], key: $0) })
    }

    /// nil if `encoded` is not a name of this directory under this key.
    public func decrypt(_ encoded: String, directoryID: [UInt8]) -> [UInt8]? {
        guard let sealed = Base64URL.decode(encoded), sealed.count > AESSIV.tagSize else { return nil }
        guard let name = try? key.withUnsafeBytes({ try AESSIV.open(sealed, associatedData: [directoryID], key: $0) }) else { return nil }
        guard (try? PlainName.validate(name)) != nil else { return nil }
        return name
    }
}

/// A directory's IDs. Each directory holds one `sotto.dir.<hex>` file, made with a random ID when
/// the directory is created. When two devices create the same directory offline, a sync tool
/// merges both into one directory with two ID files; every name inside still decrypts under the
/// ID it was made with, so nothing is lost (gocryptfs issue 151 lost them). The primary ID is the
/// one `sotto.dirid` names, if its ID file exists (format v3), else the smallest: new names use
/// it, lookups try it first, and of two entries with the same name under different IDs the one
/// under it keeps the name.
public struct DirectoryIDs: Equatable, Sendable {
    public static let idSize = 16
    public let all: [[UInt8]]  // the primary first, then the others in byte order; non-empty
    public var primary: [UInt8] { all[0] }

    /// `primary`: the ID `sotto.dirid` names; ignored unless it is one of `ids`.
    public init?(_ ids: [[UInt8]], primary: [UInt8]? = nil) {
        guard !ids.isEmpty else { return nil }
        var sorted = ids.sorted { $0.lexicographicallyPrecedes($1) }
        if let primary, let i = sorted.firstIndex(of: primary) { sorted.insert(sorted.remove(at: i), at: 0) }
        all = sorted
    }

    /// The text of `sotto.dirid`: the ID in 32 lowercase hex digits.
    public static func primaryIDText(_ id: [UInt8]) -> [UInt8] { Array(Hex.encode(id).utf8) }

    /// The ID a `sotto.dirid` file's bytes name, or nil for anything but 32 hex digits (a torn or
    /// foreign file is ignored, never trusted).
    public static func parsePrimaryIDText(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count == idSize * 2, let id = Hex.decode(String(decoding: bytes, as: UTF8.self)), id.count == idSize else { return nil }
        return id
    }

    public static func random() throws -> [UInt8] { try SecureRandom.bytes(idSize) }
}

/// Symlink targets: AES-256-GCM under the symlink key, stored as the backing symlink's target,
/// `base64url(nonce || ciphertext || tag)`.
public struct SymlinkCipher {
    let key: SecretBytes
    public init(keys: VaultKeys) { key = keys.symlinks }

    /// Longest plaintext target whose encoding fits PATH_MAX (4096 with NUL): 3041 bytes.
    public static let maxTargetLength = (4095 * 3 / 4) - AESGCM.overhead

    public func encrypt(_ target: [UInt8], gcm: AESGCM) throws -> [UInt8] {
        guard !target.isEmpty else { throw Errno.noEntry }
        guard target.count <= Self.maxTargetLength else { throw Errno.nameTooLong }
        var out = [UInt8](repeating: 0, count: target.count + AESGCM.overhead)
        let n = AESGCM.nonceSize
        try out.withUnsafeMutableBytes { o in
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: o[0..<n]))
            try key.withUnsafeBytes { k in
                try target.withUnsafeBytes { t in
                    try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: o[0..<n]), aad: UnsafeRawBufferPointer(start: nil, count: 0),
                                 plaintext: t, ciphertext: UnsafeMutableRawBufferPointer(rebasing: o[n..<(n + target.count)]),
                                 tag: UnsafeMutableRawBufferPointer(rebasing: o[(n + target.count)...]))
                }
            }
        }
        return Array(Base64URL.encode(out).utf8)
    }

    public func decrypt(_ stored: [UInt8], gcm: AESGCM) throws -> [UInt8] {
        guard let raw = Base64URL.decode(stored), raw.count > AESGCM.overhead else { throw CryptoError.authenticationFailed }
        let n = AESGCM.nonceSize
        let len = raw.count - AESGCM.overhead
        var out = [UInt8](repeating: 0, count: len)
        try raw.withUnsafeBytes { r in
            try key.withUnsafeBytes { k in
                try out.withUnsafeMutableBytes { o in
                    try gcm.open(key: k, nonce: UnsafeRawBufferPointer(rebasing: r[0..<n]), aad: UnsafeRawBufferPointer(start: nil, count: 0),
                                 ciphertext: UnsafeRawBufferPointer(rebasing: r[n..<(n + len)]),
                                 tag: UnsafeRawBufferPointer(rebasing: r[(n + len)...]), plaintext: o)
                }
            }
        }
        return out
    }

    /// The plaintext length of a target from the backing symlink's size alone, so `stat` never
    /// has to read (and touch the atime of) the link.
    public static func plaintextLength(storedLength: Int) -> Int {
        max(0, (Base64URL.decodedLength(storedLength) ?? 0) - AESGCM.overhead)
    }
}
