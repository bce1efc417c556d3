#if canImport(Glibc)
import Glibc
#endif
import CSottoShims

/// The vault directory, reached only through its descriptor. Whoever can write the vault (a sync
/// peer, a cloud copy) can plant symlinks, FIFOs and devices anywhere in it, so every path below
/// the root is resolved with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS)` (an `O_NOFOLLOW` walk where the kernel lacks it): a symlink anywhere
/// on the way fails with ELOOP, `..` cannot climb out, and the last component is never followed.
/// Callers keep absolute path strings (`path + "/" + …`) for messages; only the part below the
/// root reaches the kernel, relative to the descriptor.
public final class BackingTree: @unchecked Sendable {
    public let path: String
    /// `O_PATH | O_DIRECTORY` of the vault directory (the user named it: following a symlink to
    /// it is their choice; nothing below it is followed).
    public let root: FileDescriptor

    public init(path: String) throws(Errno) {
        self.path = path
        root = try FileDescriptor.open(path, flags: sotto_o_path() | O_DIRECTORY)
    }

    deinit { root.close() }

    /// What the kernel reports for an entry of the wrong type where a file, directory or ID file
    /// is expected (a FIFO, a device, a socket): treated as damage, never opened for reading.
    public static let wrongType = Errno.io

    // MARK: Resolution

    /// `absolute` as a path relative to the root ("." for the root itself).
    func relative(_ absolute: String) throws(Errno) -> [UInt8] {
        if absolute == path { return [0x2E] }
        let prefix = path.hasSuffix("/") ? path : path + "/"
        guard absolute.hasPrefix(prefix) else { throw Errno(EXDEV) }  // not in this vault: a bug, refused
        // A vault named "v/" or "v//" gives paths like "v//name": the extra slashes are not a root.
        let rel = absolute.utf8.dropFirst(prefix.utf8.count).drop { $0 == 0x2F }
        return rel.isEmpty ? [0x2E] : Array(rel)
    }

    /// Opens `absolute` beneath the root. `O_NOFOLLOW` is implied: a symlink as the last component
    /// is ELOOP (or, with `O_PATH`, the link itself).
    public func open(_ absolute: String, flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let rel = try relative(absolute)
        if rel == [0x2E] { return try open(relative: rel, flags: flags, mode: mode) }
        // The last name, in its directory: openat with O_NOFOLLOW on a single component is what
        // openat2's rules give for it (ELOOP for a symlink, the link itself with O_PATH).
        return try withParent(absolute) { (d, n) throws(Errno) in
            try FileDescriptor.open(n, in: d, flags: flags | O_NOFOLLOW, mode: mode)
        }
    }

    private static let useWalk: Bool = {
        let fd = sotto_openat2_beneath(AT_FDCWD, ".", sotto_o_path(), 0)
        if fd >= 0 { Glibc.close(fd); return false }
        return errno == ENOSYS
    }()

    /// The longest path handed to one openat2. The kernel takes at most PATH_MAX (4096) bytes per
    /// path argument, and encrypted names are about 4/3 of the plaintext ones: a plaintext path
    /// near PATH_MAX can be 6 KB in the vault. Longer paths are opened in steps, each step's
    /// directory the base of the next (still beneath it, still without symlinks).
    static let maxResolvedLength = 3072

