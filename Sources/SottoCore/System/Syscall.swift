import CSottoShims
#if canImport(Glibc)
import Glibc
#endif

// The one place system calls are retried and their errors turned into `Errno`: every wrapper in
// System/ (and any caller outside the core) goes through these, so EINTR is handled once.

/// Runs a syscall, retrying on EINTR, turning -1 into a thrown `Errno`.
@discardableResult
@inline(__always)
public func retryingSyscall<T: BinaryInteger>(_ call: () -> T) throws(Errno) -> T {
    while true {
        let r = call()
        if r != -1 { return r }
        let e = errno
        if e != EINTR { throw Errno(e) }
    }
}

/// Calls `body` with a NUL-terminated copy of `bytes`.
@discardableResult
@inline(__always)
public func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws(Errno) -> R) throws(Errno) -> R {
    if bytes.contains(0) { throw Errno.invalid }
    var z = bytes
    z.append(0)
    return try z.withUnsafeBufferPointer { (b) throws(Errno) -> R in
        try b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: z.count) { (p) throws(Errno) -> R in try body(p) }
    }
}

/// How a child process ended (a waitpid status).
public struct ChildStatus: Equatable, Sendable {
    public let raw: Int32
    /// Its exit code, or nil when a signal ended it.
    public var exitCode: Int32? { raw & 0x7f == 0 ? (raw >> 8) & 0xff : nil }
    public var succeeded: Bool { raw == 0 }
}

/// Waits for child `pid` to end (retrying on EINTR), or nil when it cannot be waited for (not
/// our child): never mistaken for a success.
public func waitForChild(_ pid: pid_t) -> ChildStatus? {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return nil }
    }
    return ChildStatus(raw: status)
}
