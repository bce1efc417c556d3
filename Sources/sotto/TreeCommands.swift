import ArgumentParser
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
        abstract: "Encrypt existing files and folders into the vault (without mounting it).")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("Files or folders to encrypt into the vault.", valueName: "SRC"))
    var sources: [String]
    @Option(name: .customLong("to"), help: ArgumentHelp("Vault folder to put them in (made if missing; default: the root).", valueName: "DIR"))
    var destination: String = "/"
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
        let (existing, _) = try v.list(dir)
        for item in items where existing.contains(where: { $0.name == item.name }) {
            throw SottoError.exists(path: (dir.plainPath == "/" ? "" : dir.plainPath) + "/" + String(decoding: item.name, as: UTF8.self))
        }
        var counts = Counts()
        for item in items {
            try importEntry(v, source: item.path, info: item.info, name: item.name, into: dir, counts: &counts)
        }
        print("imported \(counts.files) files (\(counts.bytes) bytes), \(counts.directories) folders, \(counts.symlinks) symlinks into \(vault.vault):\(dir.plainPath)")
        for s in counts.skipped { Sotto.report("skipped '\(s)': not a file, folder or symlink") }
    }

    struct Counts { var files = 0, directories = 0, symlinks = 0, bytes = 0; var skipped: [String] = [] }

    private func importEntry(_ v: Vault, source: [UInt8], info: stat, name: [UInt8], into dir: VaultEntry, counts: inout Counts) throws {
        let display = String(decoding: source, as: UTF8.self)
        if EntryKind(mode: info.st_mode) == .file {
            let fd = try io("open", display) { () throws(Errno) in try FileDescriptor.open(source, flags: O_RDONLY) }
            defer { fd.close() }
            try v.createFile(name, in: dir, mode: info.st_mode & 0o7777, from: fd, modificationTime: info.st_mtim)
            counts.files += 1
            counts.bytes += Int(info.st_size)
        } else if EntryKind(mode: info.st_mode) == .directory {
            let sub = try v.createDirectory(name, in: dir)
            let children = try io("list", display) { () throws(Errno) in try FileSystem.listDirectory(source) }
            for child in children.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let childPath = source + [UInt8(ascii: "/")] + child
                let st = try io("stat", String(decoding: childPath, as: UTF8.self)) { () throws(Errno) in try FileSystem.lstat(childPath) }
                try importEntry(v, source: childPath, info: st, name: child, into: sub, counts: &counts)
            }
            try v.finishDirectory(sub, mode: info.st_mode & 0o7777, modificationTime: info.st_mtim)
            counts.directories += 1
        } else if EntryKind(mode: info.st_mode) == .symlink {
            let target = try io("read link", display) { () throws(Errno) in try FileSystem.readlink(source) }
            try v.createSymlink(name, in: dir, target: target, modificationTime: info.st_mtim)
            counts.symlinks += 1
        } else {
            counts.skipped.append(display)
        }
    }
}


struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt a file or folder from the vault to a plaintext destination.")

    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("Path inside the vault.", valueName: "PATH"))
    var path: String
    @Argument(help: ArgumentHelp("Where to write it (into it, if an existing folder).", valueName: "DEST"))
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
                try v.readFile(entry) { try fd.writeAll($0) }
                try io("chmod", display) { () throws(Errno) in try retryingChmod(fd, entry.permissions) }
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
                try withCPath(target) { (p) throws(Errno) in if chmod(p, entry.permissions) != 0 { throw Errno.current } }
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

func retryingChmod(_ fd: FileDescriptor, _ mode: mode_t) throws(Errno) {
    if fchmod(fd.rawValue, mode) != 0 { throw Errno.current }
}

func withCPath(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws(Errno) -> Void) throws(Errno) {
    var z = bytes
    z.append(0)
    try z.withUnsafeBufferPointer { (b) throws(Errno) in
        try b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: z.count) { (p) throws(Errno) in try body(p) }
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
            let name = String(decoding: row.name, as: UTF8.self)
            if long {
                let size = v.plaintextSize(of: row.entry).map(String.init) ?? "damaged"
                var line = "\(modeString(row.entry)) \(pad(size, 12)) \(timeString(row.entry.info.st_mtim.tv_sec)) \(name)"
                if row.entry.kind == .symlink, let t = try? v.readSymlink(row.entry) { line += " -> " + String(decoding: t, as: UTF8.self) }
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