    func open(relative rel: [UInt8], flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let all = flags | O_NOFOLLOW | O_CLOEXEC
        if Self.useWalk { return try walk(rel, flags: all, mode: mode) }
        var base = root, rest = rel[...]
        var step: FileDescriptor?
        defer { step?.close() }
        while rest.count > Self.maxResolvedLength {
            guard let cut = rest[..<(rest.startIndex + Self.maxResolvedLength)].lastIndex(of: 0x2F) else { throw Errno.nameTooLong }
            let next = try Self.openBeneath(base, Array(rest[..<cut]), sotto_o_path() | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
            step?.close()
            step = next
            base = next
            rest = rest[(cut + 1)...]
        }
        return try Self.openBeneath(base, Array(rest), all, mode)
    }

    private static func openBeneath(_ base: FileDescriptor, _ rel: [UInt8], _ flags: Int32, _ mode: mode_t) throws(Errno) -> FileDescriptor {
        let fd = try withCString(rel) { (p) throws(Errno) -> Int32 in
            try retryingSyscall { sotto_openat2_beneath(base.rawValue, p, flags, UInt32(mode)) }
        }
        return FileDescriptor(rawValue: fd)
    }

    /// Kernels before openat2: one component at a time, none of them a symlink, "." or "..".
    private func walk(_ rel: [UInt8], flags: Int32, mode: mode_t) throws(Errno) -> FileDescriptor {
        let parts = rel.split(separator: 0x2F, omittingEmptySubsequences: true).map(Array.init)
        if parts == [[0x2E]] || parts.isEmpty { return try FileDescriptor.open([0x2E], in: root, flags: flags, mode: mode) }
        var dir = root
        defer { if dir.rawValue != root.rawValue { dir.close() } }
        for (i, part) in parts.enumerated() {
            if part == [0x2E] || part == [0x2E, 0x2E] { throw Errno(EXDEV) }
            if i == parts.count - 1 { return try FileDescriptor.open(part, in: dir, flags: flags, mode: mode) }
            let next = try FileDescriptor.open(part, in: dir, flags: sotto_o_path() | O_DIRECTORY | O_NOFOLLOW)
            if dir.rawValue != root.rawValue { dir.close() }
            dir = next
        }
        fatalError("unreachable")
    }

    /// Calls `body` with the parent directory of `absolute` (opened beneath the root) and the last
    /// component, for the `*at` calls that act on a name without following it.
    @discardableResult
    func withParent<R>(_ absolute: String, _ body: (FileDescriptor, [UInt8]) throws(Errno) -> R) throws(Errno) -> R {
        let rel = try relative(absolute)
        let slash = rel.lastIndex(of: 0x2F)
        let leaf = slash.map { Array(rel[($0 + 1)...]) } ?? rel
        guard !leaf.isEmpty, leaf != [0x2E], leaf != [0x2E, 0x2E] else { throw Errno.invalid }
        guard let slash else { return try body(root, leaf) }
        let dir = try directory(Array(rel[..<slash]))
        return try withExtendedLifetime(dir) { () throws(Errno) -> R in try body(dir.fd, leaf) }
    }

    // MARK: Directory handles

    /// An `O_PATH` descriptor of a directory below the root, closed when the last user lets go.
    private final class DirectoryHandle {
        let fd: FileDescriptor
        let opened: UInt64
        init(_ fd: FileDescriptor, _ opened: UInt64) { self.fd = fd; self.opened = opened }
        deinit { fd.close() }
    }

    /// Recently resolved directories, so a run of calls in one folder (a create, its chmod, chown
    /// and utimens; an `rm -rf`) resolves the folder's path once, not per call. As in gocryptfs's
    /// dirCache: a few entries, each trusted for at most a second, dropped at once by this
    /// tree's own rename and rmdir (of the path and everything below it); a change made by
    /// another program (a sync tool, `--shared`) is seen within the second. A handle is a
    /// directory that was beneath the root, reached without a symlink, when it was opened.
    private let handleLock = Mutex()
    private var handles: [[UInt8]: DirectoryHandle] = [:]
    /// Bumped by every rename and rmdir: a handle opened before one is not cached after it.
    private var generation: UInt64 = 0
    static let maxHandles = 64
    static let handleLifetimeNanoseconds: UInt64 = 1_000_000_000

    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    private func directory(_ rel: [UInt8]) throws(Errno) -> DirectoryHandle {
        let now = Self.now()
        if let h = handleLock.withLock({ handles[rel] }), now &- h.opened < Self.handleLifetimeNanoseconds { return h }
        let seen = handleLock.withLock { generation }
        let h = DirectoryHandle(try open(relative: rel, flags: sotto_o_path() | O_DIRECTORY), now)
        handleLock.withLock {
            guard generation == seen else { return }  // a rename or rmdir ran meanwhile: use it once
            if handles.count >= Self.maxHandles { handles.removeAll(keepingCapacity: true) }
            handles[rel] = h
        }
        return h
    }

    /// Drops the handles of `absolute` and everything below it (it was renamed or removed).
    private func forgetDirectories(_ absolute: String) {
        guard let rel = try? relative(absolute) else { return }
        handleLock.withLock {
            generation &+= 1
            guard !handles.isEmpty else { return }
            handles[rel] = nil
            let prefix = rel + [0x2F]
            for key in handles.keys where key.starts(with: prefix) { handles[key] = nil }
        }
    }

    // MARK: Names

    public func lstat(_ absolute: String) throws(Errno) -> stat {
        if try isRoot(absolute) { return try root.stat() }
        return try withParent(absolute) { (d, n) throws(Errno) in try FileSystem.lstat(n, in: d) }
    }

    public func exists(_ absolute: String) -> Bool { (try? lstat(absolute)) != nil }

    public func mkdir(_ absolute: String, mode: mode_t) throws(Errno) {
        try withParent(absolute) { (d, n) throws(Errno) in try FileSystem.mkdir(n, in: d, mode: mode) }
    }

    public func unlink(_ absolute: String) throws(Errno) {
        try withParent(absolute) { (d, n) throws(Errno) in
            try withCString(n) { (p) throws(Errno) in try retryingSyscall { unlinkat(d.rawValue, p, 0) } }
        }
    }

    public func rmdir(_ absolute: String) throws(Errno) {
        forgetDirectories(absolute)
        defer { forgetDirectories(absolute) }
        try withParent(absolute) { (d, n) throws(Errno) in
            try withCString(n) { (p) throws(Errno) in try retryingSyscall { unlinkat(d.rawValue, p, AT_REMOVEDIR) } }
        }
    }

    /// renameat2 between two names below the root (`flags`: RENAME_NOREPLACE, RENAME_EXCHANGE).
    public func rename(_ from: String, _ to: String, flags: UInt32 = 0) throws(Errno) {
        // Either may be a directory (and with RENAME_EXCHANGE both move): their handles go first,
        // so no call after this one reaches a folder by a path that no longer names it.
        forgetDirectories(from)
        forgetDirectories(to)
        defer { forgetDirectories(from); forgetDirectories(to) }
        try withParent(from) { (fd, fn) throws(Errno) in
            try withParent(to) { (td, tn) throws(Errno) in
                try withCString(fn) { (f) throws(Errno) in
                    try withCString(tn) { (t) throws(Errno) in
                        try retryingSyscall { sotto_renameat2(fd.rawValue, f, td.rawValue, t, flags) }
                    }
                }
            }
        }
    }

    /// Renames only if `to` does not exist (RENAME_NOREPLACE), so a racing writer is never overwritten.
    public func renameNoReplace(_ from: String, _ to: String) throws(Errno) { try rename(from, to, flags: sotto_rename_noreplace()) }

    /// A hard link; `from` itself is never followed.
    public func link(_ from: String, _ to: String) throws(Errno) {
        try withParent(from) { (fd, fn) throws(Errno) in
            try withParent(to) { (td, tn) throws(Errno) in
                try withCString(fn) { (f) throws(Errno) in
                    try withCString(tn) { (t) throws(Errno) in try retryingSyscall { linkat(fd.rawValue, f, td.rawValue, t, 0) } }
                }
            }
        }
    }

    public func symlink(target: [UInt8], at absolute: String) throws(Errno) {
        try withParent(absolute) { (d, n) throws(Errno) in try FileSystem.symlink(target: target, at: n, in: d) }
    }

    public func readlink(_ absolute: String) throws(Errno) -> [UInt8] {
        try withParent(absolute) { (d, n) throws(Errno) in try FileSystem.readlink(n, in: d) }
    }

    public func mknod(_ absolute: String, mode: mode_t, device: dev_t) throws(Errno) {
        try withParent(absolute) { (d, n) throws(Errno) in
            try withCString(n) { (p) throws(Errno) in try retryingSyscall { mknodat(d.rawValue, p, mode, device) } }
        }
    }

    /// chmod of the entry itself, never of what a symlink there points to (Linux has no
    /// `fchmodat(AT_SYMLINK_NOFOLLOW)`: the entry is pinned by an `O_PATH` descriptor, checked, and
    /// changed through /proc/self/fd).
    public func chmod(_ absolute: String, mode: mode_t) throws(Errno) {
        let fd = try open(absolute, flags: sotto_o_path())
        defer { fd.close() }
        guard EntryKind(mode: try fd.stat().st_mode) != .symlink else { throw Errno(EOPNOTSUPP) }
        try retryingSyscall { Glibc.chmod("/proc/self/fd/\(fd.rawValue)", mode) }
    }

    /// The root itself has no parent below the root: calls on it go through its descriptor.
    private func isRoot(_ absolute: String) throws(Errno) -> Bool { try relative(absolute) == [0x2E] }

    public func chown(_ absolute: String, uid: uid_t, gid: gid_t) throws(Errno) {
        if try isRoot(absolute) {
            return try withCString([]) { (p) throws(Errno) in try retryingSyscall { fchownat(root.rawValue, p, uid, gid, 0x1000 /* AT_EMPTY_PATH */) } }
        }
        try withParent(absolute) { (d, n) throws(Errno) in
            try withCString(n) { (p) throws(Errno) in try retryingSyscall { fchownat(d.rawValue, p, uid, gid, AT_SYMLINK_NOFOLLOW) } }
        }
    }

    /// utimensat without following; `times` may hold UTIME_NOW / UTIME_OMIT.
    public func setTimes(_ absolute: String, _ times: [timespec]) throws(Errno) {
        var t = times
        if try isRoot(absolute) {
            try retryingSyscall { utimensat(AT_FDCWD, "/proc/self/fd/\(root.rawValue)", &t, 0) }
            return
        }
        try withParent(absolute) { (d, n) throws(Errno) in
            try withCString(n) { (p) throws(Errno) in try retryingSyscall { utimensat(d.rawValue, p, &t, AT_SYMLINK_NOFOLLOW) } }
        }
    }

    public func setTimes(_ absolute: String, access: timespec, modification: timespec) throws(Errno) {
        try setTimes(absolute, [access, modification])
    }

    // MARK: Directories and small files

    /// The names in a directory below the root (without "." and "..").
    public func listDirectory(_ absolute: String) throws(Errno) -> [[UInt8]] {
        let fd = try open(absolute, flags: O_RDONLY | O_DIRECTORY)
        return try FileSystem.listDirectory(fd)
    }

    public func syncDirectory(_ absolute: String) throws(Errno) {
        let fd = try open(absolute, flags: O_RDONLY | O_DIRECTORY)
        defer { fd.close() }
        try fd.sync()
    }

    /// Opens a regular file below the root. `O_NONBLOCK` keeps a FIFO planted in its place from
    /// blocking the open; anything but a regular file is `wrongType` and closed unread.
    public func openFile(_ absolute: String, flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        // O_CREAT | O_EXCL (with the implied O_NOFOLLOW) fails on anything already there: what it
        // opens is the regular file it just made, with nothing to check.
        if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL { return try open(absolute, flags: flags, mode: mode) }
        let fd = try open(absolute, flags: flags | O_NONBLOCK, mode: mode)
        do throws(Errno) {
            guard EntryKind(mode: try fd.stat().st_mode) == .file else { throw Self.wrongType }
            // A regular file after all: back to the caller's flags (O_NONBLOCK was only for the open).
            if flags & O_NONBLOCK == 0 { try retryingSyscall { sotto_fcntl_setfl(fd.rawValue, flags & ~O_CREAT & ~O_EXCL & ~O_TRUNC) } }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// A small file's bytes (config, `sotto.dirid`, a long name): a regular file only, at most
    /// `limit` bytes (EFBIG beyond), so neither a FIFO nor a huge file can stall or exhaust a reader.
    public func readSmallFile(_ absolute: String, limit: Int) throws(Errno) -> [UInt8] {
        let fd = try openFile(absolute, flags: O_RDONLY)
        defer { fd.close() }
        return try fd.readAll(limit: limit)
    }

    /// Writes a new file at a temporary name of the format (whatever was left there is removed
    /// first, never truncated: it could be a hard link to a file outside the vault), fsyncs it.
    public func writeFileDurably(_ absolute: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(Errno) {
        do throws(Errno) { try unlink(absolute) } catch { if error != .noEntry { throw error } }
        let fd = try openFile(absolute, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        defer { fd.close() }
        try fd.writeAll(bytes)
        try fd.sync()
    }
}
