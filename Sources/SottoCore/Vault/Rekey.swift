#if canImport(Glibc)
import Glibc
#endif
import CSottoShims

/// What a master-key rotation did.
public struct RekeyReport: Sendable {
    public var directories = 0, files = 0, symlinks = 0, otherEntries = 0
    /// Work done by this run (a resumed run counts only what was left).
    public var namesReencrypted = 0, headersRewrapped = 0, symlinksReencrypted = 0
    /// Headers an interrupted run left half-written, put back from the journal.
    public var headersRestored = 0
    /// Leftovers of interrupted writes (`sotto.tmp.*`) and of an interrupted rekey, removed.
    public var leftoversRemoved = 0
    /// Entries that opened under neither key (damaged or foreign); left as they were.
    public var skipped: [String] = []
}

/// `sotto rekey`: a new master key; every file key re-wrapped, every name and symlink target
/// re-encrypted, no content block touched (docs/format.md §8).
///
/// Crash safety: the first step records the new master key in the config (an even version: 2 for a
/// version-1 vault, 4 for a version-3 one), wrapped under a key derived from the old one, so a
/// rerun with any old password picks up where the last stopped. Each entry is always under exactly
/// one of the two keys: a name changes by one rename, a symlink by rename over it, a header by an
/// in-place write whose old bytes are first saved in `sotto.rekey.journal` (a torn 78-byte write is
/// put back from there). Only after everything is durable (`syncfs`) and the journal is gone does
/// the config drop the old key slots.
public final class Rekeying {
    public let vaultPath: String
    /// Whether this run finishes one that was interrupted.
    public let resumed: Bool
    /// Slots the new config keeps and drops.
    public let keptSlots: [Int]
    public let droppedSlots: [Int]
    let old: Vault
    let new: Vault
    private let lock: VaultLock
    /// The vault directory (one descriptor for both keys' views of it).
    private var tree: BackingTree { old.tree }
    /// Authenticates the journal: a planted or edited one is never acted on.
    private let journalMAC: SecretBytes

    /// How many headers are rewritten between two journal writes (one `syncfs` each).
    static let batchSize = 512

    /// Unlocks the vault with `password` and records the rotation in its config, or picks up the
    /// one in progress. `otherSlotPassword` is asked for each other slot: the slot keeps working
    /// with the password it returns (checked here), and is dropped on nil.
    public static func begin(at path: String, password: SecretBytes,
                             otherSlotPassword: (VaultConfig.Slot) throws -> SecretBytes?) throws -> Rekeying {
        let config = try Vault.readConfig(at: path)
        let lock = try VaultLock.exclusive(path)
        let (oldMaster, slot) = try Vault.unlock(config, at: path, password: password)
        let old = try Vault(path: path, config: config, masterKey: oldMaster, slot: slot)
        var pending = config
        let newMaster: SecretBytes
        let resumed: Bool
        if let rekey = config.rekey, let chained = rekey.wrappedNewMasterKey {
            // Version 2 or 4 (an older build's rotation): its key chain opens the new key once
            // more, and goes: the config is rewritten as 6 or 8, the new key only in the new slots.
            let wrapKey = try VaultKeys.rekeyWrap(masterKey: oldMaster, vaultID: config.vaultID)
            guard let m = try KeyWrap.unwrap(chained, under: wrapKey, aad: VaultConfig.PendingRekey.associatedData(vaultID: config.vaultID)) else {
                throw SottoError.configDamaged(path: path, detail: "the rekey in progress does not open with this vault's key")
            }
            newMaster = m
            pending.rekey!.wrappedNewMasterKey = nil
            pending.version = VaultConfig.rekeyVersion(of: config.version)
            try pending.seal(keys: old.keys)
            try Vault.writeConfig(pending, in: old.tree, backup: .updated)
            resumed = true
        } else if let rekey = config.rekey {
            // The new key exists only in the new slots: a kept slot's password opens it, a dropped
            // slot's (or an old config copy's) cannot.
            guard let s = rekey.newSlots.first(where: { $0.index == slot }),
                  let m = try VaultConfig.open(s, password: password, vaultID: config.vaultID) else {
                let kept = rekey.newSlots.map { String($0.index) }.joined(separator: ", ")
                throw SottoError.keySlot("this password opens key slot \(slot), which the rekey in progress drops: finish it with the password of a kept slot (\(kept))")
            }
            newMaster = m
            resumed = true
        } else {
            newMaster = try SecretBytes.random(count: VaultKeys.masterKeySize)
            var newSlots: [VaultConfig.Slot] = []
            for s in config.slots {
                let pw: SecretBytes
                if s.index == slot {
                    pw = password
                } else if let given = try otherSlotPassword(s) {
                    guard try VaultConfig.open(s, password: given, vaultID: config.vaultID) != nil else {
                        throw SottoError.keySlot("the password given for key slot \(s.index) does not open it: nothing was changed")
                    }
                    pw = given
                } else {
                    continue
                }
                newSlots.append(try VaultConfig.makeSlot(index: s.index, masterKey: newMaster, password: pw, kdf: s.kdf,
                                                         vaultID: config.vaultID, label: s.label))
            }
            pending.rekey = VaultConfig.PendingRekey(wrappedNewMasterKey: nil, newSlots: newSlots)
            pending.version = VaultConfig.rekeyVersion(of: config.version)
            try pending.seal(keys: old.keys)
            // The backup follows the config: no copy Sotto keeps opens the pre-rekey vault alone.
            try Vault.writeConfig(pending, in: old.tree, backup: .updated)
            resumed = false
        }
        var finalConfig = pending
        finalConfig.version = VaultConfig.layoutVersion(pending.version)
        finalConfig.slots = pending.rekey!.newSlots
        finalConfig.rekey = nil
        let new = try Vault(path: path, config: finalConfig, masterKey: newMaster, slot: slot, tree: old.tree)
        return try Rekeying(path: path, old: old, new: new, lock: lock, pending: pending, resumed: resumed)
    }

