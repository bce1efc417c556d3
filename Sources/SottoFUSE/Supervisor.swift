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

    /// Where mounts publish their status: /run/user/UID/sotto, or /tmp/sotto-UID where there is
    /// no /run/user/UID (mode 0700 each). Not $XDG_RUNTIME_DIR: a mount started from another
    /// session (sudo, ssh, a desktop with its own) must be found by `status` from any of them.
    static var runtimeDirectory: String {
        let uid = getuid()
        return FileSystem.exists("/run/user/\(uid)") ? "/run/user/\(uid)/sotto" : "/tmp/sotto-\(uid)"
    }

    /// A status directory is trusted only if it is a real directory of this user, closed to
    /// others (/tmp is shared: anyone could have made /tmp/sotto-UID first).
    static func isOwnPrivateDirectory(_ path: String) -> Bool {
        guard let st = try? FileSystem.lstat(path) else { return false }
        return st.st_mode & S_IFMT == S_IFDIR && st.st_uid == getuid() && st.st_mode & 0o077 == 0
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
        if Self.isOwnPrivateDirectory(dir) {
            publish()
        } else {
            mount.log.error("\(dir) is not a private directory of this user: `sotto status` will show this mount without its details")
            statusDirectoryUsable = false
        }
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

    /// False when the status directory is someone else's (nothing is written there).
    private var statusDirectoryUsable = true

    private func publish() {
        guard statusDirectoryUsable, let data = try? JSONEncoder().encode(status) else { return }
        let tmp = statusPath + ".tmp"
        if FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) {
            _ = try? FileSystem.rename(tmp, statusPath)
        }
    }

    /// Every directory a mount of this user may have published in: today's, and
    /// $XDG_RUNTIME_DIR/sotto where builds before 2026-12-02 published.
    static var runtimeDirectories: [String] {
        var dirs = [runtimeDirectory]
        if let xdg = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !dirs.contains(xdg + "/sotto") { dirs.append(xdg + "/sotto") }
        return dirs.filter(isOwnPrivateDirectory)
    }

    /// Whether `pid` is alive and a sotto process (not a dead daemon's number, reused).
    static func isFilesystemProcess(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM,
              let comm = try? FileSystem.readSmallFile("/proc/\(pid)/comm", limit: 64) else { return false }
        return String(decoding: comm, as: UTF8.self).hasPrefix("sotto")
    }

    /// The statuses published by live filesystem processes; files left by dead ones are removed.
    static func publishedStatuses() -> [Status] {
        var out: [Status] = []
        for dir in runtimeDirectories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for n in names where n.hasSuffix(".json") {
                let p = dir + "/" + n
                guard let data = try? FileSystem.readSmallFile(p, limit: 1 << 16),
                      let s = try? JSONDecoder().decode(Status.self, from: Data(data)) else { continue }
                if isFilesystemProcess(s.pid) { out.append(s) } else { _ = try? FileSystem.unlink(p) }
            }
        }
        return out
    }
}
