import ArgumentParser
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage key slots: up to 8 passwords, each with its own KDF cost, for one vault.",
        subcommands: [KeyList.self, KeyAdd.self, KeyRemove.self, KeyLabel.self])
}

/// `--label TEXT` for a slot being made; checked before any password is asked for.
struct LabelOption: ParsableArguments {
    @Option(name: .customLong("label"), help: ArgumentHelp("Name the new key slot (e.g. \"laptop\", \"recovery key in the safe\"); shown by 'sotto key list'.", valueName: "TEXT"))
    var label: String = ""

    func validate() throws {
        if let problem = SlotLabel.problem(label) { throw ValidationError("the label \(problem)") }
    }
}

struct KeyList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the key slots (no password needed; --verify authenticates the labels).",
        discussion: "Without a password the labels are checked against accidental damage only: anyone who can write the vault directory could swap them. --verify asks for any slot's password and checks them with the vault's key; every command that takes a password does the same before it changes anything.")
    @OptionGroup var vault: VaultArgument
    @Flag(name: .customLong("json"), help: "Print as JSON (schema 1).")
    var json = false
    @Flag(name: .customLong("verify"), help: "Ask for a password and authenticate the labels before listing (implied by a password source).")
    var verify = false
    @OptionGroup var password: PasswordOptions

    func run() throws {
        let verify = verify || password.isGiven
        let c = verify ? try unlock(vault, password).config : try Vault.readConfig(at: vault.vault)
        if json {
            try JSONOutput.print(["slots": c.slots.map(JSONOutput.slot), "maxSlots": VaultConfig.maxSlots, "labelsVerified": verify])
            return
        }
        for s in c.slots { print(SlotKind.line(s)) }
        print("\(c.slots.count) of \(VaultConfig.maxSlots) slots in use" + (verify ? "; labels authenticated" : ""))
    }
}

struct KeyAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a password in a new slot (an existing password unlocks the vault first).")
    @OptionGroup var vault: VaultArgument
    @OptionGroup var password: PasswordOptions
    @OptionGroup var newPassword: NewPasswordOptions
    @OptionGroup var kdf: KDFOptions
    @OptionGroup var label: LabelOption
    @Option(name: .customLong("new-password-file"), help: ArgumentHelp("Read the new password from the first line of FILE.", valueName: "FILE"), completion: .file())
    var newPasswordFile: String?

    func run() throws {
        let v = try unlock(vault, password)
        let new = try newPasswordFile.map { try PasswordReader.firstLine(ofFile: $0) } ?? PasswordReader.prompt("New password: ", confirm: true)
        try newPassword.check(new)
        let from = v.config.version
        let index = try v.addSlot(password: new, kdf: try kdf.parameters(base: .recommended), label: label.label)
        print("added key slot \(index)\(SlotKind.quoted(label.label))")
        reportLabelUpgrade(from: from, to: v.config.version)
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
        // Named from the authenticated config: a label swapped in the vault directory would
        // have failed the unlock.
        let label = v.config.slots.first { $0.index == slot }?.label ?? ""
        try v.removeSlot(slot)
        print("removed key slot \(slot)\(SlotKind.quoted(label))")
        if slot == v.unlockedSlot { Sotto.report("note: that was the slot of the password you gave; it no longer opens this vault") }
        print("note: copies of the config made before (backups, a sync tool's history) still open with the removed password; 'sotto rekey' will end that")
    }
}

struct KeyLabel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label", abstract: "Name a key slot, or with \"\" remove its name; any slot's password authorizes it.",
        discussion: "Labels are authenticated with the vault's key. A format v3 vault becomes v5 (the first with labels; nothing else changes), which builds before v5 refuse.")
    @OptionGroup var vault: VaultArgument
    @Argument(help: ArgumentHelp("The slot number (see 'sotto key list').", valueName: "SLOT"))
    var slot: Int
    @Argument(help: ArgumentHelp("The label: up to \(SlotLabel.maxCharacters) characters, no control characters; \"\" removes it.", valueName: "TEXT"))
    var text: String
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        if let problem = SlotLabel.problem(text) { throw ValidationError("the label \(problem)") }
    }

    func run() throws {
        let v = try unlock(vault, password)
        let from = v.config.version
        try v.setLabel(text, slot: slot)
        print(text.isEmpty ? "key slot \(slot) has no label now" : "key slot \(slot) is labelled\(SlotKind.quoted(text))")
        reportLabelUpgrade(from: from, to: v.config.version)
    }
}

/// Says so when setting a label moved the vault to the first format with labels.
func reportLabelUpgrade(from: Int, to: Int) {
    guard from != to else { return }
    Sotto.report("note: the vault is now format v\(VaultConfig.layoutVersion(to)) (key slot labels); Sotto builds before it refuse it (exit 13): update them first")
}
