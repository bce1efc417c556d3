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
    /// Idle unmounts and damage, told to the desktop.
    let notifier = DesktopNotifier()
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
        #if DEBUG
        self.readahead = FolderReadahead(layout: vault.layout, tree: vault.tree) { log.info("readahead requested \($0)") }
        #else
        self.readahead = FolderReadahead(layout: vault.layout, tree: vault.tree)
        #endif
        self.removals = DeferredRelease(tree: vault.tree)
        self.log = log
        self.readOnly = readOnly
        self.shared = shared
    }

    public enum MountError: Error { case setup(String) }
    /// Where it is mounted, once `run` has mounted it (for messages).
    var mountpoint: String?
    /// Set while running: publishes status, enforces the idle limit, and is told of each request.
    var supervisor: Supervisor?

    /// How requests arrive: "io_uring" once every CPU's queue has registered, else "/dev/fuse".
    var transport: String {
        switch sotto_ring_state(ring) {
        case Int32(SOTTO_RING_SERVING.rawValue): "io_uring"
        case Int32(SOTTO_RING_LIBFUSE.rawValue): "libfuse's io_uring where offered, else /dev/fuse"
        default: "/dev/fuse"
        }
    }
    /// The io_uring transport (CFuseRing), set by `run`.
    var ring: OpaquePointer?
    /// `run`'s `ready`, called once from the thread that answers FUSE_INIT.
    var onServing: (() -> Void)?
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
