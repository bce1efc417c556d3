import Foundation
import Testing
@testable import SottoCore

/// Vaults written by earlier builds must keep opening. Each format version has a small vault
/// committed under Fixtures/ (made by `tools/make-fixture`); never regenerate an existing one.
@Suite struct FixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    /// Layout versions: 1; 3 (every directory names its primary ID in `sotto.dirid`); 5 (slot
    /// labels); 7 (hole runs: `sparse.bin` has runs inside a chunk, across a chunk edge and before
    /// the final block, which git checks out as zeros — the dense copy a sync tool makes).
    @Test(arguments: [1, 3, 5, 7]) func fixtureOpensAndReadsBack(version: Int) throws {
        let path = Self.fixtures + "/vault-v\(version)"
        let manifest = try JSONSerialization.jsonObject(with: Data(readFile(Self.fixtures + "/vault-v\(version).json"))) as! [String: Any]
        let v = try Vault.open(at: path, password: secret(manifest["password"] as! String))
        #expect(v.config.version == version)
        let files = manifest["files"] as! [String: String]  // plaintext path -> SHA-256 hex
        #expect(!files.isEmpty)
        for (plain, sha) in files {
            let data = try v.readAll(try v.resolve(plain))
            #expect(Hex.encode(try Digest.sha256(data)) == sha, "\(plain)")
        }
        for (plain, target) in manifest["symlinks"] as! [String: String] {
            #expect(try v.readSymlink(try v.resolve(plain)) == Array(target.utf8))
        }
        #expect(throws: SottoError.wrongPassword) { try Vault.open(at: path, password: secret("not the password")) }
        #expect(v.check().isClean)
        try Self.expectLabels(manifest, path: path)
        try Self.expectRuns(manifest, vault: v)
        // Version 3's directories each name their one ID; version 1's have no such file.
        var directories = [try v.root]
        while let d = directories.popLast() {
            let ids = try v.directoryIDs(of: d)
            #expect(v.primaryDirectoryID(of: d.backingPath) == (version >= 3 ? ids.primary : nil), "\(d.plainPath)")
            directories += try v.list(d).entries.map(\.entry).filter { $0.kind == .directory }
        }
    }

    /// Even config versions are only ever written by an interrupted `sotto rekey` (2 of a version
    /// 1 vault, 4 of a version 3 one, both with a key chain; 8 of a version 3 one without): a later
    /// build must refuse ordinary opens and finish the rotation, after which the vault is at its
    /// layout version again and everything reads back. 2 and 4 lose their key chain on resuming.
    @Test(arguments: [2, 4, 8, 10, 12]) func fixtureIsAnInterruptedRekeyThatFinishes(version: Int) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.file("vault")
        try FileManager.default.copyItem(atPath: Self.fixtures + "/vault-v\(version)", toPath: path)
        let manifest = try JSONSerialization.jsonObject(with: Data(readFile(Self.fixtures + "/vault-v\(version).json"))) as! [String: Any]
        let password = secret(manifest["password"] as! String)
        #expect(try Vault.readConfig(at: path).version == version)
        #expect(throws: SottoError.rekeyInProgress(path: path)) { try Vault.open(at: path, password: password) }
        let rekeying = try Rekeying.begin(at: path, password: password) { _ in nil }
        #expect(rekeying.resumed)
        // Before any entry moves, the config on disk holds no key chain (migrated from 2 and 4).
        let migrated = try Vault.readConfig(at: path)
        #expect(migrated.version == VaultConfig.rekeyVersion(of: version) && migrated.rekey?.wrappedNewMasterKey == nil)
        #expect(!String(decoding: readFile(path + "/sotto.conf"), as: UTF8.self).contains("wrappedNewMasterKey"))
        _ = try rekeying.run()
        let v = try Vault.open(at: path, password: password)
        #expect(v.config.version == VaultConfig.layoutVersion(version))
        try Self.expectLabels(manifest, path: path)
        try Self.expectRuns(manifest, vault: v)
        for (plain, sha) in manifest["files"] as! [String: String] {
            #expect(Hex.encode(try Digest.sha256(try v.readAll(try v.resolve(plain)))) == sha, "\(plain)")
        }
        for (plain, target) in manifest["symlinks"] as! [String: String] {
            #expect(try v.readSymlink(try v.resolve(plain)) == Array(target.utf8))
        }
        #expect(v.check().isClean)
    }

    /// From version 5: each slot's label, and the second slot's own password opens it (the labels
    /// are authenticated, so a wrong one would have failed the MAC).
    static func expectLabels(_ manifest: [String: Any], path: String) throws {
        let config = try Vault.readConfig(at: path)
        guard let labels = manifest["labels"] as? [String: String] else {
            #expect(!config.carriesLabels && config.slots.allSatisfy { $0.label.isEmpty })
            return
        }
        #expect(config.carriesLabels)
        #expect(Dictionary(uniqueKeysWithValues: config.slots.map { (String($0.index), $0.label) }) == labels)
        for (slot, password) in manifest["otherPasswords"] as? [String: String] ?? [:] {
            #expect(try Vault.open(at: path, password: secret(password)).unlockedSlot == Int(slot))
        }
    }

    /// From version 7: `sparse.bin`'s backing file holds hole run markers (and reads back, above).
    static func expectRuns(_ manifest: [String: Any], vault: Vault) throws {
        guard (manifest["files"] as! [String: String])["/sparse.bin"] != nil else {
            #expect(!vault.config.allowsHoles)
            return
        }
        #expect(vault.config.allowsHoles)
        let entry = try vault.resolve("/sparse.bin")
        let fd = try FileDescriptor.open(entry.backingPath, flags: O_RDONLY)
        defer { fd.close() }
        let layout = vault.layout
        var markers: [Int] = []
        for i in 0..<1040 {
            let block = try fd.readBytes(layout.cipherBlockSize, at: layout.cipherOffset(ofBlock: i))
            if block.withUnsafeBytes({ HoleRun.kind(of: $0) }) == .marker { markers.append(i) }
        }
        // make-fixture's steps leave runs 1...1, 3...4, 6...1023, 1024...1029 and 1031...1039.
        #expect(markers == [1, 4, 1023, 1029, 1039])
    }
}
