#if canImport(Glibc)
import Glibc
#endif

/// The open files of a mount, by backing inode: every handle and hard link of a file shares one
/// `EncryptedFile`. The table's lock is taken on open and release only, never on read or write.
public final class OpenFileTable: @unchecked Sendable {
    private let lock = Mutex()
    private var files: [EncryptedFile.Identity: EncryptedFile] = [:]
    let keys: VaultKeys
    let tree: BackingTree
    let layout: ContentLayout
    /// Files may hold hole runs (format 7 on).
    let holes: Bool
    public let codecs: CodecPool
    public let readOnly: Bool
    /// Other programs may write the vault (`mount --shared`): open files watch for it.
    public let shared: Bool

    /// Handed to every file: told before a read waits for the disk.
    let diskWait: any DiskWaitHint

    public init(vault: Vault, readOnly: Bool, shared: Bool = false, diskWait: any DiskWaitHint = NoDiskWaitHint()) {
        self.diskWait = diskWait
        keys = vault.keys
        tree = vault.tree
        layout = vault.layout
        holes = vault.config.allowsHoles
        codecs = CodecPool(blockSize: vault.layout.blockSize)
        self.readOnly = readOnly
        self.shared = shared
    }

    /// Opens the backing file at `path` (read-write unless the mount is read-only or the file's
    /// mode forbids it) and returns the shared state, with one more reference.
    public func open(_ path: String, write: Bool) throws -> EncryptedFile {
        let (fd, writable) = try openBacking(path, write: write)
        let file = try EncryptedFile(fd: fd, writable: writable, backingPath: path, keys: keys, layout: layout, holes: holes,
                                     codecs: codecs, diskWait: diskWait)
        if shared { try file.watchForOutsideChanges() }
        return lock.withLock {
            if let existing = files[file.identity], existing.writable || !writable {
                existing.references += 1
                existing.backingPath = path
                return existing  // `file` closes its fd as it goes
            }
            // First opener, or a writer replacing a read-only state (no handle writes through it).
            file.references = (files[file.identity]?.references ?? 0) + 1
            files[file.identity] = file
            return file
        }
    }

    /// Creates a new, empty encrypted file at a reserved backing path (O_EXCL) and returns its
    /// open state with one reference: no second open, no header read back. `owner` (root only)
    /// is applied before `mode`, so chown cannot clear set-id bits of the final mode.
    public func create(_ path: String, mode: mode_t, owner: (uid: uid_t, gid: gid_t)?) throws -> EncryptedFile {
        let fd = try tree.openFile(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        let file: EncryptedFile
        do {
            let header = try codecs.with { try EncryptedFile.initialize(fd, keys: keys, layout: layout, gcm: $0.gcm) }
            if let owner { try retryingSyscall { fchown(fd.rawValue, owner.uid, owner.gid) } }
            try retryingSyscall { fchmod(fd.rawValue, mode & 0o7777) }
            file = try EncryptedFile(fd: fd, writable: true, backingPath: path, keys: keys, layout: layout, holes: holes,
                                     codecs: codecs, diskWait: diskWait, newFileHeader: header)
            if shared { try file.watchForOutsideChanges() }
        } catch {
            fd.close()
            _ = try? tree.unlink(path)
            throw error
        }
        lock.withLock {
            file.references = 1
            files[file.identity] = file
        }
        return file
    }

    /// Read-write when allowed, so one state serves readers and writers; read-only for a reader
    /// when the backing mode forbids writing.
    private func openBacking(_ path: String, write: Bool) throws(Errno) -> (FileDescriptor, Bool) {
        if readOnly { return (try tree.openFile(path, flags: O_RDONLY), false) }
        do {
            return (try tree.openFile(path, flags: O_RDWR), true)
        } catch {
            guard [EACCES, EPERM, EROFS].contains(error.rawValue), !write else { throw error }
            return (try tree.openFile(path, flags: O_RDONLY), false)
        }
    }

    /// How many files have open handles.
    public var openCount: Int { lock.withLock { files.count } }

    public func release(_ file: EncryptedFile) {
        lock.withLock {
            file.references -= 1
            if file.references <= 0, files[file.identity] === file { files[file.identity] = nil }
        }
    }
}
