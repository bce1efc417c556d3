import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Working memory for one content request: a GCM context (not thread-safe, costly to create)
/// and buffers that grow to the largest request seen. Borrowed from a `CodecPool` per request, so
/// the read/write path allocates nothing (buffers over 128 KiB would be a fresh mmap each time).
public final class CodecScratch: @unchecked Sendable {
    public let gcm: AESGCM
    /// One block of plaintext: edge blocks of reads and writes pass through it, wiped after use.
    public let block: UnsafeMutableRawBufferPointer
    private var storedBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var sealedBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var nonceBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var replyBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    init(blockSize: Int) throws {
        gcm = try AESGCM()
        block = .allocate(byteCount: blockSize, alignment: 64)
    }

    deinit {
        OPENSSL_cleanse(block.baseAddress, block.count)
        block.deallocate()
        if replyBuffer.count > 0 { OPENSSL_cleanse(replyBuffer.baseAddress, replyBuffer.count) }
        for b in [storedBuffer, sealedBuffer, nonceBuffer, replyBuffer] where b.count > 0 { b.deallocate() }
    }

    private static func grow(_ b: inout UnsafeMutableRawBufferPointer, _ n: Int) -> UnsafeMutableRawBufferPointer {
        if b.count < n {
            // A reply buffer held plaintext; the others only ciphertext and nonces, but a wipe of a
            // buffer that is outgrown (rare: it only grows) costs nothing that matters.
            if b.count > 0 { OPENSSL_cleanse(b.baseAddress, b.count); b.deallocate() }
            b = .allocate(byteCount: max(n, 4096), alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(rebasing: b[0..<n])
    }

    /// Ciphertext read from disk.
    func stored(_ n: Int) -> UnsafeMutableRawBufferPointer { Self.grow(&storedBuffer, n) }
    /// Ciphertext about to be written.
    func sealed(_ n: Int) -> UnsafeMutableRawBufferPointer { Self.grow(&sealedBuffer, n) }
    func nonces(_ n: Int) -> UnsafeMutableRawBufferPointer { Self.grow(&nonceBuffer, n) }
    /// Plaintext for a reply (the mount's read); the caller hands it to the kernel and forgets it.
    public func reply(_ n: Int) -> UnsafeMutableRawBufferPointer { Self.grow(&replyBuffer, n) }

    func wipeBlock() { OPENSSL_cleanse(block.baseAddress, block.count) }
}

public final class CodecPool: @unchecked Sendable {
    private let lock = Mutex()
    private var free: [CodecScratch] = []
    let blockSize: Int
    public init(blockSize: Int) { self.blockSize = blockSize }

    public func with<R>(_ body: (CodecScratch) throws -> R) throws -> R {
        let scratch = try lock.withLock { free.popLast() } ?? CodecScratch(blockSize: blockSize)
        defer { lock.withLock { free.append(scratch) } }
        return try body(scratch)
    }
}
