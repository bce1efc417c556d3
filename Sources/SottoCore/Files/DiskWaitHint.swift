/// Told, on the reading thread, just before a read of file content must wait for the disk (what
/// the page cache held was not enough). The FUSE transport implements it: a thread serving an
/// io_uring queue lets itself be woken on any CPU then (docs/architecture.md). The core knows
/// nothing of transports; it is handed one of these.
public protocol DiskWaitHint: Sendable {
    func willWaitForDisk()
}

/// For everything that is not a mount (import, export, fsck, tests): nobody needs to know.
public struct NoDiskWaitHint: DiskWaitHint {
    public init() {}
    public func willWaitForDisk() {}
}
