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
