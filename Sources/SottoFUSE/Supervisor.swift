import Foundation
import SottoCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Once a second: publishes the mount's status for `sotto status`, and, with an idle limit,
/// unmounts after that long with no open file and no request.
final class Supervisor: @unchecked Sendable {
    struct Status: Codable {
        let pid: Int32
        let vault: String
        let mountpoint: String
        let readOnly: Bool
        /// Optional: a daemon of an earlier build does not write it.
        let shared: Bool?
        let mountedSince: Int
        var openFiles: Int
        var lastAccess: Int
        let idleLimitSeconds: Int?
        /// "io_uring" or "/dev/fuse"; optional like `shared`.
        var transport: String?
    }

    /// Where mounts publish their status: $XDG_RUNTIME_DIR/sotto, or /run/user/UID/sotto, or
    /// /tmp/sotto-UID (mode 0700 each).
    static var runtimeDirectory: String {
        let uid = getuid()
        let base = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"]
            ?? (FileSystem.exists("/run/user/\(uid)") ? "/run/user/\(uid)" : "/tmp")
        return base == "/tmp" ? "/tmp/sotto-\(uid)" : base + "/sotto"
    }

    let mount: Mount
    let mountpoint: String
    let idleLimit: Int?
    let lastActivity = Atomic<Int>(Int(time(nil)))
    private let statusPath: String
    private var status: Status
    /// `status` is changed by the timer thread and by `refresh` (from a request thread).
    private let statusLock = NSLock()
    private let stopped = Atomic<Bool>(false)

    init(mount: Mount, mountpoint: String, idleLimit: Int?) {
        self.mount = mount
        self.mountpoint = mountpoint
        self.idleLimit = idleLimit
        let now = Int(time(nil))
        status = Status(pid: getpid(), vault: mount.vault.path, mountpoint: mountpoint, readOnly: mount.readOnly,
                        shared: mount.shared, mountedSince: now, openFiles: 0, lastAccess: now, idleLimitSeconds: idleLimit,
                        transport: mount.transport)
        statusPath = Self.runtimeDirectory + "/\(getpid()).json"
    }

    func start() {
        let dir = Self.runtimeDirectory
        if !FileSystem.exists(dir) { _ = try? FileSystem.mkdir(dir, mode: 0o700) }
        publish()
        let thread = Thread { [self] in
            Thread.setSystemName("sotto-status")  // tests signal it by name (test_a_stop_signal_on_any_thread...)
            while !stopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 1)  // a timer period, not synchronisation
                tick()
            }
        }
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        _ = try? FileSystem.unlink(statusPath)
    }

    func touch() { lastActivity.store(Int(time(nil)), ordering: .relaxed) }

    /// The mount's device (from the mount table, not a stat of the mountpoint: that would be a
    /// request to this very mount, and reset the idle timer).
    private lazy var device: Mounts.Device? = Mounts.current().last { $0.mountpoint == mountpoint }?.device

    private func tick() {
        let (open, last) = update(force: false)
        if let idleLimit, open == 0, Int(time(nil)) - last >= idleLimit {
            // A program watching the folder (an editor) counts as use: unmounted under it, its next
            // save would land in the empty mountpoint, in plaintext.
            if let device, case let watchers = InotifyWatchers.processes(watching: device), !watchers.isEmpty {
                mount.log.once("idle-watched", "idle for \(idleLimit) s, but watched with inotify by process \(watchers.map(String.init).joined(separator: ", ")) (an editor or file manager?): staying mounted while it watches")
                return
            }
            mount.log.info("idle for \(idleLimit) s with no open file: unmounting \(mountpoint)")
            if unmountSelf() {
                MountpointGuard.lock(mountpoint)  // at once: the bare folder must not take a save meanwhile
                mount.notifier.tell(once: "idle", summary: "Sotto: \(mountpoint) unmounted",
                                    body: "Nothing used it for \(idleLimit) s. Mount it again with 'sotto mount' to go on.")
            } else {
                mount.log.once("idle-busy", "idle unmount of \(mountpoint) is refused while it is busy (a shell's working directory inside it?); will retry")
                touch()  // wait another full period before retrying
            }
        }
    }

    /// Unmounts our own mountpoint; the kernel then ends the session and `run` returns.
    private func unmountSelf() -> Bool {
        if geteuid() == 0 { return umount2(mountpoint, 0) == 0 }
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [String](["fusermount3", "-u", mountpoint]).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        guard posix_spawnp(&pid, "fusermount3", nil, nil, &argv, environ) == 0 else { return false }
        return waitForChild(pid)?.succeeded == true
    }

    /// Publishes now rather than at the next tick (the transport became known).
    func refresh() { update(force: true) }

    /// Publishes if anything changed (or `force`); returns the open-file count and last activity.
    @discardableResult
    private func update(force: Bool) -> (open: Int, last: Int) {
        let open = mount.files.openCount
        let last = lastActivity.load(ordering: .relaxed)
        let transport = mount.transport
        statusLock.lock()
        defer { statusLock.unlock() }
        if force || open != status.openFiles || last != status.lastAccess || transport != status.transport {
            status.openFiles = open
            status.lastAccess = last
            status.transport = transport
            publish()
        }
        return (open, last)
    }

    private func publish() {
        guard let data = try? JSONEncoder().encode(status) else { return }
        let tmp = statusPath + ".tmp"
        if FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) {
            _ = try? FileSystem.rename(tmp, statusPath)
        }
    }

    /// Status of every live mount published in the runtime directory (stale files are removed).
    static func allStatuses() -> [Status] {
        let dir = runtimeDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        let mounted = Set(Mounts.current().filter { $0.fsType == "fuse.sotto" }.map { $0.mountpoint })
        var out: [Status] = []
        for n in names where n.hasSuffix(".json") {
            let p = dir + "/" + n
            guard let data = FileManager.default.contents(atPath: p), let s = try? JSONDecoder().decode(Status.self, from: data) else { continue }
            if kill(s.pid, 0) == 0 && mounted.contains(s.mountpoint) { out.append(s) } else { _ = try? FileSystem.unlink(p) }
        }
        return out.sorted { $0.mountpoint < $1.mountpoint }
    }
}
