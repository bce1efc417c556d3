#if canImport(Glibc)
import Glibc
#endif

/// An unlocked vault: its config, the subkeys of its master key, and the ciphers built on them.
public final class Vault {
    public let path: String
    /// The vault directory, reached only through its descriptor.
    public let tree: BackingTree
    public private(set) var config: VaultConfig
    public let keys: VaultKeys
    /// The slot the password opened (the one `changePassword` rewraps).
    public let unlockedSlot: Int
    public let names: NameCipher
    public let symlinks: SymlinkCipher
    public var layout: ContentLayout { config.layout }
    let masterKey: SecretBytes  // only for wrapping it into slots; never leaves this module

    /// `tree`: another view of the same directory (rekey's old and new keys) shares its
    /// descriptor and directory handles, so a rename through one is seen by the other at once.
    init(path: String, config: VaultConfig, masterKey: SecretBytes, slot: Int, tree: BackingTree? = nil) throws {
        self.path = path
        self.tree = try tree ?? io("open vault directory", path) { () throws(Errno) in try BackingTree(path: path) }
        self.config = config
        self.masterKey = masterKey
        self.keys = try VaultKeys(masterKey: masterKey, vaultID: config.vaultID)
        self.names = NameCipher(keys: keys)
        self.symlinks = SymlinkCipher(keys: keys)
        self.unlockedSlot = slot
    }

    public static let defaultBlockSize = 16384

    // MARK: Create

    /// Creates a vault in `path` (made if missing; must be empty otherwise): config and root ID.
    @discardableResult
    public static func create(at path: String, password: SecretBytes, kdf: Argon2idParameters = .recommended,
                              blockSize: Int = defaultBlockSize, label: String = "") throws -> Vault {
        if let problem = SlotLabel.problem(label) { throw SottoError.invalidArgument("the label \(problem)") }
        guard kdf.isWithinBounds else { throw SottoError.invalidArgument("KDF parameters are outside the accepted bounds") }
        guard kdf.cost <= Argon2idParameters.configBudget else { throw SottoError.kdfOverBudget }
        guard ContentLayout.allowedBlockSizes.contains(blockSize) else {
            throw SottoError.invalidArgument("block size must be one of \(ContentLayout.allowedBlockSizes)")
        }
        guard password.count > 0 else { throw SottoError.passwordInput("the password is empty") }
        var madeDirectory = false
        if let st = try? FileSystem.lstat(path) {
            guard EntryKind(mode: st.st_mode) == .directory else { throw SottoError.io(operation: "use as vault directory", path: path, errno: .notDirectory) }
            let entries = try io("list", path) { () throws(Errno) in try FileSystem.listDirectory(path) }
            guard entries.isEmpty else { throw SottoError.vaultNotEmpty(path: path) }
        } else {
            try io("create directory", path) { () throws(Errno) in try FileSystem.mkdir(path, mode: 0o700) }
            madeDirectory = true
        }
        do {
            return try initialize(at: path, password: password, kdf: kdf, blockSize: blockSize, label: label)
        } catch {
            // Leave the directory as it was found: remove only what this call wrote.
            let tree = try? BackingTree(path: path)
            for name in (try? tree?.listDirectory(path)) ?? [] {
                switch BackingName(name) {
                case .directoryID, .primaryID, .config: _ = try? tree?.unlink(path + "/" + String(decoding: name, as: UTF8.self))
                default: break
                }
            }
            if madeDirectory { _ = try? FileSystem.rmdir(path) }
            throw error
        }
    }

    private static func initialize(at path: String, password: SecretBytes, kdf: Argon2idParameters, blockSize: Int, label: String) throws -> Vault {
        let masterKey = try SecretBytes.random(count: VaultKeys.masterKeySize)
        let vaultID = try SecureRandom.bytes(VaultConfig.vaultIDSize)
        let slot = try VaultConfig.makeSlot(index: 0, masterKey: masterKey, password: password, kdf: kdf, vaultID: vaultID, label: label)
        var config = VaultConfig(version: VaultConfig.newVaultVersion, vaultID: vaultID, blockSize: blockSize, slots: [slot])
        let vault = try Vault(path: path, config: config, masterKey: masterKey, slot: 0)
        try config.seal(keys: vault.keys)
        vault.config = config
        try io("create directory ID in", path) { () throws(Errno) in try vault.writeDirectoryID(in: path) }
        try writeConfig(config, in: vault.tree, backup: .none)
        return vault
    }

    // MARK: Open

