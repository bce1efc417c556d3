/// A recovery key: 256 random bits a person can write down and type back, stored as one more key
/// slot. Shown as 11 groups of 5 base32 characters (RFC 4648 alphabet), the last 2 bytes a
/// SHA-256 checksum so a typo is caught before any unlock is tried. The slot's "password" is the
/// canonical 52-character base32 of the 32 key bytes; with 256 bits of entropy it needs no costly
/// KDF, so the slot uses the cheapest Argon2id parameters the format accepts.
public enum RecoveryKey {
    static let keyBytes = 32
    static let checksumBytes = 2
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    public static let kdf = Argon2idParameters(memoryKiB: Argon2idParameters.memoryKiBRange.lowerBound, iterations: 1, parallelism: 1)

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case badCharacter(Character)
        case wrongLength(Int)
        case checksum
        public var description: String {
            switch self {
            case .badCharacter(let c): return "'\(c)' is not a recovery-key character (A–Z, 2–7)"
            case .wrongLength(let n): return "a recovery key has 55 characters; this one has \(n)"
            case .checksum: return "the recovery key has a typo (its checksum does not match): check each group"
            }
        }
    }

    /// A new key: the text to show once, and the slot password it stands for.
    public static func generate() throws -> (display: String, password: SecretBytes) {
        let key = try SecretBytes.random(count: keyBytes)
        var bytes = key.withUnsafeBytes { Array($0) }
        var withChecksum = bytes + Array(try Digest.sha256(bytes).prefix(checksumBytes))
        defer { wipe(&bytes); wipe(&withChecksum) }
        return (try format(withChecksum), password(for: bytes))
    }

    /// The slot password for a typed key; spaces, dashes and case do not matter, and 0, 1 and 8
    /// are read as O, I and B.
    public static func parse(_ typed: SecretBytes) throws -> SecretBytes {
        var symbols: [UInt8] = []
        try typed.withUnsafeBytes { raw in
            for var c in raw {
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "-") || c == UInt8(ascii: "\t") { continue }
                if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { c -= 32 }
                switch c {
                case UInt8(ascii: "0"): c = UInt8(ascii: "O")
                case UInt8(ascii: "1"): c = UInt8(ascii: "I")
                case UInt8(ascii: "8"): c = UInt8(ascii: "B")
                default: break
                }
                guard let v = alphabet.firstIndex(of: c) else { throw ParseError.badCharacter(Character(UnicodeScalar(c))) }
                symbols.append(UInt8(v))
            }
        }
        let total = (keyBytes + checksumBytes) * 8
        guard symbols.count == (total + 4) / 5 else { throw ParseError.wrongLength(symbols.count) }
        var bits = [UInt8]()
        for s in symbols { for i in (0..<5).reversed() { bits.append((s >> UInt8(i)) & 1) } }
        defer { wipe(&symbols); wipe(&bits) }
        var bytes = [UInt8](repeating: 0, count: keyBytes + checksumBytes)
        defer { wipe(&bytes) }
        for i in 0..<(bytes.count * 8) where bits[i] == 1 { bytes[i / 8] |= 0x80 >> UInt8(i % 8) }
        var key = Array(bytes[0..<keyBytes])
        defer { wipe(&key) }
        guard Digest.constantTimeEqual(Array(try Digest.sha256(key).prefix(checksumBytes)), Array(bytes[keyBytes...])) else {
            throw ParseError.checksum
        }
        return password(for: key)
    }

    /// The slot password for key bytes: their base32, built and handed over without a String.
    static func password(for key: [UInt8]) -> SecretBytes {
        var text = base32Bytes(key)
        defer { wipe(&text) }
        return SecretBytes(copying: text)
    }

    static func base32(_ bytes: [UInt8]) -> String { String(decoding: base32Bytes(bytes), as: UTF8.self) }

    static func base32Bytes(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var acc = 0, bits = 0
        for b in bytes {
            acc = (acc << 8) | Int(b)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[(acc >> bits) & 31])
            }
        }
        if bits > 0 { out.append(alphabet[(acc << (5 - bits)) & 31]) }
        return out
    }

    static func format(_ bytes: [UInt8]) throws -> String {
        var text = base32Bytes(bytes)
        defer { wipe(&text) }
        return stride(from: 0, to: text.count, by: 5).map { String(decoding: text[$0..<min($0 + 5, text.count)], as: UTF8.self) }
            .joined(separator: "-")
    }
}
