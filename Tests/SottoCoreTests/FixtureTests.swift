import Foundation
import Testing
@testable import SottoCore

/// Vaults written by earlier builds must keep opening. Each format version has a small vault
/// committed under Fixtures/ (made by `tools/make-fixture`); never regenerate an existing one.
@Suite struct FixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    @Test func formatV1FixtureOpensAndReadsBack() throws {
        let path = Self.fixtures + "/vault-v1"
        let manifest = try JSONSerialization.jsonObject(with: Data(readFile(Self.fixtures + "/vault-v1.json"))) as! [String: Any]
        let v = try Vault.open(at: path, password: secret(manifest["password"] as! String))
        #expect(v.config.version == 1)
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
    }

    /// Config version 2 is only ever written by an interrupted `sotto rekey`: a later build must
    /// refuse ordinary opens and finish the rotation, after which everything reads back.
    @Test func formatV2FixtureIsAnInterruptedRekeyThatFinishes() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let path = dir.file("vault")
        try FileManager.default.copyItem(atPath: Self.fixtures + "/vault-v2", toPath: path)
        let manifest = try JSONSerialization.jsonObject(with: Data(readFile(Self.fixtures + "/vault-v2.json"))) as! [String: Any]
        let password = secret(manifest["password"] as! String)
        #expect(try Vault.readConfig(at: path).version == 2)
        #expect(throws: SottoError.rekeyInProgress(path: path)) { try Vault.open(at: path, password: password) }
        let rekeying = try Rekeying.begin(at: path, password: password) { _ in nil }
        #expect(rekeying.resumed)
        _ = try rekeying.run()
        let v = try Vault.open(at: path, password: password)
        #expect(v.config.version == 1)
        for (plain, sha) in manifest["files"] as! [String: String] {
            #expect(Hex.encode(try Digest.sha256(try v.readAll(try v.resolve(plain)))) == sha, "\(plain)")
        }
        for (plain, target) in manifest["symlinks"] as! [String: String] {
            #expect(try v.readSymlink(try v.resolve(plain)) == Array(target.utf8))
        }
        #expect(v.check().isClean)
    }
}
