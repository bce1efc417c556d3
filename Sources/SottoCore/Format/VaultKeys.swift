/// The master key's subkeys, one per purpose (HKDF-SHA256, salt = vault ID, info = label), so no key
/// ever serves two algorithms (the gocryptfs and EncFS audits both found shared keys).
public final class VaultKeys: Sendable {
    public static let masterKeySize = 32

    /// HKDF info labels; part of format v1 — never change them.
    enum Label {
        static let fileKeyWrap = "sotto-v1 file-key-wrap"
        static let names = "sotto-v1 names"
        static let symlinks = "sotto-v1 symlinks"
        static let configMAC = "sotto-v1 config-mac"
        static let rekeyWrap = "sotto-v2 rekey-wrap"
        static let rekeyJournalMAC = "sotto-v5 rekey-journal-mac"
    }

    /// AES-256-GCM key that wraps each file's own key.
    public let fileKeyWrap: SecretBytes
    /// AES-256-SIV key (64 bytes) for names.
    public let names: SecretBytes
    /// AES-256-GCM key for symlink targets.
    public let symlinks: SecretBytes
    /// HMAC-SHA256 key that authenticates the config.
    public let configMAC: SecretBytes

    public init(masterKey: SecretBytes, vaultID: [UInt8]) throws {
        precondition(masterKey.count == Self.masterKeySize)
        func derive(_ label: String, _ n: Int) throws -> SecretBytes {
            try Digest.hkdfSHA256(ikm: masterKey, salt: vaultID, info: Array(label.utf8), length: n)
        }
        fileKeyWrap = try derive(Label.fileKeyWrap, AESGCM.keySize)
        names = try derive(Label.names, AESSIV.Variant.aes256.keySize)
        symlinks = try derive(Label.symlinks, AESGCM.keySize)
        configMAC = try derive(Label.configMAC, 32)
    }

    /// HMAC-SHA256 key that authenticates `sotto.rekey.journal` (derived from the master key being
    /// replaced, so only someone who unlocked the vault can write a journal a rekey acts on).
    static func rekeyJournalMAC(masterKey: SecretBytes, vaultID: [UInt8]) throws -> SecretBytes {
        try Digest.hkdfSHA256(ikm: masterKey, salt: vaultID, info: Array(Label.rekeyJournalMAC.utf8), length: 32)
    }

    /// The key that wraps the next master key while `sotto rekey` runs (derived only then).
    static func rekeyWrap(masterKey: SecretBytes, vaultID: [UInt8]) throws -> SecretBytes {
        try Digest.hkdfSHA256(ikm: masterKey, salt: vaultID, info: Array(Label.rekeyWrap.utf8), length: AESGCM.keySize)
    }
}
