import CFuse3
import CFuseRing
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// A mounted vault: the state every FUSE request reaches through `fuse_req_userdata`.
/// The adapter is thin: paths go through `PathMapper`, content through `EncryptedFile`.
public final class Mount: @unchecked Sendable {
    public let vault: Vault
    let mapper: PathMapper
    let files: OpenFileTable
    let log: Log
    let readOnly: Bool
    /// Other programs (a sync tool) may change the vault directory while it is mounted.
    let shared: Bool
    /// Running as root: new entries are given to the calling user, as the kernel would.
    let isRoot = geteuid() == 0
    let codecs: CodecPool
    let inodes: InodeTable
    let listings = DirectoryListings()
    let readahead: FolderReadahead
    let removals: DeferredRelease
    /// The kernel takes ENOSYS from OPENDIR as "never send OPENDIR or RELEASEDIR again" (set at
    /// INIT; not with --shared).
    var noOpendir = false
    /// How long the kernel may cache attributes and names (and negative lookups). It is also the
    /// staleness bound of `--shared` (docs/sync.md): a change a sync tool makes shows within it.
    static let cacheTimeout = 1.0
    /// How long the kernel may trust a name it looked up: as long as a minute when only this mount
    /// writes the vault (nothing else can rename or remove an entry behind its back), so an
    /// `rm -rf` or a build a few seconds after a listing does not look every name up again.
    /// Attributes and negative entries keep `cacheTimeout`: `sotto import` may add names meanwhile.
    var entryTimeout: Double { shared ? Self.cacheTimeout : Self.privateEntryTimeout }
    static let privateEntryTimeout = 60.0
    /// READs at least this large come from the kernel's readahead of a stream: through io_uring
    /// their threads may run on any CPU (sotto_ring_streaming).
    static let streamingRead = 64 << 10

    public init(vault: Vault, readOnly: Bool, shared: Bool = false, log: Log) throws {
        self.vault = vault
        self.mapper = PathMapper(vault: vault, shared: shared, readOnly: readOnly)
        self.inodes = InodeTable(rootPath: vault.path, rootStat: try vault.tree.lstat(vault.path), mapper: mapper)
        self.files = OpenFileTable(vault: vault, readOnly: readOnly, shared: shared, diskWait: RingDiskWaitHint())
        self.codecs = files.codecs
        self.readahead = FolderReadahead(layout: vault.layout, tree: vault.tree)
        self.removals = DeferredRelease(tree: vault.tree)
        self.log = log
        self.readOnly = readOnly
        self.shared = shared
    }

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

    public enum MountError: Error { case setup(String) }

    /// Set while running: publishes status, enforces the idle limit, and is told of each request.
    var supervisor: Supervisor?

    /// How requests arrive: "io_uring" once every CPU's queue has registered, else "/dev/fuse".
    var transport: String { sotto_ring_state(ring) == Int32(SOTTO_RING_SERVING.rawValue) ? "io_uring" : "/dev/fuse" }
    private var ring: OpaquePointer?
    /// `run`'s `ready`, called once from the thread that answers FUSE_INIT.
    private var onServing: (() -> Void)?

    /// Mounts at `mountpoint`, calls `ready` once the kernel serves it (FUSE_INIT answered, the
    /// io_uring queues registered if used), then serves requests on worker threads until
    /// unmounted or signalled (SIGINT, SIGTERM, SIGHUP unmount cleanly). `ioUring`: take requests
    /// through io_uring where the kernel offers it (CFuseRing). `extendedAttributes`: false leaves the
    /// xattr operations out (`--no-xattr`).
    public func run(mountpoint: String, allowOther: Bool, idleLimit: Int? = nil, ioUring: Bool = true,
                    extendedAttributes: Bool = true, ready: @escaping () -> Void) throws {
        var ops = Self.operations(extendedAttributes: extendedAttributes)
        let argv = ["sotto", "-o", Self.mountOptions(readOnly: readOnly, allowOther: allowOther)]
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
        if let ms = getenv("SOTTO_TEST_EXIT_DELAY_MS").flatMap({ UInt32(String(cString: $0)) }) { usleep(ms * 1000) }
    }

    /// Gives a new backing entry to the calling user and, in a setgid directory, the directory's
    /// group (as ext4 does); only root can.
    func takeOwnership(of backingPath: String, parent: String, request: fuse_req_t?) {
        guard let o = owner(for: request, parent: parent) else { return }
        _ = try? vault.tree.chown(backingPath, uid: o.uid, gid: o.gid)
    }

