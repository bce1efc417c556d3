#if canImport(Glibc)
import Glibc
#endif

/// An advisory lock on the vault directory (`flock`), held for as long as the object lives: a
/// mount or an import holds it shared, `sotto rekey` exclusively, so a rekey never runs under a
/// mount and a mount never starts under a rekey.
public final class VaultLock {
    private let fd: FileDescriptor

    private init(vaultPath: String, exclusive: Bool, holder: String) throws {
        fd = try io("open vault directory", vaultPath) { () throws(Errno) in
            try FileDescriptor.open(vaultPath, flags: O_RDONLY | O_DIRECTORY)
        }
        guard flock(fd.rawValue, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 else {
            let e = Errno.current
            fd.close()
            if e.rawValue == EWOULDBLOCK { throw SottoError.busy(holder) }
            throw SottoError.io(operation: "lock vault directory", path: vaultPath, errno: e)
        }
    }

    deinit { fd.close() }

    /// For mounts and imports: refused only while a rekey runs.
    public static func shared(_ vaultPath: String) throws -> VaultLock {
        try VaultLock(vaultPath: vaultPath, exclusive: false,
                      holder: "'\(vaultPath)' is being rekeyed by another 'sotto rekey': wait for it to finish")
    }

    /// For `sotto rekey`: refused while the vault is mounted or being imported into.
    public static func exclusive(_ vaultPath: String) throws -> VaultLock {
        try VaultLock(vaultPath: vaultPath, exclusive: true,
                      holder: "'\(vaultPath)' is in use (mounted, being imported into, or rekeyed): unmount it ('sotto status' lists mounts) and try again")
    }

    /// The directory's descriptor, for `syncfs`.
    var descriptor: FileDescriptor { fd }
}
