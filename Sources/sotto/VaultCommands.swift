import ArgumentParser
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

struct KDFOptions: ParsableArguments {
    @Option(name: .customLong("kdf-memory"), help: ArgumentHelp("Argon2id memory in MiB (default 64; at least 1).", valueName: "MIB"))
    var memoryMiB: UInt32?

    @Option(name: .customLong("kdf-time"), help: ArgumentHelp("Argon2id passes (default 3; 1 to 64).", valueName: "N"))
    var iterations: UInt32?

    func parameters(base: Argon2idParameters) throws -> Argon2idParameters {
        var p = base
        if let m = memoryMiB {
            guard m >= 1, m <= Argon2idParameters.memoryKiBRange.upperBound / 1024 else {
                throw SottoError.invalidArgument("--kdf-memory must be between 1 and \(Argon2idParameters.memoryKiBRange.upperBound / 1024) MiB")
            }
            p.memoryKiB = m * 1024
        }
        if let t = iterations {
            guard Argon2idParameters.iterationsRange.contains(t) else {
                throw SottoError.invalidArgument("--kdf-time must be between \(Argon2idParameters.iterationsRange.lowerBound) and \(Argon2idParameters.iterationsRange.upperBound)")
            }
            p.iterations = t
        }
        return p
    }

    var isSet: Bool { memoryMiB != nil || iterations != nil }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a vault in a new or empty directory.")

    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions
    @OptionGroup var newPassword: NewPasswordOptions
    @OptionGroup var kdf: KDFOptions

    @Option(name: .customLong("block-size"), help: ArgumentHelp("Plaintext bytes per encrypted block: 4096, 8192, 16384 (default), 32768 or 65536.", valueName: "BYTES"))
    var blockSize: Int = Vault.defaultBlockSize

    @Flag(name: .customLong("recovery-key"), help: "Also make a recovery key (shown once) for when the password is forgotten.")
    var recoveryKey = false

    @OptionGroup var label: LabelOption

    func run() throws {
        let params = try kdf.parameters(base: .recommended)
        guard ContentLayout.allowedBlockSizes.contains(blockSize) else {
            throw SottoError.invalidArgument("--block-size must be one of \(ContentLayout.allowedBlockSizes.map(String.init).joined(separator: ", "))")
        }
        // Refuse before asking for a password.
        if let st = try? FileSystem.lstat(vault.vault), EntryKind(mode: st.st_mode) == .directory,
           let names = try? FileSystem.listDirectory(vault.vault), !names.isEmpty {
            throw SottoError.vaultNotEmpty(path: vault.vault)
        }
        let pw = try password.read(prompt: "New vault password: ", confirm: true)
        try newPassword.check(pw)
        let created = try Vault.create(at: vault.vault, password: pw, kdf: params, blockSize: blockSize, label: label.label)
        print("created vault '\(vault.vault)' (format v\(VaultConfig.newVaultVersion), Argon2id m=\(params.memoryKiB / 1024) MiB t=\(params.iterations) p=\(params.parallelism), \(blockSize)-byte blocks)")
        if recoveryKey {
            try addRecoveryKey(to: created, vaultPath: vault.vault, label: "")
        } else {
            print("tip: 'sotto recovery-key create \(vault.vault)' makes a key that can set a new password if this one is forgotten")
        }
        if params.isWeakerThanRecommended {
            Sotto.report("warning: KDF parameters are weaker than RFC 9106's recommendation (64 MiB, t=3); fine for tests, not for real data")
        }
    }
}

struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change the vault password (rewraps the master key; no data is re-encrypted).")

    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions
    @OptionGroup var newPassword: NewPasswordOptions
    @OptionGroup var kdf: KDFOptions

    @Option(name: .customLong("new-password-file"), help: ArgumentHelp("Read the new password from the first line of FILE.", valueName: "FILE"), completion: .file())
    var newPasswordFile: String?

    @Flag(name: .customLong("recovery-key"), help: "Unlock with the recovery key instead of the password (asked for, or --recovery-key-file); the new password goes into a new key slot.")
    var useRecoveryKey = false

    @Option(name: .customLong("recovery-key-file"), help: ArgumentHelp("Read the recovery key from the first line of FILE.", valueName: "FILE"), completion: .file())
    var recoveryKeyFile: String?

    func run() throws {
        _ = try Vault.readConfig(at: vault.vault)
        if useRecoveryKey || recoveryKeyFile != nil { return try recover() }
        let old = try password.read(prompt: "Current password: ")
        let opened = try Vault.open(at: vault.vault, password: old)
        let new: SecretBytes
        if let newPasswordFile {
            new = try PasswordReader.firstLine(ofFile: newPasswordFile)
        } else {
            new = try PasswordReader.prompt("New password: ", confirm: true)
        }
        try newPassword.check(new)
        let current = opened.config.slots.first { $0.index == opened.unlockedSlot }!.kdf
        try opened.changePassword(to: new, kdf: kdf.isSet ? try kdf.parameters(base: current) : nil)
        print("password changed (key slot \(opened.unlockedSlot)); the previous config is kept as \(vault.vault)/\(BackingName.configBackupFile)")
        print("note: that backup still opens with the old password; delete it once the new password works if the old one may be known to others")
    }

    /// Forgotten password: the recovery key unlocks, and the new password gets a slot of its own
    /// (which slot held the forgotten password cannot be told, so none is overwritten).
    private func recover() throws {
        let typed = try recoveryKeyFile.map { try PasswordReader.firstLine(ofFile: $0) } ?? PasswordReader.prompt("Recovery key: ", confirm: false)
        let slotPassword: SecretBytes
        do { slotPassword = try RecoveryKey.parse(typed) } catch let e as RecoveryKey.ParseError {
            throw SottoError.passwordInput(e.description)
        }
        let opened: Vault
        do { opened = try Vault.open(at: vault.vault, password: slotPassword) } catch SottoError.wrongPassword {
            throw SottoError.wrongPassword  // a well-formed key, but not this vault's
        }
        let new = try newPasswordFile.map { try PasswordReader.firstLine(ofFile: $0) } ?? PasswordReader.prompt("New password: ", confirm: true)
        try newPassword.check(new)
        let current = opened.config.slots.first { $0.index == opened.unlockedSlot }!.kdf
        let params = kdf.isSet ? try kdf.parameters(base: current) : Argon2idParameters.recommended
        let slot = try opened.addSlot(password: new, kdf: params)
        print("new password set in key slot \(slot); the recovery key (slot \(opened.unlockedSlot)) keeps working")
        print("the forgotten password's slot still exists: see 'sotto key list \(vault.vault)' and remove it with 'sotto key remove'")
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a vault's format and key slots (no password needed, no secrets shown).")

    @OptionGroup var vault: VaultArgument
    @Flag(name: .customLong("json"), help: "Print as JSON (schema 1).")
    var json = false

    func run() throws {
        let c = try Vault.readConfig(at: vault.vault)
        if json {
            var fields: [String: Any] = [
                "vault": vault.vault, "format": Int(VaultConfig.layoutVersion(c.version)),
                "contentCipher": VaultConfig.contentCipherName, "nameCipher": VaultConfig.nameCipherName,
                "vaultID": Hex.encode(c.vaultID), "blockSize": c.blockSize, "slots": c.slots.map(JSONOutput.slot),
                "maxSlots": VaultConfig.maxSlots, "rekeyInterrupted": c.rekey != nil]
            if VaultConfig.layoutVersion(c.version) < VaultConfig.newVaultVersion { fields["upgradeAvailable"] = true }
            try JSONOutput.print(fields)
            return
        }
        print("vault:        \(vault.vault)")
        print("format:       sotto v\(VaultConfig.layoutVersion(c.version)) (content \(VaultConfig.contentCipherName), names \(VaultConfig.nameCipherName))")
        let layout = VaultConfig.layoutVersion(c.version)
        if layout < VaultConfig.newVaultVersion {
            let gains = [(VaultConfig.firstPrimaryIDVersion, "files open by name without listing their folder"),
                         (VaultConfig.firstLabelVersion, "key slots can have labels"),
                         (VaultConfig.firstHoleVersion, "sparse files (holes that take no disk)")]
                .filter { layout < $0.0 }.map(\.1).joined(separator: ", ")
            print("              'sotto upgrade \(vault.vault)' makes it v\(VaultConfig.newVaultVersion): \(gains)")
        }
        print("vault ID:     \(Hex.encode(c.vaultID))")
        print("block size:   \(c.blockSize) bytes (+\(AESGCM.overhead) bytes per block, \(FileHeader.size)-byte file header)")
        print("key slots:    \(c.slots.count) of \(VaultConfig.maxSlots) in use")
        for s in c.slots { print("  " + SlotKind.line(s)) }
        if let r = c.rekey {
            print("rekey:        interrupted, to finish with 'sotto rekey \(vault.vault)' (will keep slots \(r.newSlots.map { String($0.index) }.joined(separator: ", ")))")
        }
    }
}

struct Upgrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring a vault to format v7 (from v1: files open by name without listing their folder; from v3: key slot labels; from v5: sparse files).",
        discussion: """
        From v1, writes one small file (sotto.dirid) into each folder of the vault directory, then \
        the new version into the config; from v3 or v5 only the config changes. Nothing is \
        re-encrypted and no name changes. Safe to interrupt: run it again. Builds older than \
        format v7 refuse the upgraded vault (exit 13), so update every device that mounts it \
        first. The vault must not be mounted.
        """)

    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions

    func run() throws {
        _ = try Vault.readConfig(at: vault.vault)
        let r = try Vault.upgrade(at: vault.vault, password: try password.read())
        for dir in r.skipped {
            Sotto.report("warning: \(dir) has no directory ID file, so nothing in it can be read ('sotto fsck' tells more); left as it is")
        }
        if r.fromVersion == r.toVersion {
            print("'\(vault.vault)' is already format v\(VaultConfig.layoutVersion(r.toVersion)): nothing to do")
        } else {
            print("upgraded '\(vault.vault)' from format v\(r.fromVersion) to v\(r.toVersion): \(r.directories) folders, \(r.primaryIDFilesWritten) sotto.dirid files written")
        }
    }
}
