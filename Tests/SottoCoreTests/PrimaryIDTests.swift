import Foundation
import Testing
@testable import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Format v3's `sotto.dirid`: a mount opens a name without listing its directory, whatever the
/// directory's size, and falls back to the listing (format v1's way) whenever the file cannot be
/// trusted to be complete.
@Suite struct PrimaryIDTests {
    func vaultWithFolder(_ dir: TempDir, files: Int = 50) throws -> (Vault, VaultEntry) {
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let folder = try v.createDirectory(Array("folder".utf8), in: v.root)
        for i in 0..<files { try v.importBytes(Array("file \(i)".utf8), as: "f\(i).txt", in: folder, scratch: dir) }
        return (v, folder)
    }

    @Test func everyNewDirectoryNamesItsOnlyID() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let (v, folder) = try vaultWithFolder(dir, files: 1)
        for d in [try v.root, folder] {
            let ids = try v.directoryIDs(of: d)
            #expect(ids.all.count == 1)
            #expect(readFile(d.backingPath + "/sotto.dirid") == Array(Hex.encode(ids.primary).utf8))
            #expect(v.primaryDirectoryID(of: d.backingPath) == ids.primary)
        }
        // Listings leave it out, and the directory is still empty once its files are gone.
        #expect(try v.list(folder).entries.map(\.name) == [Array("f0.txt".utf8)])
        let mapper = PathMapper(vault: v)
        let empty = try v.createDirectory(Array("empty".utf8), in: v.root)
        #expect(try mapper.isEmptyDirectory(empty.backingPath))
        try mapper.removeDirectory(at: empty.backingPath)
        #expect(!FileManager.default.fileExists(atPath: empty.backingPath))
    }

    @Test func openingANameListsNothingAndAMissListsOnce() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let (v, folder) = try vaultWithFolder(dir)
        let mapper = PathMapper(vault: v)
        for i in [0, 17, 49] {
            let found = try #require(try mapper.lookup(Array("f\(i).txt".utf8), in: folder.backingPath))
            #expect(try v.readAll(VaultEntry(plainPath: "/folder/f\(i).txt", backingPath: found.path, info: found.info)) == Array("file \(i)".utf8))
        }
        #expect(mapper.idListings == 0)
        // A name that is not there could exist under another ID: that takes the listing, once.
        #expect(try mapper.lookup(Array("absent.txt".utf8), in: folder.backingPath) == nil)
        #expect(try mapper.lookup(Array("absent2.txt".utf8), in: folder.backingPath) == nil)
        #expect(mapper.idListings == 1)
        // Offline commands (`sotto cat`) resolve paths the same way: the directory's access time,
        // which a listing moves (relatime: it is older than the mtime), stays.
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), try FileSystem.lstat(folder.backingPath).st_mtim]
        #expect(utimensat(AT_FDCWD, folder.backingPath, &times, 0) == 0)
        #expect(try v.readAll(try v.resolve("/folder/f42.txt")) == Array("file 42".utf8))
        #expect(try FileSystem.lstat(folder.backingPath).st_atim.tv_sec == 1_000_000_000)
        #expect(throws: SottoError.notFound(path: "/folder/absent.txt")) { try v.resolve("/folder/absent.txt") }
        #expect(try FileSystem.lstat(folder.backingPath).st_atim.tv_sec != 1_000_000_000)  // a miss lists
        // With --shared the same holds while the directory is unchanged.
        let shared = PathMapper(vault: v, shared: true)
        #expect(try shared.lookup(Array("f3.txt".utf8), in: folder.backingPath) != nil)
        #expect(shared.idListings == 0)
    }

    /// A crash can leave `sotto.dirid` empty or missing; it can also name an ID the directory has
    /// no file for (damage, or a sync still under way). Each falls back to the listing, finds
    /// every name, and a missing or torn file is written again for the next mount.
    @Test(arguments: ["missing", "torn", "unknown ID", "garbage"])
    func anUntrustworthyPrimaryIDFileFallsBackToTheListing(_ damage: String) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let (v, folder) = try vaultWithFolder(dir, files: 3)
        let file = folder.backingPath + "/sotto.dirid"
        let id = try v.directoryIDs(of: folder).primary
        try FileSystem.unlink(file)
        switch damage {
        case "torn": writeFile(file, [])
        case "unknown ID": writeFile(file, Array(String(repeating: "ab", count: 16).utf8))
        case "garbage": writeFile(file, Array("not an ID at all\n".utf8))
        default: break
        }
        #expect(v.primaryDirectoryID(of: folder.backingPath) == nil)
        let mapper = PathMapper(vault: v)
        #expect(try mapper.lookup(Array("f1.txt".utf8), in: folder.backingPath) != nil)
        #expect(mapper.idListings == 1)
        let rewritten = damage != "unknown ID"  // that one may be a sync's half: left alone
        #expect((v.primaryDirectoryID(of: folder.backingPath) == id) == rewritten)
        #expect(try v.list(folder).entries.count == 3)
        #expect(v.check().findings.contains { $0.vaultPath == file } == !rewritten)
        #expect(!(try FileSystem.listDirectory(folder.backingPath)).contains { String(decoding: $0, as: UTF8.self).hasPrefix("sotto.tmp.") })
    }

    /// A vault of format v1 has no `sotto.dirid`; a newer build leaves it so (a v1 build must keep
    /// reading it as it wrote it) and lists each directory once per mount, as before.
    @Test func aVersionOneVaultGetsNoPrimaryIDFiles() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.file("v1")
        try FileManager.default.copyItem(atPath: FixtureTests.fixtures + "/vault-v1", toPath: path)
        let v = try Vault.open(at: path, password: secret("sotto-fixture-v1"))
        #expect(v.config.version == 1)
        let interviews = try v.resolve("/interviews")
        let mapper = PathMapper(vault: v)
        #expect(try mapper.lookup(Array("2026".utf8), in: interviews.backingPath) != nil)
        #expect(mapper.idListings == 1)
        let made = try v.createDirectory(Array("new".utf8), in: v.root)
        let tree = FileManager.default.enumerator(atPath: path)!.allObjects as! [String]
        #expect(!tree.contains { $0.hasSuffix("sotto.dirid") }, "\(tree)")
        #expect(try v.directoryIDs(of: made).all.count == 1)
    }

    /// `sotto upgrade`: version 1 to 7 (3's tree, labels, hole runs) without re-encrypting. A cut-off run (some directories
    /// done, one `sotto.dirid` torn, the config still version 1) leaves a vault version 1 reads;
    /// the rerun finishes, and every name, byte and ID choice is as before.
    @Test func aVersionOneVaultUpgradesAndAnInterruptedUpgradeFinishes() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.file("v1")
        try FileManager.default.copyItem(atPath: FixtureTests.fixtures + "/vault-v1", toPath: path)
        let manifest = try JSONSerialization.jsonObject(with: Data(readFile(FixtureTests.fixtures + "/vault-v1.json"))) as! [String: Any]
        let password = secret(manifest["password"] as! String)
        let before = try Vault.open(at: path, password: password)
        let interviews = try before.resolve("/interviews"), audio = try before.resolve("/audio")
        let primaryBefore = try [before.root, interviews, audio].map { try before.directoryIDs(of: $0).primary }
        // The cut-off run: one directory done, one torn.
        try before.writePrimaryIDFile(try before.directoryIDs(of: interviews).primary, in: interviews.backingPath)
        writeFile(audio.backingPath + "/sotto.dirid", [])
        let stillV1 = try Vault.open(at: path, password: password)
        #expect(stillV1.config.version == 1)
        #expect(try stillV1.readAll(try stillV1.resolve("/audio/block-exact.bin")).count == 16384)

        let r = try Vault.upgrade(at: path, password: password)
        #expect(r.fromVersion == 1 && r.toVersion == VaultConfig.newVaultVersion && r.directories == 4 && r.primaryIDFilesWritten == 3 && r.skipped.isEmpty)
        let v = try Vault.open(at: path, password: password)
        #expect(v.config.version == VaultConfig.newVaultVersion && v.config.writesPrimaryIDFiles && v.config.carriesLabels && v.config.allowsHoles)
        #expect(try Vault.readConfig(at: path) == VaultConfig.parse(readFile(path + "/sotto.conf.bak")))
        for (d, primary) in zip([try v.root, interviews, audio], primaryBefore) {
            #expect(v.primaryDirectoryID(of: d.backingPath) == primary, "\(d.plainPath)")
        }
        for (plain, sha) in manifest["files"] as! [String: String] {
            #expect(Hex.encode(try Digest.sha256(try v.readAll(try v.resolve(plain)))) == sha, "\(plain)")
        }
        #expect(v.check().isClean)
        #expect(!(FileManager.default.enumerator(atPath: path)!.allObjects as! [String]).contains { $0.contains("sotto.tmp.") })
        let again = try Vault.upgrade(at: path, password: password)
        #expect(again.fromVersion == VaultConfig.newVaultVersion && again.toVersion == VaultConfig.newVaultVersion && again.primaryIDFilesWritten == 0)
        #expect(throws: SottoError.wrongPassword) { try Vault.upgrade(at: path, password: secret("not it")) }
    }
}
