import ArgumentParser
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage key slots: up to 8 passwords, each with its own KDF cost, for one vault.",
        subcommands: [KeyList.self, KeyAdd.self, KeyRemove.self])
}

struct KeyList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the key slots (no password needed).")
    @OptionGroup var vault: VaultArgument
    @Flag(name: .customLong("json"), help: "Print as JSON (schema 1).")
    var json = false

    func run() throws {
        let c = try Vault.readConfig(at: vault.vault)
        if json {
            try JSONOutput.print(["slots": c.slots.map(JSONOutput.slot), "maxSlots": VaultConfig.maxSlots])
            return
        }
        for s in c.slots { print("slot \(s.index): \(SlotKind.describe(s))") }
        print("\(c.slots.count) of \(VaultConfig.maxSlots) slots in use")
    }
}

struct KeyAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a password in a new slot (an existing password unlocks the vault first).")
    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions
    @OptionGroup var newPassword: NewPasswordOptions
    @OptionGroup var kdf: KDFOptions
    @Option(name: .customLong("new-password-file"), help: ArgumentHelp("Read the new password from the first line of FILE.", valueName: "FILE"), completion: .file())
    var newPasswordFile: String?

    func run() throws {
        let v = try unlock(vault, password)
        let new = try newPasswordFile.map { try PasswordReader.firstLine(ofFile: $0) } ?? PasswordReader.prompt("New password: ", confirm: true)
        try newPassword.check(new)
        let index = try v.addSlot(password: new, kdf: try kdf.parameters(base: .recommended))
        print("added key slot \(index)")
    }
}

struct KeyRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a key slot (never the last one); any slot's password authorizes it.")
    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("The slot number (see 'sotto key list').", valueName: "SLOT"))
    var slot: Int
    @OptionGroup var password: PasswordOptions

    func run() throws {
        let v = try unlock(vault, password)
        try v.removeSlot(slot)
        print("removed key slot \(slot)")
        if slot == v.unlockedSlot { Sotto.report("note: that was the slot of the password you gave; it no longer opens this vault") }
        print("note: copies of the config made before (backups, a sync tool's history) still open with the removed password; 'sotto rekey' will end that")
    }
}
