#if canImport(Glibc)
import Glibc
#endif
import CSottoShims

/// What `sotto upgrade` did.
public struct UpgradeReport: Sendable {
    public var fromVersion = 0, toVersion = 0
    public var directories = 0
    /// `sotto.dirid` files written by this run (a rerun counts only what was left).
    public var primaryIDFilesWritten = 0
    /// Backing directories with no ID file (damaged: `sotto fsck` tells more), left as they are.
    public var skipped: [String] = []
}

extension Vault {
    /// Brings a vault to the newest format, version 7 (docs/format.md §1). From version 1, each
    /// directory first gets the `sotto.dirid` naming its smallest ID — the one version 1 already
    /// treats as primary, so no name, twin or listing changes; from 3 or 5 only the config changes
    /// (5 lets key slots carry labels, 7 files hold hole runs). Nothing is re-encrypted. Safe to interrupt: until the config
    /// is written the vault is version 1 with some extra files (a version-1 build reports them as
    /// foreign names and reads everything), and a rerun finishes. Holds the vault's exclusive
    /// lock: refused while it is mounted.
    public static func upgrade(at path: String, password: SecretBytes) throws -> UpgradeReport {
        let lock = try VaultLock.exclusive(path)
        let vault = try Vault.open(at: path, password: password)
        var report = UpgradeReport(fromVersion: vault.config.version, toVersion: vault.config.version)
        guard vault.config.version < VaultConfig.newVaultVersion else { return report }
        if VaultConfig.layoutVersion(vault.config.version) < VaultConfig.firstPrimaryIDVersion {
            try vault.addPrimaryIDFiles(in: path, report: &report)
            try io("sync", path) { () throws(Errno) in try retryingSyscall { sotto_syncfs(lock.descriptor.rawValue) } }
        }
        var upgraded = vault.config
        upgraded.version = VaultConfig.newVaultVersion
        try upgraded.seal(keys: vault.keys)
        // The backup follows: restoring it must not take the version back under the new files.
        try writeConfig(upgraded, in: vault.tree, backup: .updated)
        report.toVersion = upgraded.version
        return report
    }

    private func addPrimaryIDFiles(in dir: String, report: inout UpgradeReport) throws {
        report.directories += 1
        let names = try io("list", dir) { () throws(Errno) in try tree.listDirectory(dir) }
        guard let ids = try? directoryIDs(in: names, of: dir) else {
            report.skipped.append(dir)
            return
        }
        if readPrimaryIDFile(in: dir) == nil {  // a torn one from a cut-off run is replaced whole
            try io("write the primary ID file in", dir) { () throws(Errno) in try replacePrimaryIDFile(ids.primary, in: dir) }
            report.primaryIDFilesWritten += 1
        }
        for raw in names {
            let entry: String
            switch BackingName(raw) {
            case .encrypted: entry = dir + "/" + String(decoding: raw, as: UTF8.self)
            case .long: entry = dir + "/" + String(decoding: raw, as: UTF8.self) + "/" + BackingName.longDataEntry
            default: continue  // IDs, config, sync tools' files, foreign names, sotto.quarantine
            }
            guard let st = try? tree.lstat(entry), EntryKind(mode: st.st_mode) == .directory else { continue }
            try addPrimaryIDFiles(in: entry, report: &report)
        }
    }
}
