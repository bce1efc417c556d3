import ArgumentParser
import SottoCore

struct RecoveryKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery-key",
        abstract: "Recovery keys: a written-down key that sets a new password when the old one is forgotten.",
        subcommands: [RecoveryKeyCreate.self])
}

struct RecoveryKeyCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Add a recovery key in a new key slot and show it once.")
    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions

    func run() throws {
        try addRecoveryKey(to: try unlock(vault, password), vaultPath: vault.vault)
    }
}

/// Adds a recovery-key slot and prints the key, once.
func addRecoveryKey(to v: Vault, vaultPath: String) throws {
    let (display, secret) = try RecoveryKey.generate()
    let slot = try v.addSlot(password: secret, kdf: RecoveryKey.kdf)
    print("""
    Recovery key (key slot \(slot)) — write it down now; it is not stored anywhere and is shown only once:

        \(display)

    With it, 'sotto passwd \(vaultPath) --recovery-key' sets a new password. Keep it apart from the
    vault: anyone with both can open it. Case, spaces and dashes do not matter when typing it back.
    """)
}
