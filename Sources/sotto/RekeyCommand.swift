import ArgumentParser
import Foundation
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

struct Rekey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rotate the master key: re-wrap every file key and re-encrypt every name, without re-encrypting content.",
        discussion: """
        Afterwards no copy of the old config (a backup, a sync tool's history) opens any file or \
        name of the vault. Safe to interrupt: run it again with any password the vault had and it \
        finishes. The vault must not be mounted. The slot of the password given keeps working; \
        every other slot needs its password again (asked on the terminal, or --other-password-file) \
        or is dropped (--drop-other-slots).
        """)

    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions
    @Option(name: .customLong("other-password-file"), parsing: .singleValue,
            help: ArgumentHelp("Keep key slot SLOT, whose password is the first line of FILE (repeatable).", valueName: "SLOT=FILE"))
    var otherPasswordFiles: [String] = []
    @Flag(name: .customLong("drop-other-slots"), help: "Drop every key slot whose password is not given, without asking.")
    var dropOtherSlots = false

    func validate() throws {
        for spec in otherPasswordFiles where Self.parse(spec) == nil {
            throw ValidationError("--other-password-file takes SLOT=FILE, e.g. 1=/run/user/1000/pw1")
        }
    }

    static func parse(_ spec: String) -> (slot: Int, file: String)? {
        guard let eq = spec.firstIndex(of: "="), let slot = Int(spec[..<eq]) else { return nil }
        let file = String(spec[spec.index(after: eq)...])
        return file.isEmpty ? nil : (slot, file)
    }

    func run() throws {
        let config = try Vault.readConfig(at: vault.vault)
        let files = Dictionary(otherPasswordFiles.compactMap(Self.parse).map { ($0.slot, $0.file) }, uniquingKeysWith: { $1 })
        if let unknown = files.keys.sorted().first(where: { i in !config.slots.contains { $0.index == i } }) {
            throw SottoError.keySlot("--other-password-file names key slot \(unknown), which is not in use (slots in use: \(config.slots.map { String($0.index) }.joined(separator: ", ")))")
        }
        let terminal = isatty(0) == 1 && isatty(2) == 1
        if config.rekey == nil, !dropOtherSlots, !terminal, config.slots.count > 1 {
            // Unattended: every other slot must be accounted for up front, since there is no one to ask.
            // (Which slot the password opens is known only after the KDF runs, so all are listed.)
            let missing = config.slots.map(\.index).filter { files[$0] == nil }
            if missing.count > 1 {
                throw SottoError.keySlot("this vault has key slots \(config.slots.map { String($0.index) }.joined(separator: ", ")); a rekey keeps only the slots whose passwords it is given: pass the others with --other-password-file SLOT=FILE, or --drop-other-slots to keep only the one your password opens (nothing was changed)")
            }
        }
        let pw = try password.read()
        let start = Date()
        let rekeying = try Rekeying.begin(at: vault.vault, password: pw) { slot in
            if let file = files[slot.index] { return try PasswordReader.firstLine(ofFile: file) }
            if dropOtherSlots { return nil }
            // The check above assumed the password opens the one slot without a file; if it
            // opened another, this slot would go without anyone having said so. Nothing is written yet.
            guard terminal else {
                throw SottoError.keySlot("key slot \(slot.index) would be dropped: give its password with --other-password-file \(slot.index)=FILE, or --drop-other-slots (nothing was changed)")
            }
            let isRecovery = slot.kdf == RecoveryKey.kdf
            let typed = try PasswordReader.prompt(isRecovery ? "Recovery key of key slot \(slot.index) (Enter to drop the slot): "
                                                            : "Password of key slot \(slot.index) (Enter to drop the slot): ", confirm: false,
                                                 allowEmpty: true)
            guard typed.count > 0 else { return nil }
            if isRecovery {
                do { return try RecoveryKey.parse(typed) } catch let e as RecoveryKey.ParseError { throw SottoError.passwordInput(e.description) }
            }
            return typed
        }
        if rekeying.resumed { Sotto.report("finishing the rekey an earlier run started") }
        let showProgress = isatty(2) == 1
        var lastShown = Date.distantPast
        let report = try rekeying.run { r in
            guard showProgress, Date().timeIntervalSince(lastShown) > 0.2 else { return }
            lastShown = Date()
            Sotto.progress("rekey: \(r.directories) folders, \(r.files) files, \(r.symlinks) symlinks")
        }
        if showProgress { Sotto.progress(nil) }
        let seconds = Date().timeIntervalSince(start)
        print("rekeyed \(vault.vault) in \(String(format: "%.2f", seconds)) s: new master key; \(report.namesReencrypted) names, \(report.headersRewrapped) file keys and \(report.symlinksReencrypted) symlink targets re-encrypted (no content re-encrypted)")
        print("key slots kept: \(rekeying.keptSlots.map(String.init).joined(separator: ", "))"
              + (rekeying.droppedSlots.isEmpty ? "" : "; dropped: \(rekeying.droppedSlots.map(String.init).joined(separator: ", ")) (add passwords again with 'sotto key add', a recovery key with 'sotto recovery-key create')"))
        if report.headersRestored > 0 { print("put back \(report.headersRestored) file header\(report.headersRestored == 1 ? "" : "s") the interrupted run had half-written") }
        if report.leftoversRemoved > 0 { print("removed \(report.leftoversRemoved) leftover\(report.leftoversRemoved == 1 ? "" : "s") of interrupted writes") }
        if !report.skipped.isEmpty {
            Sotto.report("\(report.skipped.count) entr\(report.skipped.count == 1 ? "y was" : "ies were") left as they were (run 'sotto fsck'):")
            for s in report.skipped.prefix(20) { Sotto.report("  " + s) }
        }
        if FileSystem.exists(vault.vault + "/" + BackingName.quarantineDirectory) {
            Sotto.report("note: \(BackingName.quarantineDirectory) keeps what fsck moved aside under the old key; only an old config copy opens it, so delete it once you no longer need it")
        }
    }
}
