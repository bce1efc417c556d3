import CLibCrypto

/// SHA-256, HMAC-SHA256 and HKDF-SHA256 (RFC 5869) through OpenSSL.
public enum Digest {
    public static func sha256(_ data: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len = 0
        let ok = data.withUnsafeBytes { d in EVP_Q_digest(nil, "SHA256", nil, d.baseAddress, data.count, &out, &len) }
        guard ok == 1, len == 32 else { throw CryptoError.openssl("EVP_Q_digest(SHA256)") }
        return out
    }

    public static func hmacSHA256(key: SecretBytes, _ data: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len = 0
        let r = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, k.baseAddress, k.count, u8(d), data.count, &out, 32, &len)
            }
        }
        guard r != nil, len == 32 else { throw CryptoError.openssl("EVP_Q_mac(HMAC-SHA256)") }
        return out
    }

    /// HKDF-SHA256 extract-and-expand into a new secret of `length` bytes.
    public static func hkdfSHA256(ikm: SecretBytes, salt: [UInt8], info: [UInt8], length: Int) throws -> SecretBytes {
        guard let kdf = EVP_KDF_fetch(nil, "HKDF", nil) else { throw CryptoError.openssl("EVP_KDF_fetch(HKDF)") }
        defer { EVP_KDF_free(kdf) }
        guard let kctx = EVP_KDF_CTX_new(kdf) else { throw CryptoError.openssl("EVP_KDF_CTX_new") }
        defer { EVP_KDF_CTX_free(kctx) }
        let out = SecretBytes(count: length)
        var saltCopy = salt.isEmpty ? [0] : salt
        var infoCopy = info.isEmpty ? [0] : info
        let ok: Int32 = "SHA256".withCString { digest in
            ikm.withUnsafeBytes { k in
                out.withUnsafeMutableBytes { o in
                    saltCopy.withUnsafeMutableBytes { s in
                        infoCopy.withUnsafeMutableBytes { i in
                            var params = [
                                OSSL_PARAM_construct_utf8_string(paramName("digest"), UnsafeMutablePointer(mutating: digest), 0),
                                OSSL_PARAM_construct_octet_string(paramName("key"), UnsafeMutableRawPointer(mutating: k.baseAddress), k.count),
                                OSSL_PARAM_construct_octet_string(paramName("salt"), s.baseAddress, salt.count),
                                OSSL_PARAM_construct_octet_string(paramName("info"), i.baseAddress, info.count),
                                OSSL_PARAM_construct_end(),
                            ]
                            return EVP_KDF_derive(kctx, mu8(o), length, &params)
                        }
                    }
                }
            }
        }
        guard ok == 1 else { throw CryptoError.openssl("EVP_KDF_derive(HKDF)") }
        return out
    }

    /// Constant-time equality for MACs and checksums.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}

/// OSSL_PARAM keeps the key-name pointer, so it must outlive the call: a static string does
/// (Swift's String-to-pointer bridging would dangle).
@inline(__always)
private func paramName(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}
