import ArgumentParser
import Foundation
import CSottoShims
import SottoCore
import SottoFUSE
#if canImport(Glibc)
import Glibc
#endif

struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Show the vault, decrypted, as an ordinary folder (FUSE).",
        discussion: "By default the filesystem runs in the background and this command returns once the folder is ready. End it with 'sotto unmount MOUNTPOINT'.")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("An existing empty folder to show the vault in.", valueName: "MOUNTPOINT"), completion: .directory)
    var mountpoint: String
    @OptionGroup var password: PasswordOptions
    @Flag(name: .customLong("foreground"), help: "Stay in the foreground (logs also on stderr); Ctrl-C unmounts.")
    var foreground = false
    @Flag(name: .customLong("read-only"), help: "Mount read-only.")
    var readOnly = false
    @Flag(name: .customLong("shared"), help: "The vault directory is also written by a sync tool (Syncthing, rclone): show its changes within a second, and fail an open file it changes (docs/sync.md).")
    var shared = false
    @Flag(name: .customLong("allow-other"), help: "Let other users in (the kernel checks file modes for them); needs root or user_allow_other in /etc/fuse.conf.")
    var allowOther = false
    @Flag(name: .customLong("no-io-uring"), help: "Take requests through /dev/fuse even where the kernel offers FUSE over io_uring (docs/architecture.md).")
    var noIOUring = false
    @Flag(name: .customLong("nonempty"), help: "Mount even over a folder that is not empty (what it holds is hidden while mounted).")
    var nonempty = false
    @Flag(name: .customLong("no-xattr"), help: "No extended attributes: the kernel then stops asking for one before every write, which makes many small writes (a database's pages) faster (docs/architecture.md).")
    var noXattr = false
    @Option(name: .customLong("log"), help: ArgumentHelp("Write diagnostics to FILE (mode 0600) instead of syslog.", valueName: "FILE"), completion: .file())
    var logFile: String?
    @Option(name: .customLong("idle"), help: ArgumentHelp("Unmount after this long with no open file, no access and no program watching the folder (e.g. 15m, 1h30m, 90s).", valueName: "DURATION"))
    var idle: String?

    // Set by the background launcher only: the password arrives on a pipe, readiness goes back on another.
    @Option(name: .customLong("password-fd"), help: .private) var passwordFD: Int32?
    @Option(name: .customLong("ready-fd"), help: .private) var readyFD: Int32?

    /// "90", "90s", "15m", "2h", "1h30m", "1h30m15s" → seconds (units in falling order, each once).
    static func seconds(_ text: String) -> Int? {
        if let n = Int(text) { return n > 0 ? n : nil }
        let units: [(Character, Int)] = [("h", 3600), ("m", 60), ("s", 1)]
        var rest = Substring(text), total = 0, next = 0
        while !rest.isEmpty {
            guard let end = rest.firstIndex(where: { !$0.isNumber }), let n = Int(rest[..<end]),
                  let u = units[next...].firstIndex(where: { $0.0 == rest[end] }) else { return nil }
            let (part, overflowed) = n.multipliedReportingOverflow(by: units[u].1)
            let (sum, overflow) = total.addingReportingOverflow(part)
            guard !overflowed, !overflow else { return nil }
            total = sum
            next = u + 1
            rest = rest[rest.index(after: end)...]
        }
        return total > 0 ? total : nil
    }

    func validate() throws {
        if let idle, Self.seconds(idle) == nil { throw ValidationError("--idle takes a duration such as 15m, 1h30m or 90s, not '\(idle)'") }
    }

    func run() throws {
        let vaultPath = FileSystem.canonicalPath(vault.vault)
        let mp = try checkMountpoint(vaultPath: vaultPath)
        // However this ends — unmounted, or never mounted (a wrong password) — the bare folder
        // is locked again; while the mount is up (handed to the daemon) this does nothing.
        defer { MountpointGuard.lock(mp) }
        _ = try Vault.readConfig(at: vaultPath)
        let pw: SecretBytes
        if let passwordFD {
            pw = try PasswordReader.firstLine(of: FileDescriptor(rawValue: passwordFD), source: "the launcher")
            close(passwordFD)
        } else {
            pw = try password.read()
        }
        // The password is checked before anything is mounted.
        let opened = try Vault.open(at: vaultPath, password: pw)
        // Held by the filesystem process for as long as it runs: no rekey under a mount.
        let lock = try VaultLock.shared(vaultPath)
        defer { withExtendedLifetime(lock) {} }
        if foreground || readyFD != nil {
            try serve(opened, mountpoint: mp)
        } else {
            try launchInBackground(password: pw, vaultPath: vaultPath, mountpoint: mp)
            print("mounted \(vault.vault) at \(mountpoint); end it with 'sotto unmount \(mountpoint)'")
        }
    }

    /// The mountpoint, canonical, or an error naming what is wrong with it.
    private func checkMountpoint(vaultPath: String) throws -> String {
        let st: stat
        do { st = try FileSystem.lstat(mountpoint) } catch {
            if error.rawValue == ENOTCONN {
                throw SottoError.mountpoint("'\(mountpoint)' is a mount whose filesystem has died: run 'sotto unmount --lazy \(mountpoint)' first")
            }
            throw SottoError.mountpoint("mountpoint '\(mountpoint)' does not exist: create it with 'mkdir -p \(mountpoint)'")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw SottoError.mountpoint("mountpoint '\(mountpoint)' is not a directory") }
        let mp = FileSystem.canonicalPath(mountpoint)
        if let e = Mounts.entry(at: mp) {
            throw SottoError.mountpoint("'\(mountpoint)' is already a mountpoint (\(e.fsType)): unmount it first or choose another folder")
        }
        if FileSystem.isSameOrInside(mp, vaultPath) || FileSystem.isSameOrInside(vaultPath, mp) {
            throw SottoError.mountpoint("mountpoint '\(mountpoint)' and vault '\(vault.vault)' overlap: mount outside the vault directory")
        }
        // Locked while unmounted (MountpointGuard): opened for the mount.
        do { try MountpointGuard.prepare(mp) } catch {
            throw SottoError.mountpoint("cannot open mountpoint '\(mountpoint)' for the mount (it is kept mode 000 while unmounted): \(error)")
        }
        // Mounting over files hides them (and a program that kept one open would go on writing
        // plaintext there unseen), so a folder that is not empty is refused, as gocryptfs does.
        if !nonempty {
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: mp) } catch {
                throw SottoError.mountpoint("cannot list mountpoint '\(mountpoint)' to check that it is empty: \(error.localizedDescription)")
            }
            if let first = entries.sorted().first {
                throw SottoError.mountpoint("mountpoint '\(mountpoint)' is not empty (\(entries.count) entries, e.g. '\(first)'): mounting would hide them; choose an empty folder, or pass --nonempty")
            }
        }
        return mp
    }

    /// Runs the filesystem in this process until it is unmounted.
    private func serve(_ opened: Vault, mountpoint mp: String) throws {
        // Not dumpable, no core dump: set by Sotto.main before the password was read (this
        // daemon is `sotto mount` started again, so its main set them too).
        umask(0o077)  // anything made without an explicit mode stays private
        let log = try Log(path: logFile.map { FileSystem.canonicalPath($0) }, alsoStderr: foreground)
        _ = chdir("/")  // do not keep the launcher's working directory busy
        let mount = try Mount(vault: opened, readOnly: readOnly, shared: shared, log: log)
        do {
            try mount.run(mountpoint: mp, allowOther: allowOther, idleLimit: idle.flatMap(Self.seconds),
                          ioUring: !noIOUring, extendedAttributes: !noXattr) {
                if let readyFD {
                    var one: UInt8 = 1
                    _ = write(readyFD, &one, 1)
                    close(readyFD)
                    // Detach from the launcher's terminal and pipes.
                    let null = open("/dev/null", O_RDWR)
                    for fd: Int32 in [0, 1, 2] { dup2(null, fd) }
                    if null > 2 { close(null) }
                }
            }
        } catch Mount.MountError.setup(let why) {
            throw SottoError.mountFailed("mounting '\(vault.vault)' at '\(mountpoint)' failed: \(why)")
        }
    }

    /// Starts `sotto mount` again as a daemon in its own session, hands it the password on a pipe
    /// (never argv or the environment), and waits until it reports the mount ready or exits.
    private func launchInBackground(password pw: SecretBytes, vaultPath: String, mountpoint mp: String) throws {
        let exe = try io("find own executable", "/proc/self/exe") { () throws(Errno) in
            String(decoding: try FileSystem.readlink(Array("/proc/self/exe".utf8)), as: UTF8.self)
        }
        var args = [exe, "mount", vaultPath, mp, "--password-fd", "3", "--ready-fd", "4"]
        if readOnly { args.append("--read-only") }
        if shared { args.append("--shared") }
        if allowOther { args.append("--allow-other") }
        if noIOUring { args.append("--no-io-uring") }
        if noXattr { args.append("--no-xattr") }
        if nonempty { args.append("--nonempty") }
        if let logFile { args += ["--log", FileSystem.canonicalPath(logFile)] }
        if let idle { args += ["--idle", idle] }

        var pwPipe: [Int32] = [0, 0], readyPipe: [Int32] = [0, 0]
        guard sotto_pipe_cloexec(&pwPipe) == 0, sotto_pipe_cloexec(&readyPipe) == 0 else {
            throw SottoError.mountFailed("cannot create pipes: \(Errno.current)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pwPipe[0], 3)
        posix_spawn_file_actions_adddup2(&actions, readyPipe[1], 4)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, sotto_posix_spawn_setsid())
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, &attr, &cArgs, environ)
        close(pwPipe[0]); close(readyPipe[1])
        guard rc == 0 else {
            close(pwPipe[1]); close(readyPipe[0])
            throw SottoError.mountFailed("cannot start the filesystem process: \(Errno(rc))")
        }
        pw.withUnsafeBytes { b in
            _ = write(pwPipe[1], b.baseAddress, b.count)
            _ = write(pwPipe[1], "\n", 1)
        }
        close(pwPipe[1])
        var byte: UInt8 = 0
        var n: Int
        repeat { n = read(readyPipe[0], &byte, 1) } while n < 0 && errno == EINTR
        close(readyPipe[0])
        if n == 1 { return }
        // The daemon exited before the mount was ready; it has said why on our stderr.
        Glibc.exit(waitForChild(pid)?.exitCode ?? SottoError.ExitCode.mountFailed)
    }
}

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unmount a mounted vault; open data is already on disk.")

    @Argument(help: ArgumentHelp("Where the vault is mounted.", valueName: "MOUNTPOINT"), completion: .directory)
    var mountpoint: String
    @Flag(name: .customLong("lazy"), help: "Detach now even if busy; the filesystem ends when the last user leaves.")
    var lazy = false

    func run() throws {
        let mp = FileSystem.canonicalPath(mountpoint)
        guard let entry = Mounts.entry(at: mp) else { throw SottoError.notMounted("'\(mountpoint)' is not mounted") }
        guard entry.fsType == "fuse.sotto" else {
            throw SottoError.notMounted("'\(mountpoint)' is not a Sotto mount (it is \(entry.fsType)): use umount")
        }
        // The filesystem process outlives the unmount by a moment (closing the vault's files,
        // releasing its lock): wait for it, so the vault and the disk under it are free when this
        // returns (a rekey or an unmount of the disk right after would otherwise find them busy).
        let daemon = MountStatus.all().first { $0.mountpoint == mp }?.daemon.flatMap { ProcessExit(pid: $0.pid) }
        if geteuid() == 0 {
            if umount2(mp, lazy ? Int32(MNT_DETACH) : 0) != 0 {
                let e = Errno.current
                if e.rawValue == EBUSY {
                    throw SottoError.busy("'\(mountpoint)' is busy: a program has a file open or a working directory inside it; close them, or use 'sotto unmount --lazy'")
                }
                throw SottoError.io(operation: "unmount", path: mountpoint, errno: e)
            }
        } else {
            try runFusermount(mp)
        }
        // At once, not only when the daemon ends: after a lazy unmount the folder is bare while
        // the daemon still serves the programs that had files open.
        MountpointGuard.lock(mp)
        if !lazy, let daemon, !daemon.wait(milliseconds: Self.daemonExitWait) {
            Sotto.report("the filesystem process is still finishing; the vault is free once it exits")
        }
        print("unmounted \(mountpoint)")
    }

    /// How long to wait for the filesystem process after the unmount (it normally takes milliseconds).
    static let daemonExitWait: Int32 = 10_000

    private func runFusermount(_ mp: String) throws {
        var args = ["fusermount3", "-u"]
        if lazy { args.append("-z") }
        args.append(mp)
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, "fusermount3", nil, nil, &cArgs, environ) == 0 else {
            throw SottoError.mountFailed("cannot run fusermount3: install the fuse3 package")
        }
        guard waitForChild(pid)?.succeeded == true else {
            throw SottoError.busy("fusermount3 could not unmount '\(mountpoint)' (busy?): close programs using it, or use 'sotto unmount --lazy'")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show your mounted vaults.")
    @Flag(name: .customLong("json"), help: "Print as JSON.")
    var json = false

    func run() throws {
        let all = MountStatus.all()
        if json {
            let rows: [[String: Any]] = all.map { e in
                var o: [String: Any] = ["mountpoint": e.mountpoint, "state": e.daemon == nil ? "dead" : "live"]
                if let d = e.daemon {
                    o.merge(["pid": Int(d.pid), "vault": d.vault, "readOnly": d.readOnly, "shared": d.shared, "mountedSince": d.mountedSince,
                             "openFiles": d.openFiles, "lastAccess": d.lastAccess, "transport": d.transport]) { $1 }
                    if let i = d.idleLimitSeconds { o["idleLimitSeconds"] = i }
                }
                return o
            }
            try JSONOutput.print(["mounts": rows])
            return
        }
        if all.isEmpty { print("no vault is mounted"); return }
        for e in all {
            guard let d = e.daemon else {
                print("\(e.mountpoint)  dead: its filesystem process is gone (killed?); run 'sotto unmount --lazy \(e.mountpoint)'")
                continue
            }
            let since = TimeFormat.format(d.mountedSince, "%Y-%m-%d %H:%M", utc: false)
            let idle = d.idleLimitSeconds.map { ", unmounts after \($0) s idle" } ?? ""
            print("\(e.mountpoint)  <- \(d.vault)  \(d.readOnly ? "read-only" : "read-write")\(d.shared ? ", shared" : ""), since \(since), \(d.openFiles) open file\(d.openFiles == 1 ? "" : "s")\(idle), requests through \(d.transport)")
        }
    }
}
