import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `sotto fsck`: every directory ID, name, long-name container, file header, block (with the
/// last-block marker) and symlink target of a vault, checked without changing anything.
public struct FsckReport: Sendable {
    public enum Severity: String, Sendable { case damage, warning }

    public struct Finding: Sendable {
        public let severity: Severity
        /// Path in the vault directory (always known).
        public let vaultPath: String
        /// Plaintext path, where the names leading to it still decrypt.
        public let plainPath: String?
        public let problem: String
        /// What `--quarantine` would move aside (a file, symlink or long-name container), if anything.
        public let quarantinable: String?
    }

    public var findings: [Finding] = []
    public var files = 0, directories = 0, symlinks = 0, bytes = 0
    /// Which backing directory each directory ID was first seen in (an ID in two places is damage).
    var idOwners: [[UInt8]: String] = [:]

    public var damageCount: Int { findings.filter { $0.severity == .damage }.count }
    public var isClean: Bool { damageCount == 0 }
}

extension Vault {
    /// Walks the whole vault. `progress` is called after each file with the running report.
    public func check(progress: ((FsckReport) -> Void)? = nil) -> FsckReport {
        var report = FsckReport()
        checkDirectory(backing: path, plain: "/", report: &report, progress: progress)
        return report
    }

    private func finding(_ r: inout FsckReport, _ severity: FsckReport.Severity, _ vaultPath: String, _ plain: String?,
                         _ problem: String, quarantine: String? = nil) {
        r.findings.append(.init(severity: severity, vaultPath: vaultPath, plainPath: plain, problem: problem, quarantinable: quarantine))
    }

    private func checkDirectory(backing dir: String, plain: String, report r: inout FsckReport,
                                progress: ((FsckReport) -> Void)?) {
        r.directories += 1
        let names: [[UInt8]]
        do { names = try tree.listDirectory(dir) } catch {
            finding(&r, .damage, dir, plain, "cannot list the directory: \(error)")
            return
        }
        let ids: DirectoryIDs
        do { ids = try directoryIDs(in: names, of: dir) } catch {
            finding(&r, .damage, dir, plain, "no sotto.dir.* ID file: none of the \(names.count) names in it can be decrypted")
            return
        }
        for id in ids.all {
            // Names are bound to a directory ID, not to a place: an ID file copied into another
            // directory makes the first directory's entries decrypt there too, so a sync peer
            // could move entries between folders. Every directory's IDs are its own (fresh random
            // IDs per mkdir, also on another device), so an ID seen twice is planted or copied.
            if let owner = r.idOwners[id] {
                finding(&r, .damage, dir + "/" + BackingName.directoryIDFile(id), plain,
                        "this directory ID also belongs to \(owner): an ID file copied or planted here lets entries of that folder be moved into this one and still open; remove the copy that does not belong (the folder whose entries do not decrypt without it keeps it)")
            } else {
                r.idOwners[id] = dir
            }
        }
        if ids.all.count > 1 {
            finding(&r, .warning, dir, plain, "\(ids.all.count) directory IDs (the same directory was made on two devices and merged by a sync tool); every name still decrypts")
        }
        if writesPrimaryIDFiles, primaryDirectoryID(of: dir) == nil {
            finding(&r, .warning, dir + "/" + BackingName.primaryIDFile, plain,
                    "missing, torn (a crash while the directory was made?) or naming an ID the directory has no sotto.dir. file for: every name still opens, but a mount lists the directory on the first lookup (and rewrites a missing or torn one)")
        }
        for raw in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let rawText = String(decoding: raw, as: UTF8.self)
            let backing = dir + "/" + rawText
            var encoded: String
            var entry = backing
            var container: String?
            switch BackingName(raw) {
            case .directoryID, .primaryID:
                // Read (or trusted to exist) by every lookup: only an empty-or-small regular file
                // is one; a symlink, FIFO or device planted there is never opened.
                if let st = try? tree.lstat(backing), EntryKind(mode: st.st_mode) != .file {
                    finding(&r, .damage, backing, nil, "\(EntryKind(mode: st.st_mode).withArticle), not a regular file: an ID file is never followed or read as such; remove it", quarantine: backing)
                }
                continue
            case .primaryIDCopy, .conflict, .syncTool:
                continue  // conflict copies: below
            case .config:
                if dir != path { finding(&r, .warning, backing, nil, "a config file outside the vault root") }
                continue
            case .temporary:
                finding(&r, .warning, backing, nil, "a temporary file left by an interrupted write", quarantine: backing)
                continue
            case .foreign:
                finding(&r, .warning, backing, nil, "not a Sotto name (left by another program); not shown in the mount")
                continue
            case .encrypted(let s):
                encoded = s
            case .long(let c):
                container = backing
                let nameFile = backing + "/" + BackingName.longNameFile
                guard let bytes = try? tree.readSmallFile(nameFile, limit: 4096), let s = String(validating: bytes, as: UTF8.self),
                      (try? BackingName.longName(forEncoded: s)) == c else {
                    finding(&r, .damage, backing, nil, "long-name container whose name file is missing or does not match", quarantine: backing)
                    continue
                }
                encoded = s
                entry = backing + "/" + BackingName.longDataEntry
                guard tree.exists(entry) else {
                    finding(&r, .damage, backing, nil, "long-name container without its data", quarantine: backing)
                    continue
                }
            }
            guard let name = ids.all.lazy.compactMap({ self.names.decrypt(encoded, directoryID: $0) }).first else {
                finding(&r, .damage, backing, nil, "name does not decrypt under this directory's ID (damaged, or moved from another directory)",
                        quarantine: container ?? backing)
                continue
            }
            let plainPath = Self.join(plain, name)
            let st: stat
            do { st = try tree.lstat(entry) } catch {
                finding(&r, .damage, entry, plainPath, "cannot stat: \(error)")
                continue
            }
            checkEntry(entry, st, plainPath, quarantine: container ?? entry, report: &r, progress: progress)
        }
        for c in conflictCopies(in: dir, names: names, ids: ids) {
            let plainPath = Self.join(plain, c.name)
            finding(&r, .warning, c.backingPath, plainPath,
                    (c.copy.suffix.isEmpty ? "the same name made on two devices in a folder a sync tool merged" : "a sync tool's conflict copy (\(c.copy.suffix.trimmingCharacters(in: CharacterSet(charactersIn: " .()"))))")
                        + ", shown in the mount under this name: open it and the original, keep what you need, delete the other")
            // A twin is an ordinary entry of the directory, already checked above.
            guard !c.copy.suffix.isEmpty, let st = try? tree.lstat(c.backingPath) else { continue }
            checkEntry(c.backingPath, st, plainPath, quarantine: c.backingPath, report: &r, progress: progress)
        }
    }

    /// Checks one entry's content: a directory recursively, a file's every block, a symlink's target.
    private func checkEntry(_ entry: String, _ st: stat, _ plainPath: String, quarantine: String,
                            report r: inout FsckReport, progress: ((FsckReport) -> Void)?) {
        switch EntryKind(mode: st.st_mode) {
        case .directory:
            checkDirectory(backing: entry, plain: plainPath, report: &r, progress: progress)
        case .symlink:
            r.symlinks += 1
            do { _ = try readSymlink(VaultEntry(plainPath: plainPath, backingPath: entry, info: st)) } catch {
                finding(&r, .damage, entry, plainPath, "the symlink target does not authenticate", quarantine: quarantine)
            }
        case .file:
            r.files += 1
            do {
                try readFile(VaultEntry(plainPath: plainPath, backingPath: entry, info: st)) { r.bytes += $0.count }
            } catch let SottoError.integrity(_, _, detail) {
                finding(&r, .damage, entry, plainPath, detail, quarantine: quarantine)
            } catch {
                finding(&r, .damage, entry, plainPath, "\(error)")
            }
            progress?(r)
        case .other:
            break  // FIFOs, sockets, devices: no content to check
        }
    }

    /// Moves each quarantinable finding into `VAULT/sotto.quarantine/<stamp>/`, keeping its vault
    /// path; nothing is deleted. Returns where each went.
    public func quarantine(_ report: FsckReport) throws -> [(from: String, to: String)] {
        let targets = report.findings.compactMap { $0.quarantinable }
        guard !targets.isEmpty else { return [] }
        let stamp = TimeFormat.format(Int(time(nil)), "%Y%m%dT%H%M%SZ")
        let base = path + "/" + BackingName.quarantineDirectory + "/" + stamp
        var moved: [(String, String)] = []
        for from in Set(targets).sorted() {
            let rel = String(from.dropFirst(path.count + 1))
            let to = base + "/" + rel
            var dir = path
            for part in (BackingName.quarantineDirectory + "/" + stamp + "/" + rel).split(separator: "/").dropLast() {
                dir += "/" + part
                if !tree.exists(dir) { try io("create quarantine folder", dir) { () throws(Errno) in try tree.mkdir(dir, mode: 0o700) } }
            }
            try io("move aside", from) { () throws(Errno) in try tree.renameNoReplace(from, to) }
            moved.append((from, to))
        }
        return moved
    }
}
