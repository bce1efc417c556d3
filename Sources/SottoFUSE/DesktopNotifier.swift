import Foundation
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Tells the desktop what the user should know without reading a log — an idle unmount, damaged
/// files — through libnotify's `notify-send` on the session D-Bus. Silent when there is no
/// session bus (a server, a test run) or no `notify-send`. Never names a file: notification
/// daemons keep a history, and a plaintext name must not go there; the mountpoint and the log
/// say where to look.
final class DesktopNotifier: @unchecked Sendable {
    /// Why notifications are off, or nil when they are on (logged at mount).
    let unavailable: String?
    private let lock = Mutex()
    private var told = Set<String>()

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if environment["DBUS_SESSION_BUS_ADDRESS"] == nil {
            unavailable = "no session D-Bus"
        } else if !(environment["PATH"] ?? "").split(separator: ":").contains(where: { FileSystem.exists("\($0)/notify-send") }) {
            unavailable = "notify-send not found (install libnotify-bin)"
        } else {
            unavailable = nil
        }
    }

    /// Shows `summary`/`body` once per `key`; returns at once (the child is reaped on a thread).
    func tell(once key: String, summary: String, body: String) {
        guard unavailable == nil, lock.withLock({ told.insert(key).inserted }) else { return }
        let args: [String] = ["notify-send", "--app-name=Sotto", summary, body]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var spawned: pid_t = 0
        guard posix_spawnp(&spawned, "notify-send", nil, nil, &argv, environ) == 0 else { return }
        let pid = spawned
        Thread.detachNewThread { _ = waitForChild(pid) }
    }
}
