import CArgon2

/// Argon2id (RFC 9106, version 0x13) through libargon2.
public struct Argon2idParameters: Equatable, Sendable {
    public var memoryKiB: UInt32
    public var iterations: UInt32
    public var parallelism: UInt32

    public init(memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// RFC 9106 §4, second recommended option: t=3, p=4, m=64 MiB.
    public static let recommended = Argon2idParameters(memoryKiB: 64 * 1024, iterations: 3, parallelism: 4)

    /// What `init --kdf-memory/--kdf-time` accepts, and what a config may ask for. Values outside are
    /// refused: a config asking for 100 GiB would otherwise make every unlock exhaust memory.
    public static let memoryKiBRange: ClosedRange<UInt32> = 1024...(4 * 1024 * 1024)
    public static let iterationsRange: ClosedRange<UInt32> = 1...64
    public static let parallelismRange: ClosedRange<UInt32> = 1...16

    public var isWithinBounds: Bool {
        Self.memoryKiBRange.contains(memoryKiB) && Self.iterationsRange.contains(iterations)
            && Self.parallelismRange.contains(parallelism)
    }

    /// Memory times passes (KiB): what one derivation costs in time, up to the parallelism.
    public var cost: UInt64 { UInt64(memoryKiB) * UInt64(iterations) }

    /// The most all of a config's slots may cost together: a wrong password runs every slot's KDF,
    /// so a config may not ask for more than eight recommended slots, times a margin of eight
    /// (12 GiB·passes, some seconds here); an attacker's config asking for eight 4 GiB × 64 slots
    /// (half an hour per unlock) is refused as damage before any KDF runs.
    public static let configBudget: UInt64 = recommended.cost * 8 * 8

    /// Weaker than the RFC's recommendation (allowed for tests and slow machines; `info` warns).
    public var isWeakerThanRecommended: Bool {
        memoryKiB < Self.recommended.memoryKiB || iterations < Self.recommended.iterations
    }
}

public enum Argon2id {
    /// Derives `length` bytes. `secret` and `associatedData` exist for the RFC's test vector; the
    /// vault uses neither.
    public static func derive(password: SecretBytes, salt: [UInt8], parameters p: Argon2idParameters, length: Int,
                              secret: [UInt8] = [], associatedData: [UInt8] = []) throws -> SecretBytes {
        let out = SecretBytes(count: length)
        var saltCopy = salt
        var secretCopy = secret
        var adCopy = associatedData
        let rc: Int32 = password.withUnsafeBytes { pw in
            out.withUnsafeMutableBytes { o in
                saltCopy.withUnsafeMutableBytes { s in
                    secretCopy.withUnsafeMutableBytes { sec in
                        adCopy.withUnsafeMutableBytes { ad in
                            var ctx = argon2_context()
                            ctx.out = o.baseAddress?.assumingMemoryBound(to: UInt8.self)
                            ctx.outlen = UInt32(length)
                            ctx.pwd = UnsafeMutablePointer(mutating: pw.baseAddress?.assumingMemoryBound(to: UInt8.self))
                            ctx.pwdlen = UInt32(pw.count)
                            ctx.salt = s.baseAddress?.assumingMemoryBound(to: UInt8.self)
                            ctx.saltlen = UInt32(s.count)
                            ctx.secret = sec.count > 0 ? sec.baseAddress?.assumingMemoryBound(to: UInt8.self) : nil
                            ctx.secretlen = UInt32(sec.count)
                            ctx.ad = ad.count > 0 ? ad.baseAddress?.assumingMemoryBound(to: UInt8.self) : nil
                            ctx.adlen = UInt32(ad.count)
                            ctx.t_cost = p.iterations
                            ctx.m_cost = p.memoryKiB
                            ctx.lanes = p.parallelism
                            ctx.threads = p.parallelism
                            ctx.version = UInt32(ARGON2_VERSION_13.rawValue)
                            ctx.flags = 0  // ARGON2_DEFAULT_FLAGS: we wipe our own buffers
                            return argon2_ctx(&ctx, Argon2_id)
                        }
                    }
                }
            }
        }
        guard rc == ARGON2_OK.rawValue else {
            throw CryptoError.argon2(String(cString: argon2_error_message(rc)))
        }
        return out
    }
}