    private init(path: String, old: Vault, new: Vault, lock: VaultLock, pending: VaultConfig, resumed: Bool) throws {
        self.gcm = try AESGCM()
        self.journalMAC = try VaultKeys.rekeyJournalMAC(masterKey: old.masterKey, vaultID: old.config.vaultID)
        self.vaultPath = path
        self.old = old
        self.new = new
        self.lock = lock
        self.resumed = resumed
        let kept = Set(pending.rekey!.newSlots.map(\.index))
        keptSlots = kept.sorted()
        droppedSlots = pending.slots.map(\.index).filter { !kept.contains($0) }
    }

    // MARK: Run

    private var report = RekeyReport()
    private var batch: [(path: String, oldHeader: [UInt8], newHeader: [UInt8], times: [timespec])] = []
    private var progress: ((RekeyReport) -> Void)?
    private let gcm: AESGCM

    /// Walks the vault, then writes the final config. Returns what was done.
    public func run(progress: ((RekeyReport) -> Void)? = nil) throws -> RekeyReport {
        self.progress = progress
        try restoreFromJournal()
        try walk(vaultPath, plain: "/")
        try flushBatch()
        try io("sync", vaultPath) { () throws(Errno) in try retryingSyscall { sotto_syncfs(lock.descriptor.rawValue) } }
        // The journal holds headers wrapped under the old key: it goes before the old key stops
        // being the config's, so no crash can leave an old config copy something to open.
        for leftover in [BackingName.rekeyJournalFile, BackingName.rekeyJournalTemporaryFile] {
            let path = vaultPath + "/" + leftover
            try io("remove", path) { () throws(Errno) in
                do throws(Errno) { try tree.unlink(path) } catch { if error != .noEntry { throw error } }
            }
        }
        try io("sync vault directory", vaultPath) { () throws(Errno) in try tree.syncDirectory(vaultPath) }
        var final = new.config
        try final.seal(keys: new.keys)
        try Vault.writeConfig(final, in: new.tree, backup: .updated)
        return report
    }

