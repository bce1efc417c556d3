/// The header at the start of every encrypted file (format v1, 78 bytes):
///
///     0   u16 BE  format version (1)
///     2   [16]    file ID, random
///     18  [12]    nonce of the wrapped file key
///     30  [32]    file key, encrypted (AES-256-GCM under the vault's file-key-wrap key)
///     62  [16]    tag; AAD = bytes 0..<18 (version and file ID)
///
/// The file ID binds every block to this file; the per-file key means a key seals only one file's
/// blocks, keeping the random-nonce collision bound per file rather than per vault.
public struct FileHeader {
    public static let currentVersion: UInt16 = 1
    public static let fileIDSize = 16
    public static let size = 2 + fileIDSize + AESGCM.nonceSize + AESGCM.keySize + AESGCM.tagSize

    public let version: UInt16
    public let fileID: [UInt8]
    public let fileKey: SecretBytes

    /// A new header with a fresh file ID and key, and its encoded bytes.
    public static func create(wrapKey: SecretBytes, gcm: AESGCM) throws -> (FileHeader, [UInt8]) {
        let fileKey = try SecretBytes.random(count: AESGCM.keySize)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes[1] = UInt8(currentVersion)
        try bytes.withUnsafeMutableBytes { h in
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: h[2..<30]))  // file ID and nonce
            try wrapKey.withUnsafeBytes { k in
                try fileKey.withUnsafeBytes { pt in
                    try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: h[18..<30]),
                                 aad: UnsafeRawBufferPointer(rebasing: h[0..<18]), plaintext: pt,
                                 ciphertext: UnsafeMutableRawBufferPointer(rebasing: h[30..<62]),
                                 tag: UnsafeMutableRawBufferPointer(rebasing: h[62..<78]))
                }
            }
        }
        let header = FileHeader(version: currentVersion, fileID: Array(bytes[2..<18]), fileKey: fileKey)
        return (header, bytes)
    }

    /// The same file ID and key wrapped under another key, with a fresh nonce (`sotto rekey`):
    /// the content blocks stay valid as they are.
    static func rewrap(_ header: FileHeader, wrapKey: SecretBytes, gcm: AESGCM) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        bytes[0] = UInt8(header.version >> 8)
        bytes[1] = UInt8(header.version & 0xff)
        bytes.replaceSubrange(2..<18, with: header.fileID)
        try bytes.withUnsafeMutableBytes { h in
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: h[18..<30]))
            try wrapKey.withUnsafeBytes { k in
                try header.fileKey.withUnsafeBytes { pt in
                    try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: h[18..<30]),
                                 aad: UnsafeRawBufferPointer(rebasing: h[0..<18]), plaintext: pt,
                                 ciphertext: UnsafeMutableRawBufferPointer(rebasing: h[30..<62]),
                                 tag: UnsafeMutableRawBufferPointer(rebasing: h[62..<78]))
                }
            }
        }
        return bytes
    }

    public enum ParseError: Error, Equatable {
        case tooShort
        case unsupportedVersion(UInt16)
        case authenticationFailed
    }

    /// Parses and unwraps a header. A header copied from another file unwraps, but then no block
    /// of this file authenticates under its key and ID.
    public static func open(_ bytes: UnsafeRawBufferPointer, wrapKey: SecretBytes, gcm: AESGCM) throws -> FileHeader {
        guard bytes.count >= size else { throw ParseError.tooShort }
        let version = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard version == currentVersion else { throw ParseError.unsupportedVersion(version) }
        let fileID = Array(bytes[2..<18])
        let key = SecretBytes(count: AESGCM.keySize)
        do {
            try wrapKey.withUnsafeBytes { k in
                try key.withUnsafeMutableBytes { out in
                    try gcm.open(key: k,
                                 nonce: UnsafeRawBufferPointer(rebasing: bytes[18..<30]),
                                 aad: UnsafeRawBufferPointer(rebasing: bytes[0..<18]),
                                 ciphertext: UnsafeRawBufferPointer(rebasing: bytes[30..<62]),
                                 tag: UnsafeRawBufferPointer(rebasing: bytes[62..<78]),
                                 plaintext: out)
                }
            }
        } catch CryptoError.authenticationFailed {
            throw ParseError.authenticationFailed
        }
        return FileHeader(version: version, fileID: fileID, fileKey: key)
    }
}
