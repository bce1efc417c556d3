import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex on the heap (never moved), for short critical sections.
public final class Mutex: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    public init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    @inline(__always)
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// A pthread reader-writer lock: many readers of a file at once, one writer alone.
public final class ReadWriteLock: @unchecked Sendable {
    private let l: UnsafeMutablePointer<pthread_rwlock_t>
    public init() {
        l = .allocate(capacity: 1)
        l.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(l, nil)
    }
    deinit { pthread_rwlock_destroy(l); l.deallocate() }
    @inline(__always)
    public func withReadLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(l)
        defer { pthread_rwlock_unlock(l) }
        return try body()
    }
    @inline(__always)
    public func withWriteLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(l)
        defer { pthread_rwlock_unlock(l) }
        return try body()
    }
}

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
