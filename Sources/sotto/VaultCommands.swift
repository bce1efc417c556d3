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
    @OptionGroup var kdf: KDFOptions

    @Option(name: .customLong("block-size"), help: ArgumentHelp("Plaintext bytes per encrypted block: 4096, 8192, 16384 (default), 32768 or 65536.", valueName: "BYTES"))
    var blockSize: Int = Vault.defaultBlockSize

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
        try Vault.create(at: vault.vault, password: pw, kdf: params, blockSize: blockSize)
        print("created vault '\(vault.vault)' (format v\(VaultConfig.currentVersion), Argon2id m=\(params.memoryKiB / 1024) MiB t=\(params.iterations) p=\(params.parallelism), \(blockSize)-byte blocks)")
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
    @OptionGroup var kdf: KDFOptions

    @Option(name: .customLong("new-password-file"), help: ArgumentHelp("Read the new password from the first line of FILE.", valueName: "FILE"))
    var newPasswordFile: String?

    func run() throws {
        _ = try Vault.readConfig(at: vault.vault)
        let old = try password.read(prompt: "Current password: ")
        let opened = try Vault.open(at: vault.vault, password: old)
        let new: SecretBytes
        if let newPasswordFile {
            new = try PasswordReader.firstLine(ofFile: newPasswordFile)
        } else {
            new = try PasswordReader.prompt("New password: ", confirm: true)
        }
        let current = opened.config.slots.first { $0.index == opened.unlockedSlot }!.kdf
        try opened.changePassword(to: new, kdf: kdf.isSet ? try kdf.parameters(base: current) : nil)
        print("password changed (key slot \(opened.unlockedSlot)); the previous config is kept as \(vault.vault)/\(BackingName.configBackupFile)")
        print("note: that backup still opens with the old password; delete it once the new password works if the old one may be known to others")
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a vault's format and key slots (no password needed, no secrets shown).")

    @OptionGroup var vault: VaultArgument

    func run() throws {
        let c = try Vault.readConfig(at: vault.vault)
        print("vault:        \(vault.vault)")
        print("format:       sotto v\(c.version) (content \(VaultConfig.contentCipherName), names \(VaultConfig.nameCipherName))")
        print("vault ID:     \(Hex.encode(c.vaultID))")
        print("block size:   \(c.blockSize) bytes (+\(AESGCM.overhead) bytes per block, \(FileHeader.size)-byte file header)")
        print("key slots:    \(c.slots.count) of \(VaultConfig.maxSlots) in use")
        for s in c.slots {
            let weak = s.kdf.isWeakerThanRecommended ? "  (weaker than RFC 9106's recommendation)" : ""
            print("  slot \(s.index):     Argon2id memory \(s.kdf.memoryKiB / 1024) MiB, \(s.kdf.iterations) passes, \(s.kdf.parallelism) lanes\(weak)")
        }
    }
}