    private func walk(_ dir: String, plain: String) throws {
        report.directories += 1
        let names = try io("list", dir) { () throws(Errno) in try tree.listDirectory(dir) }
        let ids: DirectoryIDs
        do { ids = try old.directoryIDs(in: names, of: dir) } catch {
            report.skipped.append("\(dir): no directory ID file; left as it is")
            return
        }
        let dirTimes = try io("stat", dir) { () throws(Errno) in try tree.lstat(dir) }
        for raw in names {
            let text = String(decoding: raw, as: UTF8.self)
            let backing = dir + "/" + text
            switch BackingName(raw) {
            case .directoryID, .primaryID, .primaryIDCopy, .config, .syncTool:
                continue
            case .temporary:
                // Never a live entry while the vault is not mounted; it may hold old-key data.
                try removeLeftover(backing)
            case .foreign:
                report.skipped.append("\(backing): not a Sotto name; left as it is")
            case .encrypted(let encoded):
                try rekeyEntry(at: backing, encoded: encoded, container: nil, suffix: "", in: dir, ids: ids, plain: plain)
            case .conflict(let c):
                try rekeyEntry(at: backing, encoded: c.original, container: nil, suffix: c.suffix, in: dir, ids: ids, plain: plain)
            case .long:
                guard let bytes = try? tree.readSmallFile(backing + "/" + BackingName.longNameFile, limit: 4096),
                      let encoded = String(validating: bytes, as: UTF8.self) else {
                    report.skipped.append("\(backing): long-name container without a readable name file; left as it is")
                    continue
                }
                // A sync tool's conflict copies of the entry sit beside `data`: they move with it.
                for inside in (try? tree.listDirectory(backing)) ?? [] {
                    guard let c = ConflictCopy.parse(String(decoding: inside, as: UTF8.self)), c.original == BackingName.longDataEntry else { continue }
                    try rekeyEntry(at: backing + "/" + c.original + c.suffix, encoded: encoded, container: nil, suffix: c.suffix,
                                   in: dir, ids: ids, plain: plain)
                }
                if !tree.exists(backing + "/" + BackingName.longDataEntry) {
                    // An interrupted run moved the entry out but did not remove the container yet.
                    if decrypt(encoded, ids, with: old) != nil { try removeLeftover(backing) }
                    continue
                }
                try rekeyEntry(at: backing + "/" + BackingName.longDataEntry, encoded: encoded, container: backing, suffix: "",
                               in: dir, ids: ids, plain: plain)
            }
        }
        // Renaming entries touched the directory's times; they are the plaintext directory's times.
        try? tree.setTimes(dir, access: dirTimes.st_atim, modification: dirTimes.st_mtim)
    }

    private func decrypt(_ encoded: String, _ ids: DirectoryIDs, with v: Vault) -> (name: [UInt8], id: [UInt8])? {
        for id in ids.all { if let n = v.names.decrypt(encoded, directoryID: id) { return (n, id) } }
        return nil
    }

    /// `suffix`: a conflict copy's marker, kept after the new name.
    private func rekeyEntry(at current: String, encoded: String, container: String?, suffix: String, in dir: String,
                            ids: DirectoryIDs, plain: String) throws {
        var entry = current
        let name: [UInt8]
        if let done = decrypt(encoded, ids, with: new) {
            name = done.name
        } else if let (n, id) = decrypt(encoded, ids, with: old) {
            name = n
            entry = try place(current, container: container, newEncoded: try new.names.encrypt(n, directoryID: id), suffix: suffix, in: dir)
            report.namesReencrypted += 1
            try Self.interruptionPoint(.rename)
        } else {
            report.skipped.append("\(container ?? current): the name opens under neither key (damaged, or moved from another directory); left as it is")
            return
        }
        let plainPath = Vault.join(plain, name)
        let st = try io("stat", entry) { () throws(Errno) in try tree.lstat(entry) }
        switch EntryKind(mode: st.st_mode) {
        case .directory: try walk(entry, plain: plainPath)
        case .file: try rekeyHeader(entry, st, plainPath)
        case .symlink: try rekeySymlink(entry, st, plainPath)
        case .other: report.otherEntries += 1
        }
        progress?(report)
    }

    /// Moves an entry to its new encrypted name: a rename, or for a long name into a container
    /// (reused if an interrupted run made it). Returns the new backing path.
    private func place(_ current: String, container: String?, newEncoded: String, suffix: String, in dir: String) throws -> String {
        var target = dir + "/" + newEncoded + suffix
        if newEncoded.utf8.count > BackingName.maxEncodedLength {
            let c = dir + "/" + (try BackingName.longName(forEncoded: newEncoded))
            let nameFile = c + "/" + BackingName.longNameFile
            try io("create", c) { () throws(Errno) in
                do throws(Errno) { try tree.mkdir(c, mode: 0o700) } catch { if error != .exists { throw error } }
                if !tree.exists(nameFile) { try new.writeLongName(newEncoded, into: c) }
            }
            target = c + "/" + BackingName.longDataEntry + suffix
        }
        try io("rename", current) { () throws(Errno) in try tree.renameNoReplace(current, target) }
        if let container { try removeLeftover(container, counted: false) }
        return target
    }

