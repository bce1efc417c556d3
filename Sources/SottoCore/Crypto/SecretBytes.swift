import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Key material or a password: the only type that holds secrets.
///
/// Small secrets (keys: up to 64 bytes) take a slot in `SecretArena`, pages locked into RAM
/// (`mlock`) and kept out of core dumps once, so a file key costs no syscall. Larger ones
/// (passwords) get their own page-aligned allocation, locked the same way; pages are never shared
/// between the two, so one secret's unlock never releases a neighbour's page. Bytes are wiped with
/// `OPENSSL_cleanse` when the value is released, and `description` never shows them.
/// Zeroes an ordinary array that held key or plaintext bytes before it is freed (best effort: a
/// copy Swift made earlier is not reached; `SecretBytes` is for what must not be copied at all).
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { memsetZero($0, $0.count) }
}

public final class SecretBytes: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let count: Int
    private let base: UnsafeMutableRawPointer
    private let allocatedSize: Int
    private let locked: Bool
    private let inArena: Bool

    /// A zero-filled secret of `count` bytes.
    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        if count <= SecretArena.slotSize {
            base = SecretArena.shared.take()
            allocatedSize = SecretArena.slotSize
            locked = false
            inArena = true
            return
        }
        inArena = false
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = max(page, (count + page - 1) / page * page)
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, page, size) == 0, let raw else {
            fatalError("out of memory allocating \(size) bytes for a secret")
        }
        memset(raw, 0, size)
        // Best effort: unprivileged users may hit RLIMIT_MEMLOCK. Swap is then the only exposure.
        locked = mlock(raw, size) == 0
        _ = madvise(raw, size, MADV_DONTDUMP)
        self.base = raw
        self.allocatedSize = size
    }

    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(count: bytes.count)
        var i = 0
        for b in bytes { base.storeBytes(of: b, toByteOffset: i, as: UInt8.self); i += 1 }
    }

    /// A fresh secret of `count` bytes from OpenSSL's CSPRNG.
    public static func random(count: Int) throws -> SecretBytes {
        let s = SecretBytes(count: count)
        try s.withUnsafeMutableBytes { try SecureRandom.fill($0) }
        return s
    }

    deinit {
        OPENSSL_cleanse(base, allocatedSize)
        if inArena { SecretArena.shared.give(base); return }
        if locked { _ = munlock(base, allocatedSize) }
        free(base)
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// A new secret holding bytes `range` of this one.
    public func slice(_ range: Range<Int>) -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let s = SecretBytes(count: range.count)
        s.withUnsafeMutableBytes { dst in
            if range.count > 0 { dst.baseAddress!.copyMemory(from: base + range.lowerBound, byteCount: range.count) }
        }
        return s
    }

    /// Constant-time comparison.
    public func isEqual(to other: SecretBytes) -> Bool {
        count == other.count && CRYPTO_memcmp(base, other.base, count) == 0
    }

    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
}

/// Fixed-size slots for small secrets in pages that are locked and excluded from core dumps once,
/// when a chunk is added. Slots are wiped by their owner before they come back.
final class SecretArena: @unchecked Sendable {
    static let slotSize = 64
    static let chunkSize = 64 * 1024
    static let shared = SecretArena()

    private let lock = Mutex()
    private var free: [UnsafeMutableRawPointer] = []

    func take() -> UnsafeMutableRawPointer {
        lock.withLock {
            if free.isEmpty { addChunk() }
            return free.removeLast()
        }
    }

    func give(_ slot: UnsafeMutableRawPointer) { lock.withLock { free.append(slot) } }

    private func addChunk() {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, Int(sysconf(Int32(_SC_PAGESIZE))), Self.chunkSize) == 0, let raw else {
            fatalError("out of memory allocating the secret arena")
        }
        memset(raw, 0, Self.chunkSize)
        _ = mlock(raw, Self.chunkSize)  // best effort, as for SecretBytes; never unlocked: chunks are kept
        _ = madvise(raw, Self.chunkSize, MADV_DONTDUMP)
        for i in stride(from: 0, to: Self.chunkSize, by: Self.slotSize) { free.append(raw + i) }
    }
}
