import Foundation
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// What `sotto status` shows: every Sotto mount of this user in the mount table (the source of
/// truth), with what its filesystem process published — or marked dead when that process is
/// gone (killed): the kernel then answers every access with "transport endpoint is not
/// connected" until it is unmounted.
public enum MountStatus {
    public struct Entry: Sendable {
        public let mountpoint: String
        /// Nil when the filesystem process is gone.
        public let daemon: Daemon?
    }

    public struct Daemon: Sendable {
        public let pid: Int32, vault: String, readOnly: Bool, shared: Bool
        public let mountedSince: Int, openFiles: Int, lastAccess: Int, idleLimitSeconds: Int?
        public let transport: String
    }

    public static func all() -> [Entry] {
        let me = getuid()
        let mounted = Mounts.current().filter { $0.fsType == "fuse.sotto" && (me == 0 || $0.owner == me) }
        let published = Supervisor.publishedStatuses()
        var seen = Set<String>()
        return mounted.compactMap { m -> Entry? in
            guard seen.insert(m.mountpoint).inserted else { return nil }  // stacked: one line
            let s = published.last { $0.mountpoint == m.mountpoint }
            return Entry(mountpoint: m.mountpoint, daemon: s.map {
                Daemon(pid: $0.pid, vault: $0.vault, readOnly: $0.readOnly, shared: $0.shared ?? false, mountedSince: $0.mountedSince,
                       openFiles: $0.openFiles, lastAccess: $0.lastAccess, idleLimitSeconds: $0.idleLimitSeconds,
                       transport: $0.transport ?? "/dev/fuse")
            })
        }.sorted { $0.mountpoint < $1.mountpoint }
    }
}
