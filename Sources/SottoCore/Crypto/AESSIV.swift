import CLibCrypto

/// AES-SIV (RFC 5297) through OpenSSL: deterministic authenticated encryption for names.
/// Output is `V || C` (16-byte synthetic IV, then ciphertext of the plaintext's length).
public enum AESSIV {
    public static let tagSize = 16

    /// OpenSSL names: "AES-256-SIV" takes a 64-byte key (two AES-256 keys); "AES-128-SIV" a 32-byte one.
    public enum Variant: String, Sendable {
        case aes128 = "AES-128-SIV"
        case aes256 = "AES-256-SIV"
        public var keySize: Int { self == .aes128 ? 32 : 64 }
    }

    nonisolated(unsafe) private static let aes256: OpaquePointer? = EVP_CIPHER_fetch(nil, Variant.aes256.rawValue, nil)
    nonisolated(unsafe) private static let aes128: OpaquePointer? = EVP_CIPHER_fetch(nil, Variant.aes128.rawValue, nil)

    private static func cipher(_ v: Variant) throws -> OpaquePointer {
        guard let c = (v == .aes256 ? aes256 : aes128) else { throw CryptoError.openssl("EVP_CIPHER_fetch(\(v.rawValue))") }
        return c
    }

    public static func seal(_ plaintext: [UInt8], associatedData: [[UInt8]], key: UnsafeRawBufferPointer,
                            variant: Variant = .aes256) throws -> [UInt8] {
        precondition(key.count == variant.keySize)
        precondition(!plaintext.isEmpty, "AES-SIV names are never empty")
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_EncryptInit_ex2(ctx, try cipher(variant), u8(key), nil, nil) == 1 else { throw CryptoError.openssl("EVP_EncryptInit_ex2(SIV)") }
        var outLen: Int32 = 0
        for ad in associatedData {
            // Each AAD update is one component of the S2V vector.
            guard ad.withUnsafeBytes({ EVP_EncryptUpdate(ctx, nil, &outLen, u8($0), Int32(ad.count)) }) == 1 else {
                throw CryptoError.openssl("EVP_EncryptUpdate(SIV ad)")
            }
        }
        var out = [UInt8](repeating: 0, count: tagSize + plaintext.count)
        try out.withUnsafeMutableBytes { o in
            let ct = UnsafeMutableRawBufferPointer(rebasing: o[tagSize...])
            guard plaintext.withUnsafeBytes({ EVP_EncryptUpdate(ctx, mu8(ct), &outLen, u8($0), Int32(plaintext.count)) }) == 1 else {
                throw CryptoError.openssl("EVP_EncryptUpdate(SIV)")
            }
            var finalLen: Int32 = 0
            var scratch: UInt8 = 0
            guard EVP_EncryptFinal_ex(ctx, &scratch, &finalLen) == 1,
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(tagSize), o.baseAddress) == 1 else {
                throw CryptoError.openssl("EVP_EncryptFinal_ex(SIV)")
            }
        }
        return out
    }

    public static func open(_ sealed: [UInt8], associatedData: [[UInt8]], key: UnsafeRawBufferPointer,
                            variant: Variant = .aes256) throws -> [UInt8] {
        precondition(key.count == variant.keySize)
        guard sealed.count > tagSize else { throw CryptoError.authenticationFailed }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_DecryptInit_ex2(ctx, try cipher(variant), u8(key), nil, nil) == 1 else { throw CryptoError.openssl("EVP_DecryptInit_ex2(SIV)") }
        var tag = Array(sealed[0..<tagSize])
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(tagSize), &tag) == 1 else { throw CryptoError.openssl("SET_TAG(SIV)") }
        var outLen: Int32 = 0
        for ad in associatedData {
            guard ad.withUnsafeBytes({ EVP_DecryptUpdate(ctx, nil, &outLen, u8($0), Int32(ad.count)) }) == 1 else {
                throw CryptoError.openssl("EVP_DecryptUpdate(SIV ad)")
            }
        }
        let n = sealed.count - tagSize
        var out = [UInt8](repeating: 0, count: n)
        // OpenSSL's SIV checks the tag inside the ciphertext update; a mismatch fails there or in final.
        let ok = out.withUnsafeMutableBytes { o in
            sealed.withUnsafeBytes { s in
                EVP_DecryptUpdate(ctx, mu8(o), &outLen, u8(UnsafeRawBufferPointer(rebasing: s[tagSize...])), Int32(n))
            }
        }
        var finalLen: Int32 = 0
        var scratch: UInt8 = 0
        guard ok == 1, EVP_DecryptFinal_ex(ctx, &scratch, &finalLen) > 0 else {
            throw CryptoError.authenticationFailed
        }
        return out
    }
}
