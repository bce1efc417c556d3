import CFuse3
import SottoCore

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
