import CLibCrypto

/// OpenSSL's CSPRNG. Each call costs ~1.4 µs whatever its size, so callers draw many nonces at once.
public enum SecureRandom {
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        guard let p = buffer.baseAddress, buffer.count > 0 else { return }
        guard RAND_bytes(p.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1 else {
            throw CryptoError.openssl("RAND_bytes")
        }
    }

    public static func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try fill($0) }
        return out
    }
}