    /// Removes a temporary file or an emptied long-name container.
    private func removeLeftover(_ path: String, counted: Bool = true) throws {
        let removed = try io("remove", path) { () throws(Errno) -> Bool in
            let st = try tree.lstat(path)
            if EntryKind(mode: st.st_mode) == .directory {
                // An emptied long-name container; if anything but its name file is left, so is it.
                let inside = try tree.listDirectory(path)
                guard inside.allSatisfy({ $0 == Array(BackingName.longNameFile.utf8) }) else { return false }
                if !inside.isEmpty { try tree.unlink(path + "/" + BackingName.longNameFile) }
                try tree.rmdir(path)
            } else {
                try tree.unlink(path)
            }
            return true
        }
        if counted && removed { report.leftoversRemoved += 1 }
    }

    private func rekeyHeader(_ path: String, _ st: stat, _ plainPath: String) throws {
        report.files += 1
        let header = try io("read header of", path) { () throws(Errno) -> [UInt8] in
            let fd = try tree.openFile(path, flags: O_RDONLY)
            defer { fd.close() }
            return try fd.readBytes(FileHeader.size, at: 0)
        }
        guard header.count == FileHeader.size else {
            report.skipped.append("\(path) (\(plainPath)): shorter than a file header; left as it is")
            return
        }
        if (try? header.withUnsafeBytes { try FileHeader.open($0, wrapKey: new.keys.fileKeyWrap, gcm: gcm) }) != nil {
            return  // a hard link already seen, or a resumed run
        }
        guard let opened = try? header.withUnsafeBytes({ try FileHeader.open($0, wrapKey: old.keys.fileKeyWrap, gcm: gcm) }) else {
            report.skipped.append("\(path) (\(plainPath)): the file header opens under neither key; left as it is")
            return
        }
        let rewrapped = try FileHeader.rewrap(opened, wrapKey: new.keys.fileKeyWrap, gcm: gcm)
        batch.append((path, header, rewrapped, [st.st_atim, st.st_mtim]))
        if batch.count >= Self.batchSize { try flushBatch() }
    }

    private func rekeySymlink(_ path: String, _ st: stat, _ plainPath: String) throws {
        report.symlinks += 1
        let stored = try io("read link", path) { () throws(Errno) in try tree.readlink(path) }
        if (try? new.symlinks.decrypt(stored, gcm: gcm)) != nil { return }
        guard let target = try? old.symlinks.decrypt(stored, gcm: gcm) else {
            report.skipped.append("\(path) (\(plainPath)): the symlink target opens under neither key; left as it is")
            return
        }
        let dir = String(path[..<path.lastIndex(of: "/")!])
        let tmp = dir + "/" + (try BackingName.temporaryName())
        let restamped = try new.symlinks.encrypt(target, gcm: gcm)
        try io("replace symlink", path) { () throws(Errno) in
            try tree.symlink(target: restamped, at: tmp)
            do throws(Errno) {
                _ = try? tree.chown(tmp, uid: st.st_uid, gid: st.st_gid)
                try tree.setTimes(tmp, access: st.st_atim, modification: st.st_mtim)
                try tree.rename(tmp, path)
            } catch {
                _ = try? tree.unlink(tmp)
                throw error
            }
        }
        report.symlinksReencrypted += 1
    }

    // MARK: Header batches

    /// Saves the batch's old headers durably, rewrites them in place (keeping the files' times),
    /// then makes it all durable with one `syncfs`.
    private func flushBatch() throws {
        guard !batch.isEmpty else { return }
        let journal = try RekeyJournal.serialize(batch.map { (Array($0.path.dropFirst(vaultPath.count + 1).utf8), $0.oldHeader) },
                                                 macKey: journalMAC)
        let tmp = vaultPath + "/" + BackingName.rekeyJournalTemporaryFile
        let journalPath = vaultPath + "/" + BackingName.rekeyJournalFile
        try io("write", tmp) { () throws(Errno) in
            try tree.writeFileDurably(tmp, journal)
            try tree.rename(tmp, journalPath)
            try tree.syncDirectory(vaultPath)
        }
        for item in batch {
            try Self.interruptionPoint(.header, tearing: item.path)
            try io("rewrite header of", item.path) { () throws(Errno) in
                let fd = try tree.openFile(item.path, flags: O_WRONLY)
                defer { fd.close() }
                try fd.writeAll(item.newHeader, at: 0)
                var times = item.times
                _ = futimens(fd.rawValue, &times)
            }
            report.headersRewrapped += 1
        }
        try io("sync", vaultPath) { () throws(Errno) in try retryingSyscall { sotto_syncfs(lock.descriptor.rawValue) } }
        batch.removeAll()
    }

