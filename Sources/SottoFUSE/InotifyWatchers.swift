import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Programs watching the mount with inotify, found in /proc/*/fdinfo. Editors and file managers
/// (Obsidian, VS Code) watch their folder; an idle unmount under them let the editor's next save
/// land in the empty mountpoint, in plaintext (issue 18). Only processes this user may inspect
/// are seen, which includes every program of the user's own.
enum InotifyWatchers {
    /// The PIDs with an inotify watch on an inode of filesystem `device`.
    static func processes(watching device: Mounts.Device) -> [Int32] {
        guard let pids = try? FileSystem.listDirectory("/proc") else { return [] }
        var found: [Int32] = []
        for name in pids {
            guard let pid = Int32(String(decoding: name, as: UTF8.self)), pid != getpid() else { continue }
            let fdDir = "/proc/\(pid)/fd"
            guard let fds = try? FileSystem.listDirectory(fdDir) else { continue }
            for fd in fds {
                guard let target = try? FileSystem.readlink(Array((fdDir + "/").utf8) + fd),
                      target == inotifyLink else { continue }
                let info = "/proc/\(pid)/fdinfo/" + String(decoding: fd, as: UTF8.self)
                guard let text = try? FileSystem.readSmallFile(info, limit: maxFdinfo) else { continue }
                if watches(String(decoding: text, as: UTF8.self), device) {
                    found.append(pid)
                    break
                }
            }
        }
        return found
    }

    static let inotifyLink = Array("anon_inode:inotify".utf8)
    /// fdinfo lists one line per watch; a few thousand watches fit.
    static let maxFdinfo = 1 << 20

    /// Whether an inotify fdinfo text ("inotify wd:1 ino:2a sdev:34 mask:…" per watch) has a
    /// watch on `device`. `sdev` is the kernel's own dev_t: major in the bits above 20.
    static func watches(_ fdinfo: String, _ device: Mounts.Device) -> Bool {
        for line in fdinfo.split(separator: "\n") where line.hasPrefix("inotify ") {
            guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("sdev:") }),
                  let sdev = UInt32(field.dropFirst(5), radix: 16) else { continue }
            if sdev >> 20 == device.major && sdev & 0xfffff == device.minor { return true }
        }
        return false
    }
}
