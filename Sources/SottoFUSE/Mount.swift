import CFuse3
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// A mounted vault: the state every FUSE callback reaches through `fuse_get_context()`.
/// The adapter is thin: paths go through `PathMapper`, content through `EncryptedFile`.
public final class Mount: @unchecked Sendable {
    public let vault: Vault
    let mapper: PathMapper
    let files: OpenFileTable
    let log: Log
    let readOnly: Bool
    /// Running as root: new entries are given to the calling user, as the kernel would.
    let isRoot = geteuid() == 0
    let gcm: GCMPool

    public init(vault: Vault, readOnly: Bool, log: Log) {
        self.vault = vault
        self.mapper = PathMapper(vault: vault)
        self.files = OpenFileTable(vault: vault, readOnly: readOnly)
        self.gcm = files.gcmPool
        self.log = log
        self.readOnly = readOnly
    }

    /// Mount options: the kernel checks permissions against the modes Sotto reports
    /// (`default_permissions`), as on ext4, for every user including other users with
    /// `allowOther`.
    static func mountOptions(readOnly: Bool, allowOther: Bool) -> String {
        var o = ["fsname=sotto", "subtype=sotto", "default_permissions"]
        if allowOther { o.append("allow_other") }
        if readOnly { o.append("ro") }
        return o.joined(separator: ",")
    }

    public enum MountError: Error { case setup(String) }

    /// Mounts at `mountpoint`, calls `ready` once the kernel serves it, then serves requests on
    /// worker threads until unmounted or signalled (SIGINT, SIGTERM, SIGHUP unmount cleanly).
    public func run(mountpoint: String, allowOther: Bool, ready: () -> Void) throws {
        var ops = Self.operations()
        let argv = ["sotto", "-o", Self.mountOptions(readOnly: readOnly, allowOther: allowOther)]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let me = Unmanaged.passRetained(self)
        defer { me.release() }
        let fuse: OpaquePointer? = cArgs.withUnsafeMutableBufferPointer { buf in
            var args = fuse_args(argc: Int32(argv.count), argv: buf.baseAddress, allocated: 0)
            return sotto_fuse_new(&args, &ops, MemoryLayout<fuse_operations>.size, me.toOpaque())
        }
        guard let fuse else { throw MountError.setup("libfuse rejected the mount options") }
        defer { fuse_destroy(fuse) }
        guard fuse_mount(fuse, mountpoint) == 0 else {
            throw MountError.setup("the kernel refused the mount (is /dev/fuse available, and fuse3 installed?)")
        }
        defer { fuse_unmount(fuse) }
        let session = fuse_get_session(fuse)
        guard fuse_set_signal_handlers(session) == 0 else { throw MountError.setup("cannot install signal handlers") }
        defer { fuse_remove_signal_handlers(session) }
        log.info("mounted \(vault.path) at \(mountpoint)\(readOnly ? " (read-only)" : "")")
        ready()
        let config = fuse_loop_cfg_create()
        defer { fuse_loop_cfg_destroy(config) }
        fuse_loop_cfg_set_max_threads(config, 16)
        let rc = sotto_fuse_loop_mt(fuse, config)
        log.info("unmounted \(mountpoint)\(rc != 0 ? " (loop ended with \(rc))" : "")")
    }

    /// Gives a new backing entry to the calling user and, in a setgid directory, the directory's
    /// group (as ext4 does); only root can.
    func takeOwnership(of backingPath: String, parent: String) {
        guard isRoot, let ctx = fuse_get_context() else { return }
        var gid = ctx.pointee.gid
        if let p = try? FileSystem.lstat(parent), p.st_mode & S_ISGID != 0 { gid = p.st_gid }
        _ = lchown(backingPath, ctx.pointee.uid, gid)
    }

    /// Whether new subdirectories of `parent` inherit its setgid bit.
    func inheritedSetgid(_ parent: String) -> mode_t {
        guard let p = try? FileSystem.lstat(parent), p.st_mode & S_ISGID != 0 else { return 0 }
        return S_ISGID
    }

    /// Backing attributes turned into what the mount shows: plaintext sizes.
    func plaintextAttributes(_ st: inout stat, backingPath: String) {
        if st.st_mode & S_IFMT == S_IFREG {
            if let size = vault.layout.plaintextSize(ciphertextSize: Int(st.st_size)) {
                st.st_size = off_t(size)
            } else {
                log.once("size:" + backingPath, "\(backingPath): size \(st.st_size) is not one a complete file can have (damaged or cut short); reads fail with EIO")
                st.st_size = 0
            }
        } else if st.st_mode & S_IFMT == S_IFLNK {
            st.st_size = off_t(SymlinkCipher.plaintextLength(storedLength: Int(st.st_size)))
        }
    }
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

/// An open directory: a descriptor of the backing directory, so listing follows it through renames.
final class DirectoryHandle: OpenHandle {
    let fd: FileDescriptor
    let plainPath: String
    init(fd: FileDescriptor, plainPath: String) { self.fd = fd; self.plainPath = plainPath }
    deinit { fd.close() }

    /// A path that reaches the directory through the descriptor.
    var backingPath: String { "/proc/self/fd/\(fd.rawValue)" }
}

/// The mount behind the current request.
@inline(__always)
func currentMount() -> Mount {
    Unmanaged<Mount>.fromOpaque(fuse_get_context()!.pointee.private_data).takeUnretainedValue()
}

/// Runs one operation: errors become negative errno; damage is logged with the file it is in and
/// reported as EIO, never as data.
@inline(__always)
func perform(_ body: (Mount) throws -> Int32) -> Int32 {
    let m = currentMount()
    do {
        return try body(m)
    } catch let e as Errno {
        return -e.rawValue
    } catch let e as SottoError {
        switch e {
        case .io(_, _, let errno): return -errno.rawValue
        case .notFound: return -ENOENT
        case .exists: return -EEXIST
        default:
            m.log.error(e.description)
            return -EIO
        }
    } catch {
        m.log.error("\(error)")
        return -EIO
    }
}

extension String {
    init(kernelPath p: UnsafePointer<CChar>?) { self = p.map { String(cString: $0) } ?? "(unlinked)" }
}
