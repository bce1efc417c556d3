#if canImport(Glibc)
import Glibc
#endif

/// The extended attributes of one encrypted file (docs/format.md §5.6), kept as extended
/// attributes of its backing file:
///
///     name:  "user.sotto." + base64url(AES-256-SIV(name; AD = file ID))
///     value: nonce (12) || AES-256-GCM(value; AAD = file ID || stored name) || tag (16)
///
/// Both keys come from the file's own key (HKDF-SHA256, salt = file ID), which `sotto rekey`
/// keeps (it rewraps headers), so attributes need no rewriting there and stay as safe as the
/// content they describe. The name is deterministic so one can be found without listing; the
/// value is bound to its file and its name, so values cannot be swapped or moved unnoticed.
public struct ExtendedAttributes {
    /// Where an encrypted attribute is stored: this prefix, then base64url of its sealed name.
    public static let storedPrefix = Array("user.sotto.".utf8)
    /// Namespaces kept, encrypted. security.* (SELinux labels, file capabilities) and system.*
    /// (POSIX ACLs) are not, as in gocryptfs: reads find none, writes fail with EOPNOTSUPP.
    public static let keptNamespaces = [Array("user.".utf8), Array("trusted.".utf8)]
    /// The kernel's limits on a stored name and value (XATTR_NAME_MAX, XATTR_SIZE_MAX) leave this
    /// much for the plaintext.
    public static let maxName = (255 - storedPrefix.count) * 3 / 4 - AESSIV.tagSize
    public static let maxValue = FileDescriptor.extendedAttributeMax - AESGCM.nonceSize - AESGCM.tagSize

    /// HKDF info labels; part of the format — never change them.
    enum Label {
        static let names = "sotto-v3 xattr-names"
        static let values = "sotto-v3 xattr-values"
    }

    /// Damage: the stored value does not authenticate.
    public struct Damaged: Error {}

    let fileID: [UInt8]
    let nameKey: SecretBytes
    let valueKey: SecretBytes

    public init(header: FileHeader) throws {
        fileID = header.fileID
        nameKey = try Digest.hkdfSHA256(ikm: header.fileKey, salt: header.fileID, info: Array(Label.names.utf8),
                                        length: AESSIV.Variant.aes256.keySize)
        valueKey = try Digest.hkdfSHA256(ikm: header.fileKey, salt: header.fileID, info: Array(Label.values.utf8),
                                         length: AESGCM.keySize)
    }

    public static func isKept(_ name: [UInt8]) -> Bool { keptNamespaces.contains { name.starts(with: $0) } }

    /// Whether backing file `fd` holds any attribute of ours. Asked before a file nobody has open
    /// is opened to read attributes: `ls -l` lists every entry's, most have none, and this costs
    /// one flistxattr instead of reading the header and unwrapping the file key.
    public static func anyStored(in fd: FileDescriptor) throws(Errno) -> Bool {
        try fd.extendedAttributeNames().contains { $0.starts(with: storedPrefix) }
    }

    /// The backing attribute's name for plaintext `name` (ERANGE if too long to store).
    public func storedName(_ name: [UInt8]) throws -> [UInt8] {
        guard !name.isEmpty, name.count <= Self.maxName else { throw Errno(ERANGE) }
        let sealed = try nameKey.withUnsafeBytes { try AESSIV.seal(name, associatedData: [fileID], key: $0) }
        return Self.storedPrefix + Array(Base64URL.encode(sealed).utf8)
    }

    /// The plaintext name of a backing attribute, or nil when it is not one of ours or does not
    /// authenticate (another program's, or damaged): such names are left out of listings.
    public func plainName(_ stored: [UInt8]) -> [UInt8]? {
        guard stored.starts(with: Self.storedPrefix),
              let sealed = Base64URL.decode(stored[Self.storedPrefix.count...]) else { return nil }
        return try? nameKey.withUnsafeBytes { try AESSIV.open(sealed, associatedData: [fileID], key: $0) }
    }

