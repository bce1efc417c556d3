#if canImport(Glibc)
import Glibc
#endif
import CSottoShims

private let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!

/// Path-level calls the core needs, each a thin wrapper that throws `Errno`.
public enum FileSystem {
    public static func lstat(_ path: [UInt8], in dir: FileDescriptor = .currentWorkingDirectory) throws(Errno) -> stat {
        var st = stat()
        try withCString(path) { (p) throws(Errno) in try retryingSyscall { fstatat(dir.rawValue, p, &st, AT_SYMLINK_NOFOLLOW) } }
        return st
    }

    public static func lstat(_ path: String) throws(Errno) -> stat { try lstat(Array(path.utf8)) }

    /// stat(2), following symlinks: for paths the user names (a vault, a mountpoint), never for
    /// entries inside a vault (`BackingTree`).
    public static func statFollowing(_ path: String) throws(Errno) -> stat {
        var st = Glibc.stat()
        try retryingSyscall { fstatat(AT_FDCWD, path, &st, 0) }
        return st
    }

    public static func exists(_ path: String) -> Bool { (try? lstat(path)) != nil }

    public static func mkdir(_ path: [UInt8], in dir: FileDescriptor = .currentWorkingDirectory, mode: mode_t) throws(Errno) {
        try withCString(path) { (p) throws(Errno) in try retryingSyscall { mkdirat(dir.rawValue, p, mode) } }
    }

    public static func mkdir(_ path: String, mode: mode_t) throws(Errno) { try mkdir(Array(path.utf8), mode: mode) }

    public static func rename(_ from: String, _ to: String) throws(Errno) {
        try retryingSyscall { Glibc.rename(from, to) }
    }

    /// Renames only if `to` does not exist (RENAME_NOREPLACE), so a racing writer is never overwritten.
    public static func renameNoReplace(_ from: String, _ to: String) throws(Errno) {
        try retryingSyscall { sotto_renameat2(AT_FDCWD, from, AT_FDCWD, to, sotto_rename_noreplace()) }
    }

    public static func unlink(_ path: String) throws(Errno) { try retryingSyscall { Glibc.unlink(path) } }

    public static func rmdir(_ path: String) throws(Errno) { try retryingSyscall { Glibc.rmdir(path) } }

    public static func symlink(target: [UInt8], at path: [UInt8], in dir: FileDescriptor = .currentWorkingDirectory) throws(Errno) {
        try withCString(target) { (t) throws(Errno) in
            try withCString(path) { (p) throws(Errno) in try retryingSyscall { symlinkat(t, dir.rawValue, p) } }
        }
    }

    public static func readlink(_ path: [UInt8], in dir: FileDescriptor = .currentWorkingDirectory) throws(Errno) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try withCString(path) { (p) throws(Errno) -> Int in
            let r = buf.withUnsafeMutableBytes { b in
                readlinkat(dir.rawValue, p, b.baseAddress!.assumingMemoryBound(to: CChar.self), b.count)
            }
            if r < 0 { throw Errno.current }
            return r
        }
        return Array(buf[0..<n])
    }

    /// The names in a directory (without "." and ".."), as raw bytes.
    public static func listDirectory(_ path: [UInt8], in dir: FileDescriptor = .currentWorkingDirectory) throws(Errno) -> [[UInt8]] {
        try listDirectory(try FileDescriptor.open(path, in: dir, flags: O_RDONLY | O_DIRECTORY))
    }

    /// The names in the open directory `fd` (closed on return).
    public static func listDirectory(_ fd: FileDescriptor) throws(Errno) -> [[UInt8]] {
        guard let d = fdopendir(fd.rawValue) else { let e = Errno.current; fd.close(); throw e }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let ent = readdir(d) else {
                if errno != 0 { throw Errno.current }
                break
            }
            // Never load `ent.pointee`: a dirent is only d_reclen bytes long, and copying the full
            // struct can read past the end of readdir's buffer into an unmapped page.
            let namePointer = UnsafeRawPointer(ent) + direntNameOffset
            let len = strlen(namePointer.assumingMemoryBound(to: CChar.self))
            let name = Array(UnsafeRawBufferPointer(start: namePointer, count: len))
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }

    public static func listDirectory(_ path: String) throws(Errno) -> [[UInt8]] { try listDirectory(Array(path.utf8)) }

    /// The canonical absolute path of `path`, or of its nearest existing ancestor with the rest
    /// appended (for a destination that does not exist yet).
    public static func canonicalPath(_ path: String) -> String {
        var head = path.isEmpty ? "." : path
        var tail: [Substring] = []
        while true {
            if let r = realpath(head, nil) {
                defer { free(r) }
                let base = String(cString: r)
                return ([base == "/" ? "" : base] + tail.reversed().map(String.init)).joined(separator: "/")
            }
            guard let slash = head.lastIndex(of: "/") else {
                tail.append(Substring(head)); head = "."; continue
            }
            tail.append(head[head.index(after: slash)...])
            head = slash == head.startIndex ? "/" : String(head[..<slash])
        }
    }

    /// Whether `inner` is `outer` or lies below it (canonical paths compared by components).
    public static func isSameOrInside(_ inner: String, _ outer: String) -> Bool {
        let i = canonicalPath(inner), o = canonicalPath(outer)
        return i == o || i.hasPrefix(o == "/" ? "/" : o + "/")
    }

    /// A small file outside any vault (/proc, a password file): at most `limit` bytes.
    public static func readSmallFile(_ path: String, limit: Int) throws(Errno) -> [UInt8] {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY)
        defer { fd.close() }
        return try fd.readAll(limit: limit)
    }

    /// fsync on a directory, so a rename or create in it is durable.
    public static func syncDirectory(_ path: String) throws(Errno) {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { fd.close() }
        try fd.sync()
    }

    public static func setTimes(_ path: [UInt8], in dir: FileDescriptor = .currentWorkingDirectory,
                                access: timespec, modification: timespec) throws(Errno) {
        var times = [access, modification]
        try withCString(path) { (p) throws(Errno) in
            try retryingSyscall { utimensat(dir.rawValue, p, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }
}
