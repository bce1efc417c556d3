import ArgumentParser
import SottoCore

struct RecoveryKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery-key",
        abstract: "Recovery keys: a written-down key that sets a new password when the old one is forgotten.",
        subcommands: [RecoveryKeyCreate.self, RecoveryKeyVerify.self])
}

struct RecoveryKeyCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Add a recovery key in a new key slot and show it once.")
    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions
    @OptionGroup var label: LabelOption

    func run() throws {
        let v = try unlock(vault, password)
        let from = v.config.version
        try addRecoveryKey(to: v, vaultPath: vault.vault, label: label.label)
        reportLabelUpgrade(from: from, to: v.config.version)
    }
}

/// Checks a written-down recovery key against the vault without changing anything: a typo is
/// named (exit 15), a well-formed key that opens no slot is exit 12.
struct RecoveryKeyVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check a written-down recovery key (nothing is changed).")
    @OptionGroup var vault: VaultArgument
    @Option(name: .customLong("recovery-key-file"), help: ArgumentHelp("Read the key from the first line of FILE.", valueName: "FILE"), completion: .file())
    var recoveryKeyFile: String?

    func run() throws {
        _ = try Vault.readConfig(at: vault.vault)
        let typed = try recoveryKeyFile.map { try PasswordReader.firstLine(ofFile: $0) } ?? PasswordReader.prompt("Recovery key: ", confirm: false)
        let key: SecretBytes
        do { key = try RecoveryKey.parse(typed) } catch let e as RecoveryKey.ParseError { throw SottoError.passwordInput(e.description) }
        let opened = try Vault.open(at: vault.vault, password: key)
        print("the recovery key opens key slot \(opened.unlockedSlot) of \(vault.vault); nothing was changed")
    }
}

/// Adds a recovery-key slot and prints the key, once.
func addRecoveryKey(to v: Vault, vaultPath: String, label: String) throws {
    let (display, secret) = try RecoveryKey.generate()
    let slot = try v.addSlot(password: secret, kdf: RecoveryKey.kdf, label: label)
    print("""
    Recovery key (key slot \(slot)) — write it down now; it is not stored anywhere and is shown only once:

        \(display)

    With it, 'sotto passwd \(vaultPath) --recovery-key' sets a new password. Keep it apart from the
    vault: anyone with both can open it. Case, spaces and dashes do not matter when typing it back.
    """)
}
