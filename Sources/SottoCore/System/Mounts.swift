#if canImport(Glibc)
import Glibc
#endif

/// The mount table of this process's namespace (/proc/self/mountinfo).
public enum Mounts {
    public struct Entry: Sendable {
        public let mountpoint: String
        public let fsType: String
        /// The filesystem's device number, as `st_dev` has it (field 3, "major:minor").
        public let device: Device
        /// The mounting user of a FUSE mount (its `user_id=` option), else nil.
        public let owner: uid_t?
    }

    public struct Device: Equatable, Sendable {
        public let major: UInt32, minor: UInt32
        public init(major: UInt32, minor: UInt32) { self.major = major; self.minor = minor }
    }

    public static func current() -> [Entry] {
        guard let bytes = try? FileSystem.readSmallFile("/proc/self/mountinfo", limit: 4 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count > 6, let dash = f.firstIndex(of: "-"), dash + 1 < f.count else { return nil }
            let mm = f[2].split(separator: ":")
            guard mm.count == 2, let major = UInt32(mm[0]), let minor = UInt32(mm[1]) else { return nil }
            let options = dash + 3 < f.count ? f[dash + 3].split(separator: ",") : []
            let owner = options.first { $0.hasPrefix("user_id=") }.flatMap { uid_t($0.dropFirst("user_id=".count)) }
            return Entry(mountpoint: unescape(String(f[4])), fsType: String(f[dash + 1]), device: Device(major: major, minor: minor),
                         owner: owner)
        }
    }

    /// The entry mounted exactly at `path` (canonical), the last one if stacked.
    public static func entry(at path: String) -> Entry? {
        let p = FileSystem.canonicalPath(path)
        return current().last { $0.mountpoint == p }
    }

    /// mountinfo writes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: String) -> String {
        var out = [UInt8]()
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count, let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else {
                out.append(u[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
