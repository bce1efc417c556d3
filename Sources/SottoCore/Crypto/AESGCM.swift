import CLibCrypto

/// AES-256-GCM through OpenSSL EVP with a reusable context.
///
/// A context is not thread-safe: keep one per thread. Reusing it (and the cipher fetched once)
/// instead of allocating per block saves about a quarter of the cost of sealing 4 KiB blocks.
public final class AESGCM {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16
    /// nonce + tag stored next to every ciphertext
    public static let overhead = nonceSize + tagSize

    /// The libcrypto in use, as it names itself ("OpenSSL 3.0.22 25 Aug 2026"). Its version sets
    /// the cipher's speed (3.5 has AES-GCM code for VAES/AVX-512 CPUs, 3.0 none: 10 vs 4.3 GB/s
    /// here), so the mount log and `sotto --version` say which one was loaded.
    public static var libraryVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

    nonisolated(unsafe) private static let cipher: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)

    private let ctx: OpaquePointer

    /// What the context was last set up for. Setting up a key (AES-256's key schedule and GCM's
    /// hash key) costs about as much as sealing 2–3 KiB, so consecutive calls with the same key in
    /// the same direction (one file's blocks) set only the nonce. The key is compared by value in
    /// constant time, never by address: a buffer reused for another key cannot pass for it.
    private enum Direction { case seal, open }
    private var keyedFor: Direction?
    private let lastKey = SecretBytes(count: keySize)

    public init() throws {
        guard Self.cipher != nil, let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("EVP_CIPHER_CTX_new (AES-256-GCM)") }
        self.ctx = ctx
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    /// Encrypts `plaintext` into `ciphertext` (same length) and writes the 16-byte tag.
    public func seal(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     plaintext: UnsafeRawBufferPointer, ciphertext: UnsafeMutableRawBufferPointer,
                     tag: UnsafeMutableRawBufferPointer) throws {
        precondition(key.count == Self.keySize && nonce.count == Self.nonceSize && tag.count == Self.tagSize)
        precondition(ciphertext.count >= plaintext.count)
        try begin(.seal, key: key, nonce: nonce)
        var outLen: Int32 = 0
        if aad.count > 0 {
            guard EVP_EncryptUpdate(ctx, nil, &outLen, u8(aad), Int32(aad.count)) == 1 else { throw CryptoError.openssl("EVP_EncryptUpdate(aad)") }
        }
        if plaintext.count > 0 {
            guard EVP_EncryptUpdate(ctx, mu8(ciphertext), &outLen, u8(plaintext), Int32(plaintext.count)) == 1,
                  Int(outLen) == plaintext.count else { throw CryptoError.openssl("EVP_EncryptUpdate") }
        }
        var finalLen: Int32 = 0
        var scratch: UInt8 = 0
        guard EVP_EncryptFinal_ex(ctx, &scratch, &finalLen) == 1 else { throw CryptoError.openssl("EVP_EncryptFinal_ex") }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagSize), tag.baseAddress) == 1 else {
            throw CryptoError.openssl("EVP_CTRL_AEAD_GET_TAG")
        }
    }

    /// Decrypts and authenticates; throws `.authenticationFailed` and leaves `plaintext` zeroed on a
    /// mismatch, so no unauthenticated byte escapes.
    public func open(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
                     plaintext: UnsafeMutableRawBufferPointer) throws {
        precondition(key.count == Self.keySize && nonce.count == Self.nonceSize && tag.count == Self.tagSize)
        precondition(plaintext.count >= ciphertext.count)
        try begin(.open, key: key, nonce: nonce)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagSize), UnsafeMutableRawPointer(mutating: tag.baseAddress)) == 1 else {
            throw CryptoError.openssl("EVP_CTRL_AEAD_SET_TAG")
        }
        var outLen: Int32 = 0
        if aad.count > 0 {
            guard EVP_DecryptUpdate(ctx, nil, &outLen, u8(aad), Int32(aad.count)) == 1 else { throw CryptoError.openssl("EVP_DecryptUpdate(aad)") }
        }
        if ciphertext.count > 0 {
            guard EVP_DecryptUpdate(ctx, mu8(plaintext), &outLen, u8(ciphertext), Int32(ciphertext.count)) == 1 else {
                throw CryptoError.openssl("EVP_DecryptUpdate")
            }
        }
        var finalLen: Int32 = 0
        var scratch: UInt8 = 0
        guard EVP_DecryptFinal_ex(ctx, &scratch, &finalLen) > 0 else {
            if ciphertext.count > 0 { memsetZero(plaintext, ciphertext.count) }
            throw CryptoError.authenticationFailed
        }
    }
}

extension AESGCM {
    /// Starts one seal or open: the nonce always, the key only when it is not the one already set.
    private func begin(_ direction: Direction, key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer) throws {
        let same = keyedFor == direction
            && lastKey.withUnsafeBytes { CRYPTO_memcmp($0.baseAddress, key.baseAddress, Self.keySize) == 0 }
        keyedFor = nil  // until this call has succeeded
        let cipher = same ? nil : Self.cipher, newKey = same ? nil : u8(key)
        switch direction {
        case .seal:
            guard EVP_EncryptInit_ex2(ctx, cipher, newKey, u8(nonce), nil) == 1 else { throw CryptoError.openssl("EVP_EncryptInit_ex2") }
        case .open:
            guard EVP_DecryptInit_ex2(ctx, cipher, newKey, u8(nonce), nil) == 1 else { throw CryptoError.openssl("EVP_DecryptInit_ex2") }
        }
        if !same { lastKey.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: key.baseAddress!, byteCount: Self.keySize) } }
        keyedFor = direction
    }
}

/// Helpers for the narrow C pointer types OpenSSL wants; empty buffers become a valid dummy pointer.
nonisolated(unsafe) private let emptyByte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

@inline(__always) func u8(_ b: UnsafeRawBufferPointer) -> UnsafePointer<UInt8> {
    guard let p = b.baseAddress else { return UnsafePointer(emptyByte) }
    return p.assumingMemoryBound(to: UInt8.self)
}

@inline(__always) func mu8(_ b: UnsafeMutableRawBufferPointer) -> UnsafeMutablePointer<UInt8> {
    guard let p = b.baseAddress else { return emptyByte }
    return p.assumingMemoryBound(to: UInt8.self)
}

@inline(__always) func memsetZero(_ b: UnsafeMutableRawBufferPointer, _ n: Int) {
    if let p = b.baseAddress { OPENSSL_cleanse(p, n) }
}