    /// The owner a new entry must be given, or nil when the backing filesystem already gave it
    /// the right one (the caller is the daemon's own user, or only the group differs and the
    /// setgid parent supplies it): most creates then need no chown.
    func owner(for request: fuse_req_t?, parent: String) -> (uid: uid_t, gid: gid_t)? {
        guard isRoot, let ctx = fuse_req_ctx(request) else { return nil }
        let uid = ctx.pointee.uid
        var gid = ctx.pointee.gid
        if uid == geteuid() && gid == getegid() { return nil }
        if let p = try? vault.tree.lstat(parent), p.st_mode & S_ISGID != 0 { gid = p.st_gid }
        return (uid, gid)
    }

    /// Whether new subdirectories of `parent` inherit its setgid bit.
    func inheritedSetgid(_ parent: String) -> mode_t {
        guard let p = try? vault.tree.lstat(parent), p.st_mode & S_ISGID != 0 else { return 0 }
        return S_ISGID
    }

    /// Backing attributes turned into what the mount shows: plaintext sizes.
    func plaintextAttributes(_ st: inout stat, backingPath: String) {
        if let size = vault.plaintextSize(mode: st.st_mode, storedSize: Int(st.st_size)) {
            st.st_size = off_t(size)
        } else {
            log.once("size:" + backingPath, "\(backingPath): size \(st.st_size) is not one a complete file can have (damaged or cut short); reads fail with EIO")
            st.st_size = 0
        }
    }
}

/// Before a read waits for the disk, a thread serving an io_uring queue lets itself be woken on any
/// CPU (`sotto_ring_will_wait`; a no-op on other threads and on /dev/fuse).
struct RingDiskWaitHint: DiskWaitHint {
    func willWaitForDisk() { sotto_ring_will_wait() }
}

/// What `fuse_file_info.fh` holds, retained from open/opendir until release/releasedir.
/// With `nullpath_ok`, operations on an open file or directory get only this, no path.
class OpenHandle {
    func store(in fi: UnsafeMutablePointer<fuse_file_info>) {
        fi.pointee.fh = UInt64(UInt(bitPattern: Unmanaged.passRetained(self).toOpaque()))
    }

    static func from(_ fi: UnsafeMutablePointer<fuse_file_info>?) -> OpenHandle? {
        guard let fi, fi.pointee.fh != 0, let p = UnsafeRawPointer(bitPattern: UInt(fi.pointee.fh)) else { return nil }
        return Unmanaged<OpenHandle>.fromOpaque(p).takeUnretainedValue()
    }

    static func take(_ fi: UnsafeMutablePointer<fuse_file_info>?) -> OpenHandle? {
        guard let fi, fi.pointee.fh != 0, let p = UnsafeRawPointer(bitPattern: UInt(fi.pointee.fh)) else { return nil }
        fi.pointee.fh = 0
        return Unmanaged<OpenHandle>.fromOpaque(p).takeRetainedValue()
    }
}

/// An open file: the shared per-inode state.
final class Handle: OpenHandle {
    let file: EncryptedFile
    init(_ file: EncryptedFile) { self.file = file }

    static func file(_ fi: UnsafeMutablePointer<fuse_file_info>?) -> Handle? { from(fi) as? Handle }
}

/// The mount a request belongs to.
@inline(__always)
func mount(of request: fuse_req_t?) -> Mount {
    Unmanaged<Mount>.fromOpaque(fuse_req_userdata(request)).takeUnretainedValue()
}

/// Runs one request: `body` sends the reply on success; any error becomes `fuse_reply_err`.
/// Damage is logged with the file it is in and answered with EIO, never with data.
@inline(__always)
func handle(_ request: fuse_req_t?, _ body: (Mount) throws -> Void) {
    let m = mount(of: request)
    m.supervisor?.touch()
    do {
        try body(m)
    } catch {
        fuse_reply_err(request, m.errnoValue(for: error))
    }
}

extension Mount {
    func errnoValue(for error: Error) -> Int32 {
        switch error {
        case let e as Errno: return e.rawValue
        case let e as SottoError:
            switch e {
            case .io(_, _, let errno): return errno.rawValue
            case .notFound: return ENOENT
            case .exists: return EEXIST
            default:
                log.error(e.description)
                return EIO
            }
        default:
            log.error("\(error)")
            return EIO
        }
    }
}

/// What `sotto status` shows: the mounts this user has running.
public enum MountStatus {
    public struct Entry: Sendable {
        public let pid: Int32, vault: String, mountpoint: String, readOnly: Bool, shared: Bool
        public let mountedSince: Int, openFiles: Int, lastAccess: Int, idleLimitSeconds: Int?
        public let transport: String
    }

    public static func all() -> [Entry] {
        Supervisor.allStatuses().map {
            Entry(pid: $0.pid, vault: $0.vault, mountpoint: $0.mountpoint, readOnly: $0.readOnly, shared: $0.shared ?? false,
                  mountedSince: $0.mountedSince,
                  openFiles: $0.openFiles, lastAccess: $0.lastAccess, idleLimitSeconds: $0.idleLimitSeconds,
                  transport: $0.transport ?? "/dev/fuse")
        }
    }
}
