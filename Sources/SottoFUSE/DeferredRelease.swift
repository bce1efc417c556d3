import CSottoShims
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Removing a backing file's last name frees the file inside that syscall: the kernel evicts the
/// inode there (drops its cached pages, frees its extents, clears its orphan record), a fifth of
/// the daemon's time in an `rm -rf` of a tree just read. The caller needs only the name gone. So
/// during an unlink or a rename over a file, the file is held by an `O_PATH` reference, and a
/// background thread drops it: the inode is freed there, on a CPU the caller is not waiting on.
/// It is what happens to any file unlinked while open: the space returns moments later (a STATFS
/// waits for it, so `df` is exact, and a write that finds the disk full meanwhile waits and tries
/// once more), and a crash in between leaves an orphan inode that ext4 frees at the next mount.
final class DeferredRelease: @unchecked Sendable {
    private let tree: BackingTree
    init(tree: BackingTree) { self.tree = tree }

    /// References waiting beyond this are dropped on the request's thread (a remover faster than
    /// the freeing waits for it, as without this), which also bounds the descriptors held.
    static let maxPending = 64

    private let references = BackgroundQueue<FileDescriptor>(name: "sotto-release", limit: maxPending) {
        $0.close()  // the inode is freed here, as the close returns
    }

    /// Runs `body`, which may remove the last name of the file at `path` (nil: nothing is
    /// replaced), and has the file freed in the background. Returns before the caller replies,
    /// so a STATFS that follows the reply finds the file in the queue it waits for.
    func freeingLater<T>(_ path: String?, _ body: () throws -> T) rethrows -> T {
        // If no reference can be taken, `body` frees the file itself, as without this.
        let held = path.flatMap { try? tree.open($0, flags: sotto_o_path()) }
        defer { if let held { for fd in references.add([held]) { fd.close() } } }
        return try body()
    }

    /// Returns once every file released so far is freed.
    func wait() { references.waitUntilHandled() }

    /// Runs `body`; if it finds the disk full while removed files were still being freed, runs
    /// it once more after they are (a write right after the `rm` that made room for it).
    func retryingWhenFull<T>(_ body: () throws -> T) throws -> T {
        let outstanding = references.busy
        do { return try body() } catch {
            guard outstanding, Self.isFull(error) else { throw error }
            wait()
            return try body()
        }
    }

    private static func isFull(_ error: Error) -> Bool {
        switch error {
        case let e as Errno: return e.rawValue == ENOSPC || e.rawValue == EDQUOT
        case SottoError.io(_, _, let e): return e.rawValue == ENOSPC || e.rawValue == EDQUOT
        default: return false
        }
    }
}
