import SottoCore

/// What `sotto status` shows: the mounts this user has running.
public enum MountStatus {
    public struct Entry: Sendable {
        public let pid: Int32, vault: String, mountpoint: String, readOnly: Bool, shared: Bool
        public let mountedSince: Int, openFiles: Int, lastAccess: Int, idleLimitSeconds: Int?
        public let transport: String
    }

    public static func all() -> [Entry] {
        Supervisor.allStatuses().map {
            Entry(pid: $0.pid, vault: $0.vault, mountpoint: $0.mountpoint, readOnly: $0.readOnly, shared: $0.shared ?? false,
                  mountedSince: $0.mountedSince,
                  openFiles: $0.openFiles, lastAccess: $0.lastAccess, idleLimitSeconds: $0.idleLimitSeconds,
                  transport: $0.transport ?? "/dev/fuse")
        }
    }
}
