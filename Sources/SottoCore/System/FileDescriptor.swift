import CSottoShims
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX error number with its message.
public struct Errno: Error, Equatable, CustomStringConvertible, Sendable {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public static var current: Errno { Errno(errno) }
    public var description: String { String(cString: strerror(rawValue)) }

    public static let noEntry = Errno(ENOENT)
    public static let exists = Errno(EEXIST)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let notEmpty = Errno(ENOTEMPTY)
    public static let io = Errno(EIO)
    public static let nameTooLong = Errno(ENAMETOOLONG)
    public static let invalid = Errno(EINVAL)
}


/// A thin typed wrapper over a file descriptor (after apple/swift-system's `FileDescriptor`).
/// The owner closes it explicitly.
public struct FileDescriptor: Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let currentWorkingDirectory = FileDescriptor(rawValue: AT_FDCWD)

    /// `openat(2)`; `name` may be a path relative to `directory` or absolute.
    public static func open(_ name: [UInt8], in directory: FileDescriptor = .currentWorkingDirectory,
                            flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let fd = try withCString(name) { (p) throws(Errno) -> Int32 in
            try retryingSyscall { openat(directory.rawValue, p, flags | O_CLOEXEC, mode) }
        }
        return FileDescriptor(rawValue: fd)
    }

    public static func open(_ path: String, in directory: FileDescriptor = .currentWorkingDirectory,
                            flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        try open(Array(path.utf8), in: directory, flags: flags, mode: mode)
    }

    public func close() { _ = Glibc.close(rawValue) }

    /// Reads until `buffer` is full or end of file; returns the byte count read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int? = nil) throws(Errno) -> Int {
        var done = 0
        while done < buffer.count {
            let p = buffer.baseAddress! + done
            let want = buffer.count - done
            let n: Int
            if let offset {
                n = try retryingSyscall { pread(rawValue, p, want, off_t(offset + done)) }
            } else {
                n = try retryingSyscall { Glibc.read(rawValue, p, want) }
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads like `read(into:at:)`, but takes what the page cache holds first and calls
    /// `beforeWaiting` only when the rest must come from the disk.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int,
                     beforeWaiting: () -> Void) throws(Errno) -> Int {
        guard buffer.count > 0 else { return 0 }
        let n = sotto_pread_cached(rawValue, buffer.baseAddress, buffer.count, Int64(offset))
        if n == buffer.count || n == 0 { return n }  // all cached, or end of file
        // Short (part cached), EAGAIN (none), or no RWF_NOWAIT here (EOPNOTSUPP): read the rest.
        let done = max(n, 0)
        beforeWaiting()
        return done + (try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: offset + done))
    }

    /// Writes all of `buffer` (at `offset`, or at the current position).
    /// Up to `count` bytes from `offset` (fewer at end of file).
    public func readBytes(_ count: Int, at offset: Int) throws(Errno) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var failure: Errno?
        let n = buf.withUnsafeMutableBytes { b -> Int in
            do throws(Errno) { return try read(into: b, at: offset) } catch { failure = error; return 0 }
        }
        if let failure { throw failure }
        return Array(buf[0..<n])
    }

    /// The whole file from the start, at most `limit` bytes (EFBIG if there is more).
    public func readAll(limit: Int) throws(Errno) -> [UInt8] {
        let bytes = try readBytes(limit + 1, at: 0)
        guard bytes.count <= limit else { throw Errno(EFBIG) }
        return bytes
    }

    public func writeAll(_ buffer: UnsafeRawBufferPointer, at offset: Int? = nil) throws(Errno) {
        var done = 0
        while done < buffer.count {
            let p = buffer.baseAddress! + done
            let want = buffer.count - done
            let n: Int
            if let offset {
                n = try retryingSyscall { pwrite(rawValue, p, want, off_t(offset + done)) }
            } else {
                n = try retryingSyscall { Glibc.write(rawValue, p, want) }
            }
            done += n
        }
    }

    public func writeAll(_ bytes: [UInt8], at offset: Int? = nil) throws(Errno) {
        var failure: Errno?
        bytes.withUnsafeBytes { b in
            do throws(Errno) { try writeAll(b, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func stat() throws(Errno) -> Glibc.stat {
        var st = Glibc.stat()
        try retryingSyscall { fstat(rawValue, &st) }
        return st
    }

    public func sync() throws(Errno) { try retryingSyscall { fsync(rawValue) } }

    public func truncate(to size: Int) throws(Errno) { try retryingSyscall { ftruncate(rawValue, off_t(size)) } }

    /// Makes sure `length` bytes from `offset` (the end of the file) have disk space, without
    /// changing the file's size (`fallocate(FALLOC_FL_KEEP_SIZE)`): EFBIG past the filesystem's
    /// largest file, ENOSPC when the space is not there, at once and with nothing written. ext4
    /// keeps what it managed to allocate before running out (measured: a 100 GB request with
    /// 80 GB free held all 80 GB past the end, the disk full), so a failed reservation is given
    /// back before the error is thrown. Where the filesystem cannot allocate ahead (EOPNOTSUPP:
    /// some network and FUSE filesystems), its free space is checked instead, which another
    /// writer can still use up meanwhile.
    public func reserve(offset: Int, length: Int) throws(Errno) {
        guard length > 0 else { return }
        do {
            try retryingSyscall { sotto_fallocate(rawValue, Self.keepSize, Int64(offset), Int64(length)) }
        } catch where error.rawValue != EOPNOTSUPP {
            releaseReserved(offset: offset, length: length)
            throw error
        } catch {
            var fs = statvfs()
            try retryingSyscall { fstatvfs(rawValue, &fs) }
            let free = Int(fs.f_bavail).multipliedReportingOverflow(by: Int(fs.f_frsize))
            if !free.overflow && free.partialValue < length { throw Errno(ENOSPC) }
        }
    }

    /// Gives back disk space reserved past the end (a grow that failed), best effort. ext4 and
    /// XFS free blocks past the end on a truncate to the current size, and ignore a punched hole
    /// there; tmpfs does the opposite. So both, and the modification time is put back: a grow
    /// that failed changed nothing.
    public func releaseReserved(offset: Int, length: Int) {
        guard length > 0, let st = try? stat() else { return }
        _ = try? retryingSyscall { ftruncate(rawValue, st.st_size) }
        _ = try? retryingSyscall { sotto_fallocate(rawValue, Self.keepSize | Self.punchHole, Int64(offset), Int64(length)) }
        var times = [timespec(tv_sec: 0, tv_nsec: Self.utimeOmit), st.st_mtim]
        _ = futimens(rawValue, &times)
    }

    /// Gives `length` bytes from `offset`, inside the file, disk space (fallocate mode 0): holes
    /// there are allocated and still read as zeros. False where the filesystem cannot.
    public func allocate(offset: Int, length: Int) throws(Errno) -> Bool {
        guard length > 0 else { return true }
        do {
            try retryingSyscall { sotto_fallocate(rawValue, 0, Int64(offset), Int64(length)) }
        } catch where error.rawValue == EOPNOTSUPP {
            return false
        }
        return true
    }

    /// Whether the filesystem has `bytes` free (for what cannot be reserved ahead).
    public func ensureFree(_ bytes: Int) throws(Errno) {
        var fs = statvfs()
        try retryingSyscall { fstatvfs(rawValue, &fs) }
        let free = Int(fs.f_bavail).multipliedReportingOverflow(by: Int(fs.f_frsize))
        if !free.overflow && free.partialValue < bytes { throw Errno(ENOSPC) }
    }

    /// Frees the disk space of `length` bytes from `offset` (they read as zeros after), size
    /// unchanged. Best effort: a filesystem that cannot punch (EOPNOTSUPP) gets the zeros written.
    public func punchHole(offset: Int, length: Int) throws(Errno) {
        guard length > 0 else { return }
        do {
            try retryingSyscall { sotto_fallocate(rawValue, Self.keepSize | Self.punchHole, Int64(offset), Int64(length)) }
        } catch where error.rawValue == EOPNOTSUPP {
            var at = offset
            while at < offset + length {
                let n = min(EncryptedFile.zeroChunk, offset + length - at)
                try writeAll(UnsafeRawBufferPointer(rebasing: EncryptedFile.zeros[0..<n]), at: at)
                at += n
            }
        }
    }

    /// Where the next data at or after `offset` starts (`lseek(SEEK_DATA)`); nil when only a hole
    /// follows to the end. A filesystem without hole reporting says `offset` itself.
    public func nextData(from offset: Int) throws(Errno) -> Int? {
        let r = lseek(rawValue, off_t(offset), Self.seekData)
        if r >= 0 { return Int(r) }
        switch errno {
        case ENXIO: return nil
        case EINVAL, EOPNOTSUPP: return offset
        default: throw Errno(errno)
        }
    }

    /// Where the next hole at or after `offset` starts (`lseek(SEEK_HOLE)`): the end of the file
    /// when no hole comes before it (so too where the filesystem keeps no holes); nil at or past
    /// the end. Moves the file position: for files read with `read(into:at:)`.
    public func nextHole(from offset: Int) throws(Errno) -> Int? {
        let r = lseek(rawValue, off_t(offset), Self.seekHole)
        if r >= 0 { return Int(r) }
        switch errno {
        case ENXIO, EINVAL, EOPNOTSUPP: return nil
        default: throw Errno(errno)
        }
    }

    /// lseek(2) whences (Linux ABI; Glibc's macros need _GNU_SOURCE).
    public static let seekData: Int32 = 3, seekHole: Int32 = 4
    /// fallocate(2) modes (Linux ABI, linux/falloc.h).
    public static let keepSize: Int32 = 0x01, punchHole: Int32 = 0x02, zeroRange: Int32 = 0x10
    /// utimensat(2)'s "leave this time as it is" (Linux ABI; Glibc's macro is not imported).
    static let utimeOmit = (1 << 30) - 2

    // MARK: Extended attributes

    /// The kernel's bounds on a value and on a list of names (XATTR_SIZE_MAX, XATTR_LIST_MAX):
    /// no read below is larger, whatever the vault directory holds.
    public static let extendedAttributeMax = 65536

    /// The value of extended attribute `name` (ENODATA if there is none).
    public func extendedAttribute(_ name: [UInt8]) throws(Errno) -> [UInt8] {
        try withCString(name) { (n) throws(Errno) -> [UInt8] in
            var buffer = [UInt8](repeating: 0, count: Self.extendedAttributeMax)
            defer { wipe(&buffer) }  // may be a plaintext value (import reads the source's)
            let got = try retryingSyscall {
                buffer.withUnsafeMutableBytes { sotto_fgetxattr(rawValue, n, $0.baseAddress, UInt($0.count)) }
            }
            return Array(buffer[0..<got])
        }
    }

    /// Sets extended attribute `name`; `flags` XATTR_CREATE (1) or XATTR_REPLACE (2) as setxattr(2).
    public func setExtendedAttribute(_ name: [UInt8], _ value: [UInt8], flags: Int32) throws(Errno) {
        try withCString(name) { (n) throws(Errno) in
            try retryingSyscall { value.withUnsafeBytes { sotto_fsetxattr(rawValue, n, $0.baseAddress, UInt($0.count), flags) } }
        }
    }

    public func removeExtendedAttribute(_ name: [UInt8]) throws(Errno) {
        try withCString(name) { (n) throws(Errno) in try retryingSyscall { sotto_fremovexattr(rawValue, n) } }
    }

    /// The names of this file's extended attributes.
    public func extendedAttributeNames() throws(Errno) -> [[UInt8]] {
        var buffer = [CChar](repeating: 0, count: Self.extendedAttributeMax)
        let got = try retryingSyscall { buffer.withUnsafeMutableBufferPointer { sotto_flistxattr(rawValue, $0.baseAddress, UInt($0.count)) } }
        return buffer[0..<got].split(separator: 0).map { $0.map { UInt8(bitPattern: $0) } }
    }

    /// Starts writing a range of this file's dirty pages to disk without waiting for it
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`); durability still needs `sync()`.
    public func startWriteback(offset: Int, length: Int) {
        _ = sotto_start_writeback(rawValue, Int64(offset), Int64(length))
    }
}
