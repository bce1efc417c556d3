import CSottoShims
#if canImport(Glibc)
import Glibc
#endif

/// Waits for another process (not a child) to exit, through a pidfd taken while it still runs,
/// so a process ID reused after it exits cannot be mistaken for it.
public final class ProcessExit {
    private let fd: Int32

    /// Nil if the process is already gone (or pidfds are unavailable).
    public init?(pid: pid_t) {
        fd = sotto_pidfd_open(pid)
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// True once the process has exited; false if it still runs after `milliseconds`.
    public func wait(milliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let n = poll(&p, 1, milliseconds)
            if n >= 0 { return n == 1 }
            if errno != EINTR { return false }
        }
    }
}