    /// `value` sealed for storage under `stored` (a fresh random nonce each time).
    public func seal(_ value: [UInt8], storedName stored: [UInt8], gcm: AESGCM, nonce: [UInt8]? = nil) throws -> [UInt8] {
        guard value.count <= Self.maxValue else { throw Errno(E2BIG) }
        var out = [UInt8](repeating: 0, count: AESGCM.nonceSize + value.count + AESGCM.tagSize)
        let aad = fileID + stored
        try out.withUnsafeMutableBytes { o in
            let n = UnsafeMutableRawBufferPointer(rebasing: o[0..<AESGCM.nonceSize])
            if let nonce { n.copyBytes(from: nonce) } else { try SecureRandom.fill(n) }
            try valueKey.withUnsafeBytes { k in
                try value.withUnsafeBytes { pt in
                    try aad.withUnsafeBytes { a in
                        try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(n), aad: a, plaintext: pt,
                                     ciphertext: UnsafeMutableRawBufferPointer(rebasing: o[AESGCM.nonceSize..<(AESGCM.nonceSize + value.count)]),
                                     tag: UnsafeMutableRawBufferPointer(rebasing: o[(AESGCM.nonceSize + value.count)...]))
                    }
                }
            }
        }
        return out
    }

    /// The plaintext of a stored value; `Damaged` if it does not authenticate for this file and name.
    public func open(_ sealed: [UInt8], storedName stored: [UInt8], gcm: AESGCM) throws -> [UInt8] {
        guard sealed.count >= AESGCM.nonceSize + AESGCM.tagSize else { throw Damaged() }
        let n = sealed.count - AESGCM.nonceSize - AESGCM.tagSize
        var out = [UInt8](repeating: 0, count: n)
        let aad = fileID + stored
        do {
            try sealed.withUnsafeBytes { s in
                try valueKey.withUnsafeBytes { k in
                    try aad.withUnsafeBytes { a in
                        try out.withUnsafeMutableBytes { o in
                            try gcm.open(key: k, nonce: UnsafeRawBufferPointer(rebasing: s[0..<AESGCM.nonceSize]), aad: a,
                                         ciphertext: UnsafeRawBufferPointer(rebasing: s[AESGCM.nonceSize..<(AESGCM.nonceSize + n)]),
                                         tag: UnsafeRawBufferPointer(rebasing: s[(AESGCM.nonceSize + n)...]), plaintext: o)
                        }
                    }
                }
            }
        } catch CryptoError.authenticationFailed {
            throw Damaged()
        }
        return out
    }
}

extension EncryptedFile {
    /// This file's attribute keys (derived once, from its header).
    private func attributeKeys(_ gcm: AESGCM) throws -> ExtendedAttributes {
        try ExtendedAttributes(header: headerForAttributes(gcm))
    }

    /// The value of attribute `name`: ENODATA when it has none (or the namespace is not kept),
    /// an integrity error when the stored value was changed.
    public func extendedAttribute(_ name: [UInt8]) throws -> [UInt8] {
        guard ExtendedAttributes.isKept(name) else { throw Errno(ENODATA) }
        return try codecs.with { scratch in
            let keys = try attributeKeys(scratch.gcm)
            let stored = try keys.storedName(name)
            let sealed = try fd.extendedAttribute(stored)
            do {
                return try keys.open(sealed, storedName: stored, gcm: scratch.gcm)
            } catch is ExtendedAttributes.Damaged {
                throw damaged("extended attribute '\(TerminalText.escaped(String(decoding: name, as: UTF8.self)))' does not authenticate (changed in the vault directory)")
            }
        }
    }

    /// Sets attribute `name` (`flags`: XATTR_CREATE, XATTR_REPLACE); EOPNOTSUPP outside user.* and trusted.*.
    public func setExtendedAttribute(_ name: [UInt8], _ value: [UInt8], flags: Int32) throws {
        guard ExtendedAttributes.isKept(name) else { throw Errno(EOPNOTSUPP) }
        try codecs.with { scratch in
            let keys = try attributeKeys(scratch.gcm)
            let stored = try keys.storedName(name)
            try fd.setExtendedAttribute(stored, try keys.seal(value, storedName: stored, gcm: scratch.gcm), flags: flags)
        }
    }

    public func removeExtendedAttribute(_ name: [UInt8]) throws {
        guard ExtendedAttributes.isKept(name) else { throw Errno(ENODATA) }
        try codecs.with { scratch in
            try fd.removeExtendedAttribute(try attributeKeys(scratch.gcm).storedName(name))
        }
    }

    /// The names of this file's attributes; stored names that do not authenticate are left out.
    public func extendedAttributeNames() throws -> [[UInt8]] {
        let stored = try fd.extendedAttributeNames().filter { $0.starts(with: ExtendedAttributes.storedPrefix) }
        guard !stored.isEmpty else { return [] }
        return try codecs.with { scratch in
            let keys = try attributeKeys(scratch.gcm)
            return stored.compactMap { keys.plainName($0) }
        }
    }
}
