import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// While a vault is not mounted, its mountpoint is mode 000: a program that goes on saving into
/// the folder — an editor whose vault was unmounted under it — fails with "permission denied"
/// instead of writing plaintext onto the disk (issue 18). The folder is opened (0700) just
/// before mounting; while mounted its own mode is hidden under the vault's root. Root ignores
/// modes, so this protects the user's own programs, which is the case that matters; a daemon
/// killed outright (SIGKILL) leaves the folder as it was while mounted. docs/cli.md says so.
public enum MountpointGuard {
    public static let lockedMode: mode_t = 0
    public static let openMode: mode_t = 0o700

    /// Before mounting at `path` (canonical, not mounted): a folder this guard locked is opened.
    public static func prepare(_ path: String) throws(Errno) {
        let st = try FileSystem.lstat(path)
        if st.st_mode & S_IFMT == S_IFDIR && st.st_mode & 0o7777 == lockedMode { try setMode(path, openMode) }
    }

    /// After an unmount (or a mount that did not happen): locks the bare folder at `path`. Does
    /// nothing while something is still mounted there — the mode would then be the vault root's.
    public static func lock(_ path: String) {
        guard !Mounts.current().contains(where: { $0.mountpoint == path }),
              let st = try? FileSystem.lstat(path), st.st_mode & S_IFMT == S_IFDIR else { return }
        try? setMode(path, lockedMode)
    }

    private static func setMode(_ path: String, _ mode: mode_t) throws(Errno) {
        try withCString(Array(path.utf8)) { (p) throws(Errno) in try retryingSyscall { chmod(p, mode) } }
    }
}
