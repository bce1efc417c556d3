import ArgumentParser
import Foundation
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Opens the vault named on the command line, asking for its password.
func unlock(_ vault: VaultArgument, _ password: PasswordOptions) throws -> Vault {
    _ = try Vault.readConfig(at: vault.vault)  // a missing or damaged vault is reported before the prompt
    return try Vault.open(at: vault.vault, password: try password.read())
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt existing files and folders into the vault (without mounting it).",
        discussion: "Into a folder that already has entries, what is new is added and files the vault already holds byte for byte are skipped; --update replaces those that differ. An interrupted run (Ctrl-C, a crash) is finished by running it again. With --remove-source each file is verified by reading it back through the vault before its plaintext is overwritten and deleted.")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("Files or folders to encrypt into the vault.", valueName: "SRC"), completion: .file())
    var sources: [String]
    @Option(name: .customLong("to"), help: ArgumentHelp("Vault folder to put them in (made if missing; default: the root).", valueName: "DIR"))
    var destination: String = "/"
    @Flag(name: .customLong("remove-source"), help: "Move the plaintext in: verify each file in the vault, then overwrite and delete the original. Rerun to resume.")
    var removeSource = false
    @Flag(name: .customLong("update"), help: "Replace files the vault holds under the same name with different content (otherwise they are listed and kept).")
    var update = false
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        if sources.isEmpty { throw ValidationError("name at least one SRC to import") }
    }

    func run() throws {
        // Check every source before asking for the password or writing anything.
        var items: [(path: [UInt8], name: [UInt8], info: stat)] = []
        for s in sources {
            let path = Array(s.utf8)
            let st: stat
            do { st = try FileSystem.lstat(path) } catch { throw SottoError.io(operation: "read source", path: s, errno: error) }
            guard let name = path.split(separator: UInt8(ascii: "/")).last.map(Array.init), name != [0x2E], name != [0x2E, 0x2E] else {
                throw SottoError.invalidArgument("cannot tell a name for source '\(s)': name the folder itself")
            }
            if FileSystem.isSameOrInside(vault.vault, s) || FileSystem.isSameOrInside(s, vault.vault) {
                throw SottoError.invalidArgument("source '\(s)' and the vault '\(vault.vault)' overlap: import from outside the vault directory")
            }
            items.append((path, name, st))
        }
        let v = try unlock(vault, password)
        let lock = try VaultLock.shared(vault.vault)  // no rekey while files are added
        defer { withExtendedLifetime(lock) {} }
        var dir = try v.root
        for component in try Vault.components(of: destination) {
            let (entries, _) = try v.list(dir)
            if let existing = entries.first(where: { $0.name == component })?.entry {
                guard existing.kind == .directory else { throw SottoError.invalidArgument("'\(existing.plainPath)' is not a folder") }
                dir = existing
            } else {
                dir = try v.createDirectory(component, in: dir)
                try v.finishDirectory(dir, mode: 0o755, modificationTime: nil)
            }
        }
        // Into what is there: new entries are added, what the vault already holds byte for byte
        // is skipped (an earlier, interrupted run, or a folder imported before), and what
        // differs is kept unless --update.
        var progress = Progress(onTerminal: isatty(2) == 1)
        if progress.onTerminal { for item in items { progress.addTotals(item.path, item.info) } }
        var counts = Counts()
        ImportInterruption.begin()
        defer { ImportInterruption.end() }
        do {
            for item in items {
                try importEntry(v, source: item.path, info: item.info, name: item.name, into: dir, counts: &counts, progress: &progress)
            }
        } catch is FileContent.Stopped {
            progress.finish()
            Sotto.report("interrupted after \(counts.files) files: run the same command again to finish; what is in the vault is kept, nothing is imported twice, and no partial file is left")
            ImportInterruption.dieOfTheSignal()
        }
        progress.finish()
        let verb = removeSource ? "moved" : "imported"
        var extras: [String] = []
        if counts.unchanged > 0 { extras.append("\(counts.unchanged) already in the vault, unchanged") }
        if counts.updated > 0 { extras.append("\(counts.updated) replaced") }
        print("\(verb) \(counts.files) files (\(counts.bytes) bytes), \(counts.directories) folders, \(counts.symlinks) symlinks into \(vault.vault):\(dir.plainPath)"
              + (extras.isEmpty ? "" : " (\(extras.joined(separator: ", ")))"))
        for s in counts.skipped { Sotto.report("skipped '\(s)': not a file, folder or symlink (left in place)") }
        if !counts.differing.isEmpty {
            for d in counts.differing { Sotto.report("'\(d)' differs from what the vault holds under that name: kept the vault's") }
            throw SottoError.exists(path: "\(counts.differing.count) entries (listed above) that differ from the vault's; nothing was replaced or removed: rerun with --update to replace them")
        }
    }

    struct Counts {
        var files = 0, directories = 0, symlinks = 0, bytes = 0, unchanged = 0, updated = 0
        var skipped: [String] = [], differing: [String] = []
    }

    /// Files, bytes, rate and time left on stderr, rewritten in place; nothing when not a terminal.
    struct Progress {
        let onTerminal: Bool
        var totalFiles = 0, totalBytes = 0, files = 0, bytes = 0
        let start = Date()
        var lastShown = 0.0

        mutating func addTotals(_ path: [UInt8], _ st: stat) {
            switch EntryKind(mode: st.st_mode) {
            case .file: totalFiles += 1; totalBytes += Int(st.st_size)
            case .directory:
                for child in (try? FileSystem.listDirectory(path)) ?? [] {
                    let p = path + [UInt8(ascii: "/")] + child
                    if let cs = try? FileSystem.lstat(p) { addTotals(p, cs) }
                }
            default: break
            }
        }

        mutating func fileDone(bytes n: Int) {
            files += 1
            bytes += n
            guard onTerminal else { return }
            let elapsed = Date().timeIntervalSince(start)
            guard elapsed - lastShown > 0.2 || files == totalFiles else { return }
            lastShown = elapsed
            let rate = elapsed > 0 ? Double(bytes) / elapsed : 0
            Sotto.progress("files \(files)/\(totalFiles), \(bytes / 1_000_000)/\(totalBytes / 1_000_000) MB, \(Int(rate / 1_000_000)) MB/s, \(Self.timeLeft(elapsed: elapsed, files: files, totalFiles: totalFiles, bytes: bytes, totalBytes: totalBytes))")
        }

        /// What is left, by files and by bytes, whichever says longer: many small files after a
        /// big one are slow per file, not per byte (the estimate said "0 s" with a third of the
        /// files to go).
        static func timeLeft(elapsed: Double, files: Int, totalFiles: Int, bytes: Int, totalBytes: Int) -> String {
            guard elapsed > 0, files > 0 else { return "estimating" }
            let byFiles = Double(totalFiles - files) * elapsed / Double(files)
            let byBytes = bytes > 0 ? Double(totalBytes - bytes) * elapsed / Double(bytes) : 0
            let left = Int(max(byFiles, byBytes).rounded(.up))
            return left < 60 ? "about \(left) s left" : "about \(left / 60) min \(left % 60) s left"
        }

        func finish() { if onTerminal { Sotto.progress(nil) } }
    }

    private func importEntry(_ v: Vault, source: [UInt8], info: stat, name: [UInt8], into dir: VaultEntry, counts: inout Counts,
                             progress: inout Progress) throws {
        let display = String(decoding: source, as: UTF8.self)
        if ImportInterruption.requested { throw FileContent.Stopped() }
        let earlier = try v.list(dir).entries.first(where: { $0.name == name })?.entry
        switch EntryKind(mode: info.st_mode) {
        case .file:
            let entry: VaultEntry
            if let earlier, earlier.kind == .file, v.plaintextSize(of: earlier) == Int(info.st_size), try sameContent(v, earlier, source) {
                entry = earlier  // already there, byte for byte (an earlier run, or imported before)
                counts.unchanged += 1
            } else if let earlier, !(update && earlier.kind == .file) {
                counts.differing.append(earlier.plainPath)
                progress.fileDone(bytes: Int(info.st_size))
                return  // kept, and the source is not removed
            } else {
                let fd = try io("open", display) { () throws(Errno) in try FileDescriptor.open(source, flags: O_RDONLY) }
                defer { fd.close() }
                if let earlier {
                    entry = try v.replaceFile(earlier, mode: info.st_mode & 0o7777, from: fd, modificationTime: info.st_mtim,
                                              shouldStop: { ImportInterruption.requested })
                    counts.updated += 1
                } else {
                    entry = try v.createFile(name, in: dir, mode: info.st_mode & 0o7777, from: fd, modificationTime: info.st_mtim,
                                             shouldStop: { ImportInterruption.requested })
                }
            }
            if removeSource {
                guard try sameContent(v, entry, source) else {
                    throw SottoError.integrity(path: entry.plainPath, backingPath: entry.backingPath,
                                               detail: "reading it back does not give '\(display)' byte for byte; the original was kept")
                }
                try wipeAndRemove(source, size: Int(info.st_size), display: display)
            }
            counts.files += 1
            counts.bytes += Int(info.st_size)
            progress.fileDone(bytes: Int(info.st_size))
        case .directory:
            let sub: VaultEntry
            if let earlier, earlier.kind == .directory { sub = earlier } else { sub = try v.createDirectory(name, in: dir) }
            let children = try io("list", display) { () throws(Errno) in try FileSystem.listDirectory(source) }
            for child in children.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let childPath = source + [UInt8(ascii: "/")] + child
                let st = try io("stat", String(decoding: childPath, as: UTF8.self)) { () throws(Errno) in try FileSystem.lstat(childPath) }
                try importEntry(v, source: childPath, info: st, name: child, into: sub, counts: &counts, progress: &progress)
            }
            try v.finishDirectory(sub, mode: info.st_mode & 0o7777, modificationTime: info.st_mtim)
            if removeSource, (try? FileSystem.listDirectory(source))?.isEmpty == true {
                try io("remove folder", display) { () throws(Errno) in try FileSystem.rmdir(display) }
            }
            counts.directories += 1
        case .symlink:
            let target = try io("read link", display) { () throws(Errno) in try FileSystem.readlink(source) }
            if let earlier {
                guard earlier.kind == .symlink, try v.readSymlink(earlier) == target else {
                    counts.differing.append(earlier.plainPath)  // symlinks are not replaced, even with --update
                    return
                }
                counts.unchanged += 1
            } else {
                try v.createSymlink(name, in: dir, target: target, modificationTime: info.st_mtim)
            }
            if removeSource { try io("remove", display) { () throws(Errno) in try FileSystem.unlink(display) } }
            counts.symlinks += 1
        case .other:
            counts.skipped.append(display)
        }
    }

    /// Whether the vault entry decrypts to exactly the bytes of `source` (streamed, both sides).
    private func sameContent(_ v: Vault, _ entry: VaultEntry, _ source: [UInt8]) throws -> Bool {
        let display = String(decoding: source, as: UTF8.self)
        let fd = try io("open", display) { () throws(Errno) in try FileDescriptor.open(source, flags: O_RDONLY) }
        defer { fd.close() }
        var same = true
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        defer { wipe(&buf) }  // it held the source's plaintext
        try v.readFile(entry) { chunk in
            var offset = 0
            while same && offset < chunk.count {
                let want = min(buf.count, chunk.count - offset)
                let got = try buf.withUnsafeMutableBytes { b in try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<want])) }
                if got != want || memcmp(buf, chunk.baseAddress! + offset, want) != 0 { same = false }
                offset += want
            }
        }
        var one: UInt8 = 0
        if same, try withUnsafeMutableBytes(of: &one, { try fd.read(into: $0) }) != 0 { same = false }  // source is longer
        return same
    }

    /// Overwrites the plaintext with zeros, flushes that to the disk, then deletes the file. What
    /// SSDs and filesystem snapshots may still keep is said in docs/cli.md.
    private func wipeAndRemove(_ source: [UInt8], size: Int, display: String) throws {
        try io("overwrite", display) { () throws(Errno) in
            let fd = try FileDescriptor.open(source, flags: O_WRONLY)
            defer { fd.close() }
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            var done = 0
            while done < size {
                let n = min(zeros.count, size - done)
                try fd.writeAll(Array(zeros[0..<n]), at: done)
                done += n
            }
            try fd.sync()
        }
        try io("remove", display) { () throws(Errno) in try FileSystem.unlink(display) }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt a file or folder from the vault to a plaintext destination.")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("Path inside the vault.", valueName: "PATH"))
    var path: String
    @Argument(help: ArgumentHelp("Where to write it (into it, if an existing folder).", valueName: "DEST"), completion: .file())
    var dest: String
    @OptionGroup var password: PasswordOptions

    func run() throws {
        guard !FileSystem.isSameOrInside(dest, vault.vault) else {
            throw SottoError.invalidArgument("'\(dest)' is inside the vault directory: plaintext must not be written there; choose a destination outside '\(vault.vault)'")
        }
        let v = try unlock(vault, password)
        let entry = try v.resolve(path)
        var target = dest
        if entry.plainPath == "/" {
            if let st = try? FileSystem.lstat(dest) {
                guard EntryKind(mode: st.st_mode) == .directory, (try? FileSystem.listDirectory(dest))?.isEmpty == true else { throw SottoError.exists(path: dest) }
            }
        } else if let st = try? FileSystem.lstat(dest), EntryKind(mode: st.st_mode) == .directory {
            target = dest + "/" + String(entry.plainPath.split(separator: "/").last!)
        }
        if entry.plainPath != "/", FileSystem.exists(target) { throw SottoError.exists(path: target) }
        var damaged: [SottoError] = []
        try exportEntry(v, entry, to: Array(target.utf8), damaged: &damaged)
        for d in damaged { Sotto.report(d.description) }
        if let first = damaged.first {
            if damaged.count == 1 { throw first }
            throw SottoError.integrity(path: entry.plainPath, backingPath: vault.vault,
                                       detail: "\(damaged.count) files did not authenticate and were not exported (listed above)")
        }
    }

    /// Writes one entry; damaged files are collected (and left out) so the rest can still be recovered.
    private func exportEntry(_ v: Vault, _ entry: VaultEntry, to target: [UInt8], damaged: inout [SottoError]) throws {
        let display = String(decoding: target, as: UTF8.self)
        let mtime = entry.info.st_mtim
        switch entry.kind {
        case .file:
            let fd = try io("create", display) { () throws(Errno) in try FileDescriptor.open(target, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600) }
            do {
                defer { fd.close() }
                // The vault's hole runs stay holes (a sparse target, as `cp --sparse=auto`);
                // zeros stored as data stay data.
                var at = 0
                try v.readFile(entry, holes: { at += $0 }) { try fd.writeAll($0, at: at); at += $0.count }
                try io("truncate", display) { () throws(Errno) in try fd.truncate(to: at) }  // a hole at the end
                for (name, var value) in try v.extendedAttributes(of: entry) {
                    defer { wipe(&value) }  // plaintext
                    do { try fd.setExtendedAttribute(name, value, flags: 0) } catch {
                        // A destination without extended attributes (a FAT drive), or trusted.*
                        // for a non-root user: the content matters more; say what was not kept.
                        Sotto.report("'\(display)': extended attribute '\(String(decoding: name, as: UTF8.self))' not kept: \(error)")
                    }
                }
                try io("chmod", display) { () throws(Errno) in try retryingSyscall { fchmod(fd.rawValue, entry.permissions) } }
            } catch let e as SottoError {
                _ = try? FileSystem.unlink(display)
                guard case .integrity = e else { throw e }
                damaged.append(e)
                return
            }
            try io("set times", display) { () throws(Errno) in try FileSystem.setTimes(target, access: mtime, modification: mtime) }
        case .directory:
            if !(entry.plainPath == "/" && FileSystem.exists(display)) {
                try io("create folder", display) { () throws(Errno) in try FileSystem.mkdir(target, mode: 0o700) }
            }
            let (children, skipped) = try v.list(entry)
            for s in skipped { Sotto.report("skipped \(s)") }
            for child in children {
                try exportEntry(v, child.entry, to: target + [UInt8(ascii: "/")] + child.name, damaged: &damaged)
            }
            try io("chmod", display) { () throws(Errno) in
                try withCString(target) { (p) throws(Errno) in try retryingSyscall { chmod(p, entry.permissions) } }
            }
            try io("set times", display) { () throws(Errno) in try FileSystem.setTimes(target, access: mtime, modification: mtime) }
        case .symlink:
            do {
                let t = try v.readSymlink(entry)
                try io("create symlink", display) { () throws(Errno) in try FileSystem.symlink(target: t, at: target) }
            } catch let e as SottoError {
                guard case .integrity = e else { throw e }
                damaged.append(e)
            }
        case .other:
            Sotto.report("skipped '\(entry.plainPath)': not a file, folder or symlink")
        }
    }
}



struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a vault file's plaintext to standard output.")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("Path inside the vault.", valueName: "PATH"))
    var path: String
    @OptionGroup var password: PasswordOptions

    func run() throws {
        let v = try unlock(vault, password)
        let entry = try v.resolve(path)
        try v.readFile(entry) { try writeStdout($0) }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a folder of the vault (decrypted names).")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("Folder inside the vault (default: the root).", valueName: "PATH"))
    var path: String = "/"
    @Flag(name: .short, help: "Long listing: type, mode, size, modification time.")
    var long = false
    @OptionGroup var password: PasswordOptions

    func run() throws {
        let v = try unlock(vault, password)
        let entry = try v.resolve(path)
        let rows: [(name: [UInt8], entry: VaultEntry)]
        if entry.kind == .directory {
            let (entries, skipped) = try v.list(entry)
            for s in skipped { Sotto.report("skipped \(s)") }
            rows = entries
        } else {
            rows = [(Array(entry.plainPath.split(separator: "/").last!.utf8), entry)]
        }
        var out = ""
        for row in rows {
            let name = TerminalText.escaped(String(decoding: row.name, as: UTF8.self))
            if long {
                let size = v.plaintextSize(of: row.entry).map(String.init) ?? "damaged"
                var line = "\(modeString(row.entry)) \(pad(size, 12)) \(timeString(row.entry.info.st_mtim.tv_sec)) \(name)"
                if row.entry.kind == .symlink, let t = try? v.readSymlink(row.entry) { line += " -> " + TerminalText.escaped(String(decoding: t, as: UTF8.self)) }
                out += line + "\n"
            } else {
                out += name + (row.entry.kind == .directory ? "/" : "") + "\n"
            }
        }
        print(out, terminator: "")
    }

    private func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

    private func modeString(_ e: VaultEntry) -> String {
        let type: Character = e.kind == .directory ? "d" : e.kind == .symlink ? "l" : e.kind == .file ? "-" : "?"
        let m = e.permissions
        var s = String(type)
        for (bit, c) in [(0o400, "r"), (0o200, "w"), (0o100, "x"), (0o040, "r"), (0o020, "w"), (0o010, "x"), (0o004, "r"), (0o002, "w"), (0o001, "x")] {
            s += (Int(m) & bit) != 0 ? c : "-"
        }
        return s
    }

    private func timeString(_ t: Int) -> String { TimeFormat.format(t, "%Y-%m-%d %H:%M", utc: false) }
}

/// Ctrl-C (or TERM, HUP) during an import: the handler only sets a flag; the import stops between
/// batches of a file, removes that file's temporary, says how to resume, and then ends as killed
/// by the signal.
enum ImportInterruption {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    static var requested: Bool { importStopSignal != 0 }

    static func begin() {
        for s in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { importStopSignal = $0 }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(s, &action, nil)
        }
    }

    static func end() {
        for s in signals { _ = signal(s, SIG_DFL) }
    }

    static func dieOfTheSignal() -> Never {
        let s = importStopSignal
        end()
        _ = raise(s)
        Glibc.exit(128 + s)
    }
}

nonisolated(unsafe) private var importStopSignal: Int32 = 0
