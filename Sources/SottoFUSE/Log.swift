import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's diagnostics: a file of its own (mode 0600) or syslog. Never a key or plaintext;
/// plaintext paths appear only where they help the user find a damaged file.
public final class Log: @unchecked Sendable {
    private let fd: Int32?
    private let alsoStderr: Bool
    private let lock = Mutex()
    private var reported = Set<String>()

    public init(path: String?, alsoStderr: Bool) throws {
        if let path {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SottoError.io(operation: "open log file", path: path, errno: .current) }
            _ = fchmod(fd, 0o600)  // an existing log may have had a wider mode
            self.fd = fd
        } else {
            fd = nil
            openlog("sotto", LOG_PID, LOG_USER)
        }
        self.alsoStderr = alsoStderr
    }

    public func info(_ message: String) { write(LOG_INFO, message) }
    public func error(_ message: String) { write(LOG_ERR, message) }

    /// Logs `message` once per `key` (a name that is not ours is listed on every readdir).
    public func once(_ key: String, _ message: String) {
        let first = lock.withLock { reported.insert(key).inserted }
        if first { info(message) }
    }

    private func write(_ priority: Int32, _ message: String) {
        let clean = TerminalText.escaped(message)  // one line, and no name from the vault can drive a terminal
        if let fd {
            let stamp = TimeFormat.format(Int(time(nil)), "%Y-%m-%dT%H:%M:%SZ")
            let line = "\(stamp) sotto[\(getpid())] \(priority == LOG_ERR ? "error" : "info"): \(clean)\n"
            lock.withLock { _ = line.withCString { Glibc.write(fd, $0, strlen($0)) } }
        } else {
            withVaList([clean]) { vsyslog(priority, "%s", $0) }
        }
        if alsoStderr {
            let line = "sotto: \(clean)\n"
            _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        }
    }
}
