import CFuse3
import CFuseRing
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// A mount's life: the session, the transport, signals and the supervisor, from mounting to the
// unmount.

extension Mount {
    /// Mount options. With `allowOther` the kernel checks every user against the modes Sotto
    /// reports (`default_permissions`), as on ext4. Without it only the mounting user gets in and
    /// the daemon runs as that user, so the backing filesystem's checks are the same ones; the
    /// kernel's would cost a GETATTR of the parent before each entry an `rm -rf` or untar touches.
    static func mountOptions(readOnly: Bool, allowOther: Bool) -> String {
        var o = ["fsname=sotto", "subtype=sotto"]
        if allowOther { o += ["allow_other", "default_permissions"] }
        if readOnly { o.append("ro") }
        return o.joined(separator: ",")
    }


    /// Mounts at `mountpoint`, calls `ready` once the kernel serves it (FUSE_INIT answered, the
    /// io_uring queues registered if used), then serves requests on worker threads until
    /// unmounted or signalled (SIGINT, SIGTERM, SIGHUP unmount cleanly). `ioUring`: take requests
    /// through io_uring where the kernel offers it (CFuseRing). `extendedAttributes`: false leaves the
    /// xattr operations out (`--no-xattr`).
    public func run(mountpoint: String, allowOther: Bool, idleLimit: Int? = nil, ioUring: Bool = true,
                    extendedAttributes: Bool = true, ready: @escaping () -> Void) throws {
        var ops = Self.operations(extendedAttributes: extendedAttributes)
        var argv = ["sotto", "-o", Self.mountOptions(readOnly: readOnly, allowOther: allowOther)]
        // libfuse 3.18+: its own io_uring, by option (CFuseRing's header says which kind is built).
        if let option = sotto_ring_session_option(ioUring ? 1 : 0) { argv += ["-o", String(cString: option)] }
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let me = Unmanaged.passRetained(self)
        defer { me.release() }
        let session: OpaquePointer? = cArgs.withUnsafeMutableBufferPointer { buf in
            var args = fuse_args(argc: Int32(argv.count), argv: buf.baseAddress, allocated: 0)
            return sotto_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, me.toOpaque())
        }
        guard let session else { throw MountError.setup("libfuse rejected the mount options") }
        defer { fuse_session_destroy(session) }
        // Before mounting: a signal from here on ends the mount cleanly (StopSignals for why not
        // libfuse's handlers). A write to a closed pipe or socket fails with EPIPE instead of
        // killing the daemon, as libfuse's handlers would also have arranged.
        signal(SIGPIPE, SIG_IGN)
        let stopSignals = try StopSignals(session: session, log: log)
        defer { stopSignals.finish() }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            throw MountError.setup("the kernel refused the mount (is /dev/fuse available, and fuse3 installed?)")
        }
        defer { fuse_session_unmount(session) }
        ring = sotto_ring_attach(session, ioUring ? 1 : 0, 0, { context, state, message in
            let m = Unmanaged<Mount>.fromOpaque(context!).takeUnretainedValue()
            if state == Int32(SOTTO_RING_FAILED.rawValue) { m.log.error(String(cString: message!)) }
            else { m.log.info(String(cString: message!)) }
            m.supervisor?.refresh()
            // Once: INIT is answered once, before any later failure can be reported.
            if let ready = m.onServing {
                m.onServing = nil
                ready()
            }
        }, me.toOpaque())
        guard ring != nil else { throw MountError.setup("out of memory setting up the request transport") }
        defer { sotto_ring_stop(ring) }
        log.info("mounted \(vault.path) at \(mountpoint)\(readOnly ? " (read-only)" : "")\(shared ? " (shared)" : "")")
        log.info("cipher library: \(AESGCM.libraryVersion)")
        log.info("desktop notifications: \(notifier.unavailable.map { "off (\($0))" } ?? "on (notify-send)")")
        self.mountpoint = mountpoint
        onServing = ready
        let supervisor = Supervisor(mount: self, mountpoint: mountpoint, idleLimit: idleLimit)
        self.supervisor = supervisor
        supervisor.start()
        defer { supervisor.stop() }
        let config = fuse_loop_cfg_create()
        defer { fuse_loop_cfg_destroy(config) }
        fuse_loop_cfg_set_max_threads(config, 16)
        let rc = stopSignals.serve { sotto_session_loop_mt(session, config) }
        log.info("unmounted \(mountpoint)\(rc != 0 ? " (loop ended with \(rc))" : "")")
        // Tests: a filesystem process slow to finish after the unmount (as with many open files),
        // which `sotto unmount` must wait for. SOTTO_TEST_EXIT_DELAY_MS=N.
        // Debug builds only (Rekey.swift says why a test hook here is not an `@_spi(Testing)` API).
        #if DEBUG
        if let ms = getenv("SOTTO_TEST_EXIT_DELAY_MS").flatMap({ UInt32(String(cString: $0)) }) { usleep(ms * 1000) }
        #endif
    }
}

/// Before a read waits for the disk, a thread serving an io_uring queue lets itself be woken on any
/// CPU (`sotto_ring_will_wait`; a no-op on other threads and on /dev/fuse).
struct RingDiskWaitHint: DiskWaitHint {
    func willWaitForDisk() { sotto_ring_will_wait() }
}