    /// Reads and checks the config without a password (for `info`, and before asking for one).
    public static func readConfig(at path: String) throws -> VaultConfig {
        guard let st = try? FileSystem.statFollowing(path), EntryKind(mode: st.st_mode) == .directory,
              let tree = try? BackingTree(path: path) else { throw SottoError.vaultMissing(path: path) }
        let configPath = path + "/" + BackingName.configFile
        let bytes: [UInt8]
        do {
            bytes = try tree.readSmallFile(configPath, limit: VaultConfig.maxSize)
        } catch Errno.noEntry {
            throw SottoError.notAVault(path: path)
        } catch let e {
            if let st = try? tree.lstat(configPath), EntryKind(mode: st.st_mode) != .file {
                // Planted (a sync peer can write anything here): never followed, never read.
                throw SottoError.configDamaged(path: path, detail: "it is \(EntryKind(mode: st.st_mode).withArticle), not a regular file (put there by something other than sotto); it was not followed or read")
            }
            throw SottoError.io(operation: "read config", path: configPath, errno: e)
        }
        do {
            return try VaultConfig.parse(bytes)
        } catch .unsupportedVersion(let v) {
            throw SottoError.unsupportedVersion(found: v, supported: VaultConfig.currentVersion)
        } catch .damaged(let detail) {
            throw SottoError.configDamaged(path: path, detail: detail)
        }
    }

    public static func open(at path: String, password: SecretBytes) throws -> Vault {
        let config = try readConfig(at: path)
        // Half the names and file keys are under the next master key: only `sotto rekey` may go on.
        guard config.rekey == nil else { throw SottoError.rekeyInProgress(path: path) }
        let (masterKey, slot) = try unlock(config, at: path, password: password)
        return try Vault(path: path, config: config, masterKey: masterKey, slot: slot)
    }

    /// The master key and slot of the first slot `password` opens whose key also authenticates
    /// the whole config (every slot is tried: a crafted slot cannot shadow a real one).
    static func unlock(_ config: VaultConfig, at path: String, password: SecretBytes) throws -> (SecretBytes, Int) {
        do {
            guard let opened = try config.unwrapMasterKey(password: password) else { throw SottoError.wrongPassword }
            return opened
        } catch is VaultConfig.MACMismatch {
            throw SottoError.configDamaged(path: path, detail: "authentication failed (MAC mismatch): the config was modified by something other than sotto")
        }
    }

    // MARK: Password

    /// Rewraps the master key in the slot that was unlocked: no file is touched, so the cost is the
    /// same for an empty vault and a full one. The previous config is kept as sotto.conf.bak.
    public func changePassword(to newPassword: SecretBytes, kdf: Argon2idParameters? = nil) throws {
        guard newPassword.count > 0 else { throw SottoError.passwordInput("the new password is empty") }
        let old = config.slots.first { $0.index == unlockedSlot }!
        let params = kdf ?? old.kdf
        guard params.isWithinBounds else { throw SottoError.invalidArgument("KDF parameters are outside the accepted bounds") }
        try config.allowsSlot(params, replacing: unlockedSlot)
        var updated = config
        let slot = try VaultConfig.makeSlot(index: unlockedSlot, masterKey: masterKey, password: newPassword, kdf: params,
                                            vaultID: config.vaultID, label: old.label)
        updated.slots = updated.slots.map { $0.index == unlockedSlot ? slot : $0 }
        try updated.seal(keys: keys)
        try Self.writeConfig(updated, in: tree, backup: .previous)
        config = updated
    }

    func replaceConfig(_ c: VaultConfig) { config = c }

    /// What sotto.conf.bak holds after a config change.
    enum ConfigBackup {
        case none
        /// The config as it was (passwd: recovery from a mistyped new password).
        case previous
        /// A copy of the new config (key removal: no backup keeps the removed slot).
        case updated
    }

    /// Crash-safe replace: write a temp file, fsync, rename over, fsync the directory, so at every
    /// instant sotto.conf is either the old or the new config, complete. The backup is written the
    /// same way: before the change (`.previous`) or after it (`.updated`).
    static func writeConfig(_ config: VaultConfig, in tree: BackingTree, backup: ConfigBackup) throws {
        let configPath = tree.path + "/" + BackingName.configFile
        guard VaultConfig.withinKDFBudget(config.slots + (config.rekey?.newSlots ?? [])) else { throw SottoError.kdfOverBudget }
        if case .previous = backup {
            let current = try io("read config", configPath) { () throws(Errno) in try tree.readSmallFile(configPath, limit: VaultConfig.maxSize) }
            try replaceDurably(tree, BackingName.configBackupFile, current)
        }
        try replaceDurably(tree, BackingName.configFile, config.serialized())
        if case .updated = backup { try replaceDurably(tree, BackingName.configBackupFile, config.serialized()) }
    }

    private static func replaceDurably(_ tree: BackingTree, _ name: String, _ bytes: [UInt8]) throws {
        let tmpPath = tree.path + "/" + BackingName.configTemporaryFile
        try io("write", tmpPath) { () throws(Errno) in try tree.writeFileDurably(tmpPath, bytes) }
        try io("rename into place", tree.path + "/" + name) { () throws(Errno) in try tree.rename(tmpPath, tree.path + "/" + name) }
        try io("sync vault directory", tree.path) { () throws(Errno) in try tree.syncDirectory(tree.path) }
    }
}

