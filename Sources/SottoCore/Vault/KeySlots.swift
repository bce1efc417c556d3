/// Key slots: each wraps the same master key under its own password and KDF parameters.
extension Vault {
    /// Adds a slot for `password` at the lowest free index; returns the index. A label needs
    /// format 5: a version-3 vault is moved to it (a config-only change, docs/format.md §1).
    @discardableResult
    public func addSlot(password: SecretBytes, kdf: Argon2idParameters, label: String = "") throws -> Int {
        guard password.count > 0 else { throw SottoError.passwordInput("the new password is empty") }
        guard kdf.isWithinBounds else { throw SottoError.invalidArgument("KDF parameters are outside the accepted bounds") }
        try config.allowsSlot(kdf)
        guard let index = (0..<VaultConfig.maxSlots).first(where: { i in !config.slots.contains { $0.index == i } }) else {
            throw SottoError.keySlot("all \(VaultConfig.maxSlots) key slots are in use: remove one first ('sotto key remove')")
        }
        var updated = config
        if !label.isEmpty { try updated.prepareLabel(label, forSlot: index) }
        updated.slots.append(try VaultConfig.makeSlot(index: index, masterKey: masterKey, password: password, kdf: kdf,
                                                      vaultID: config.vaultID, label: label))
        updated.slots.sort { $0.index < $1.index }
        try commit(updated, backup: .previous)
        return index
    }

    /// Removes slot `index`; never the last one. The backup config is replaced by the new one, so
    /// no copy Sotto keeps still opens with the removed password (copies made elsewhere do:
    /// docs/threat-model.md).
    public func removeSlot(_ index: Int) throws {
        guard config.slots.contains(where: { $0.index == index }) else { throw notInUse(index) }
        guard config.slots.count > 1 else {
            throw SottoError.keySlot("key slot \(index) is the vault's last: removing it would lock everyone out; add another first ('sotto key add')")
        }
        var updated = config
        updated.slots.removeAll { $0.index == index }
        try commit(updated, backup: .updated)
    }

    /// Sets (or, with "", clears) slot `index`'s label. No password of that slot is needed: the
    /// label is authenticated by the config's MAC, which the unlocked master key makes.
    public func setLabel(_ label: String, slot index: Int) throws {
        guard let position = config.slots.firstIndex(where: { $0.index == index }) else { throw notInUse(index) }
        guard config.slots[position].label != label else { return }
        var updated = config
        if !label.isEmpty { try updated.prepareLabel(label, forSlot: index) }
        updated.slots[position].label = label
        try commit(updated, backup: .previous)
    }

    private func notInUse(_ index: Int) -> SottoError {
        .keySlot("key slot \(index) is not in use (slots in use: \(config.slots.map { String($0.index) }.joined(separator: ", ")))")
    }

    private func commit(_ updated: VaultConfig, backup: ConfigBackup) throws {
        var sealed = updated
        try sealed.seal(keys: keys)
        try Self.writeConfig(sealed, in: tree, backup: backup)
        replaceConfig(sealed)
    }
}