    /// Puts back any header the last run tore: one that opens under neither key while the journal
    /// holds the bytes it had. Only while the config says a rotation is in progress, only from a
    /// journal this vault's old key authenticated, only for files below the vault (reached without
    /// following any symlink), and only a saved header that itself opens under the old key.
    private func restoreFromJournal() throws {
        let path = vaultPath + "/" + BackingName.rekeyJournalFile
        guard tree.exists(path) else { return }
        guard resumed else {
            report.skipped.append("\(path): a journal with no rotation in progress (not written by this vault's rekey); ignored and removed")
            return
        }
        let bytes = try io("read", path) { () throws(Errno) in try tree.readSmallFile(path, limit: RekeyJournal.maxSize) }
        guard let entries = try RekeyJournal.parse(bytes, macKey: journalMAC) else {
            report.skipped.append("\(path): does not authenticate under this vault's key (planted or damaged); ignored and removed")
            return
        }
        for (rel, saved) in entries {
            let shown = String(decoding: rel, as: UTF8.self)
            guard RekeyJournal.isCanonicalPath(rel) else {
                report.skipped.append("\(path): names '\(shown)', not a path below the vault; ignored")
                continue
            }
            let file = vaultPath + "/" + shown
            let fd: FileDescriptor
            do throws(Errno) { fd = try tree.openFile(file, flags: O_RDWR) } catch {
                if error == .noEntry { continue }  // renamed or removed since: nothing to put back
                if error == .notDirectory || error.rawValue == ELOOP {  // a symlink or non-folder on the way
                    report.skipped.append("\(file): not reachable below the vault without following a symlink; left as it is")
                    continue
                }
                if let st = try? tree.lstat(file), EntryKind(mode: st.st_mode) != .file {
                    report.skipped.append("\(file): \(EntryKind(mode: st.st_mode).withArticle), not a regular file (put in its place); left as it is")
                    continue
                }
                throw SottoError.io(operation: "open", path: file, errno: error)  // a torn header must not be skipped silently
            }
            defer { fd.close() }
            let st = try io("stat", file) { () throws(Errno) in try fd.stat() }
            let current = try io("read", file) { () throws(Errno) in try fd.readBytes(FileHeader.size, at: 0) }
            if opens(current, new) || opens(current, old) { continue }
            guard opens(saved, old) else {
                report.skipped.append("\(file): the journal's saved header does not open under the old key; left as it is")
                continue
            }
            try io("restore header of", file) { () throws(Errno) in
                try fd.writeAll(saved, at: 0)
                try fd.sync()
            }
            var times = [st.st_atim, st.st_mtim]
            _ = futimens(fd.rawValue, &times)
            report.headersRestored += 1
        }
    }

    private func opens(_ header: [UInt8], _ v: Vault) -> Bool {
        header.count == FileHeader.size && (try? header.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws -> FileHeader in
            try FileHeader.open(b, wrapKey: v.keys.fileKeyWrap, gcm: self.gcm)
        }) != nil
    }

    // MARK: Interruption (tests)

    // Debug builds only: a release build (what is installed) reads no test variable. Not an
    // `@_spi(Testing)` API: what is tested is a crash — the process ending mid-step with no
    // cleanup — which only a separate process can undergo, so the tests run the binary.
    enum InterruptionPoint: String { case rename, header, tear }
    nonisolated(unsafe) private static var interruption: (point: InterruptionPoint, remaining: Int)? = {
        #if DEBUG
        // SOTTO_TEST_REKEY_INTERRUPT=rename:N|header:N|tear:N ends the process at the Nth such
        // step, as a crash or power cut would; "tear" first half-writes that header.
        guard let spec = getenv("SOTTO_TEST_REKEY_INTERRUPT").map({ String(cString: $0) }),
              let colon = spec.firstIndex(of: ":"), let point = InterruptionPoint(rawValue: String(spec[..<colon])),
              let n = Int(spec[spec.index(after: colon)...]) else { return nil }
        return (point, n)
        #else
        return nil
        #endif
    }()

    private static func interruptionPoint(_ point: InterruptionPoint, tearing path: String? = nil) throws {
        guard var i = interruption, i.point == point || (point == .header && i.point == .tear) else { return }
        i.remaining -= 1
        interruption = i
        guard i.remaining <= 0 else { return }
        if i.point == .tear, let path, let fd = try? FileDescriptor.open(path, flags: O_WRONLY | O_NOFOLLOW) {
            try? fd.writeAll([UInt8](repeating: 0xA5, count: FileHeader.size / 2), at: 0)
            _ = fsync(fd.rawValue)
            fd.close()
        }
        _exit(75)
    }
}
