import Foundation
import Testing
@testable import SottoCore

@Suite struct ConfigTests {
    @Test func createOpenAndWrongPassword() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        try Vault.create(at: p, password: secret("right"), kdf: testKDF)
        #expect(try Vault.open(at: p, password: secret("right")).unlockedSlot == 0)
        #expect(throws: SottoError.wrongPassword) { try Vault.open(at: p, password: secret("wrong")) }
        #expect(throws: SottoError.vaultNotEmpty(path: p)) { try Vault.create(at: p, password: secret("x"), kdf: testKDF) }
        #expect(throws: SottoError.vaultMissing(path: dir.file("nope"))) { try Vault.readConfig(at: dir.file("nope")) }
    }

    @Test func configRoundTripsAndIsReadable() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let text = readFile(v.path + "/sotto.conf")
        #expect(try VaultConfig.parse(text) == v.config)
        let json = try JSONSerialization.jsonObject(with: Data(text)) as! [String: Any]
        #expect(json["version"] as? Int == VaultConfig.newVaultVersion)
        #expect((json["slots"] as? [Any])?.count == 1)
        // Reformatting the JSON does not matter: checksum and MAC cover the canonical fields.
        let pretty = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        writeFile(v.path + "/sotto.conf", [UInt8](pretty))
        #expect(try Vault.open(at: v.path, password: secret("pw")).config == v.config)
    }

    func mutateConfig(_ path: String, _ body: (inout [String: Any]) -> Void) throws {
        var json = try JSONSerialization.jsonObject(with: Data(readFile(path + "/sotto.conf"))) as! [String: Any]
        body(&json)
        writeFile(path + "/sotto.conf", [UInt8](try JSONSerialization.data(withJSONObject: json)))
    }

    @Test func damageIsToldApartFromAWrongPassword() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        let good = readFile(p + "/sotto.conf")
        func expectDamaged(_ what: Comment) {
            do { _ = try Vault.open(at: p, password: secret("pw")); Issue.record("accepted: \(what)") } catch let e as SottoError {
                guard case .configDamaged = e else { Issue.record("\(what): got \(e)"); return }
            } catch { Issue.record("\(what): \(error)") }
            writeFile(p + "/sotto.conf", good)
        }
        writeFile(p + "/sotto.conf", Array(good[0..<(good.count / 2)])); expectDamaged("truncated")
        writeFile(p + "/sotto.conf", []); expectDamaged("empty")
        writeFile(p + "/sotto.conf", Array("not json".utf8)); expectDamaged("garbage")
        try mutateConfig(p) { $0["blockSize"] = 12345 }; expectDamaged("bad block size")
        try mutateConfig(p) { j in
            var slots = j["slots"] as! [[String: Any]]
            var w = Base64URL.decode(slots[0]["wrappedMasterKey"] as! String)!
            w[20] ^= 1
            slots[0]["wrappedMasterKey"] = Base64URL.encode(w)
            j["slots"] = slots
        }
        expectDamaged("wrapped key bit flip (checksum catches it before the KDF)")
    }

    @Test func hostileKDFParametersAreRefusedNotRun() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        try mutateConfig(p) { j in
            var slots = j["slots"] as! [[String: Any]]
            slots[0]["memoryKiB"] = 100 * 1024 * 1024  // 100 GiB
            j["slots"] = slots
        }
        #expect {
            try Vault.readConfig(at: p)
        } throws: { e in
            guard case SottoError.configDamaged(_, let d) = e else { return false }
            return d.contains("outside the accepted bounds")
        }
    }

    @Test func tamperingWithARecomputedChecksumFailsTheMAC() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        var c = v.config
        c.blockSize = 4096  // an attacker changes a field and fixes the unkeyed checksum
        c.checksum = try Digest.sha256(c.canonicalBytes)
        writeFile(p + "/sotto.conf", c.serialized())
        #expect(throws: SottoError.self) { _ = try Vault.open(at: p, password: secret("pw")) }
        do { _ = try Vault.open(at: p, password: secret("pw")) } catch let SottoError.configDamaged(_, d) {
            #expect(d.contains("MAC"))
        }
    }

    @Test func futureVersionIsRefusedWithItsOwnError() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        try mutateConfig(p) { $0["version"] = 13; $0["someNewField"] = "x" }
        #expect(throws: SottoError.unsupportedVersion(found: 13, supported: 12)) { try Vault.readConfig(at: p) }
        // Below the newest, a version no build ever wrote is damage, not a layout to guess at.
        for never in [0, 9, 11] {
            try mutateConfig(p) { $0["version"] = never }
            #expect { try Vault.readConfig(at: p) } throws: { e in
                guard case SottoError.configDamaged(_, let d) = e else { return false }
                return d.contains("not a version any Sotto build writes")
            }
        }
    }

    /// Even versions exist only while a rekey runs (12 for a version 7 vault): the section
    /// round-trips, is covered by the checksum, blocks every ordinary open, and cannot be added to
    /// or dropped from a config.
    @Test func aRekeyInProgressIsAnEvenVersionAndBlocksOrdinaryOpens() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        _ = try Rekeying.begin(at: p, password: secret("pw")) { _ in nil }  // started, never run
        let text = readFile(p + "/sotto.conf")
        let c = try VaultConfig.parse(text)
        #expect(c.version == 12 && c.rekey?.newSlots.map(\.index) == [0] && c.rekey?.wrappedNewMasterKey == nil)
        #expect(c.serialized() == text)
        #expect(throws: SottoError.rekeyInProgress(path: p)) { try Vault.open(at: p, password: secret("pw")) }
        func expectDamaged(_ body: (inout [String: Any]) -> Void) throws {
            try mutateConfig(p, body)
            #expect(throws: SottoError.self) { try Vault.readConfig(at: p) }
            writeFile(p + "/sotto.conf", text)
        }
        try expectDamaged { $0["version"] = 1 }
        try expectDamaged { $0["version"] = 3 }
        try expectDamaged { $0["version"] = 5 }
        try expectDamaged { $0["version"] = 7 }
        try expectDamaged { $0["rekey"] = nil }
        try expectDamaged { j in  // a key chain in a version that never has one
            var r = j["rekey"] as! [String: Any]
            r["wrappedNewMasterKey"] = Base64URL.encode([UInt8](repeating: 7, count: 60))
            j["rekey"] = r
        }
        try expectDamaged { j in
            var r = j["rekey"] as! [String: Any]
            var slots = r["newSlots"] as! [[String: Any]]
            var w = Base64URL.decode(slots[0]["wrappedMasterKey"] as! String)!
            w[30] ^= 1
            slots[0]["wrappedMasterKey"] = Base64URL.encode(w)
            r["newSlots"] = slots
            j["rekey"] = r
        }
    }

    /// The attack on the old rekey: someone with a copy of the config from before the rotation,
    /// the password of a slot the rotation drops, and the mid-rotation config (any sync tool
    /// uploads it) must not get the new master key. Since version 6 nothing on disk wraps the new
    /// key under the old one: only the kept slots' passwords open it.
    @Test func aDroppedPasswordAndAnOldConfigDoNotOpenTheNewKey() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("kept"), kdf: testKDF)
        try v.addSlot(password: secret("dropped"), kdf: testKDF)
        let oldCopy = try Vault.readConfig(at: p)  // what a sync tool's history keeps
        do {  // started and cut off before any entry moved (its lock goes with it)
            let rekeying = try Rekeying.begin(at: p, password: secret("kept")) { _ in nil }  // drops slot 1
            #expect(rekeying.droppedSlots == [1])
        }
        let mid = try Vault.readConfig(at: p)
        // The attacker's keys: the old master key (old copy + dropped password), and all it derives.
        let (oldMaster, _) = try #require(try oldCopy.unwrapMasterKey(password: secret("dropped")))
        let chainKey = try VaultKeys.rekeyWrap(masterKey: oldMaster, vaultID: mid.vaultID)
        // No field of the mid-rotation config opens under it, and no new slot opens with the dropped password.
        #expect(mid.rekey?.wrappedNewMasterKey == nil)
        for field in [mid.slots, mid.rekey!.newSlots].flatMap({ $0 }).map(\.wrappedMasterKey) {
            #expect(try KeyWrap.unwrap(field, under: chainKey, aad: VaultConfig.PendingRekey.associatedData(vaultID: mid.vaultID)) == nil)
        }
        for s in mid.rekey!.newSlots { #expect(try VaultConfig.open(s, password: secret("dropped"), vaultID: mid.vaultID) == nil) }
        // Resuming with the dropped password is refused with a clear message; the kept one finishes.
        do { _ = try Rekeying.begin(at: p, password: secret("dropped")) { _ in nil }; Issue.record("resumed with a dropped slot's password") } catch let e as SottoError {
            guard case .keySlot(let m) = e else { Issue.record("got \(e)"); return }
            #expect(m.contains("kept slot (0)"), "\(m)")
        }
        _ = try Rekeying.begin(at: p, password: secret("kept")) { _ in nil }.run()
        let after = try Vault.open(at: p, password: secret("kept"))
        #expect(after.config.version == VaultConfig.newVaultVersion && after.config.slots.map(\.index) == [0])
        #expect(throws: SottoError.wrongPassword) { try Vault.open(at: p, password: secret("dropped")) }
        #expect(!after.keys.fileKeyWrap.isEqual(to: try VaultKeys(masterKey: oldMaster, vaultID: mid.vaultID).fileKeyWrap))
    }

    @Test func passwdKeepsContentRejectsOldPasswordAndTouchesNoFile() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("old"), kdf: testKDF)
        let data = pseudoRandomBytes(100_000, seed: 5)
        let e = try v.importBytes(data, as: "rec.wav", scratch: dir)
        let before = readFile(e.backingPath)
        let opened = try Vault.open(at: p, password: secret("old"))
        try opened.changePassword(to: secret("new"))
        #expect(readFile(e.backingPath) == before)  // content not re-encrypted
        #expect(throws: SottoError.wrongPassword) { try Vault.open(at: p, password: secret("old")) }
        let reopened = try Vault.open(at: p, password: secret("new"))
        #expect(try reopened.readAll(try reopened.resolve("/rec.wav")) == data)
        // The previous config is kept as a backup and still opens with the old password.
        let bak = try VaultConfig.parse(readFile(p + "/sotto.conf.bak"))
        #expect(try bak.unwrapMasterKey(password: secret("old")) != nil)
        #expect(!FileSystem.exists(p + "/sotto.conf.tmp"))
    }

    /// A config is the attacker's to write: it may ask for an unlock that takes half an hour.
    /// Refused as damage before any KDF runs, with the budget named; `init` cannot write one either.
    @Test func aConfigAskingForTooMuchKDFWorkIsRefusedUnrun() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        let good = readFile(p + "/sotto.conf")
        var config = try VaultConfig.parse(good)
        let huge = Argon2idParameters(memoryKiB: 4 << 20, iterations: 64, parallelism: 4)  // each within the per-slot bounds
        #expect(huge.isWithinBounds)
        config.slots = (0..<8).map { i in
            VaultConfig.Slot(index: i, kdf: huge, salt: [UInt8](repeating: UInt8(i), count: 16), wrappedMasterKey: config.slots[0].wrappedMasterKey)
        }
        config.checksum = try Digest.sha256(config.canonicalBytes)  // anyone can recompute the unkeyed checksum
        writeFile(p + "/sotto.conf", config.serialized())
        let started = Date()
        do { _ = try Vault.open(at: p, password: secret("pw")); Issue.record("a config of 8 × 4 GiB × 64 passes was accepted") } catch let e as SottoError {
            guard case .configDamaged(_, let detail) = e else { Issue.record("got \(e)"); return }
            #expect(detail.contains("GiB·passes"), "\(detail)")
        }
        #expect(Date().timeIntervalSince(started) < 60)  // a guard against running the KDF, not a speed test
        writeFile(p + "/sotto.conf", good)
        // Nor can a vault be made or given a slot beyond the budget.
        let v = try Vault.open(at: p, password: secret("pw"))
        #expect(throws: SottoError.self) { try v.addSlot(password: secret("second"), kdf: huge) }
        #expect(try Vault.open(at: p, password: secret("pw")).config.slots.count == 1)
    }

    /// Every slot is tried until one opens *and* its key authenticates the config: a slot someone
    /// added that opens with the same password to another key neither wins nor reads as a wrong
    /// password; the config is reported as modified (and the backup named).
    @Test func aCraftedSlotThatOpensToAnotherKeyDoesNotDecide() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("pw"), kdf: testKDF)
        var config = v.config
        let junk = try SecretBytes.random(count: VaultKeys.masterKeySize)
        var crafted = try VaultConfig.makeSlot(index: 0, masterKey: junk, password: secret("pw"), kdf: testKDF, vaultID: config.vaultID)
        config.slots[0].index = 1
        config.slots[0] = try VaultConfig.makeSlot(index: 1, masterKey: v.masterKey, password: secret("pw"), kdf: testKDF, vaultID: config.vaultID)
        crafted.index = 0
        config.slots.insert(crafted, at: 0)  // the crafted one first: the old rule took it
        config.checksum = try Digest.sha256(config.canonicalBytes)
        // The real key authenticates the config here (as if the attacker had it sealed): slot 1 must win.
        try config.seal(keys: v.keys)
        writeFile(p + "/sotto.conf", config.serialized())
        #expect(try Vault.open(at: p, password: secret("pw")).unlockedSlot == 1)
        // Unsealed (what an attacker without the key can write): damage, not "wrong password".
        config.mac = [UInt8](repeating: 0, count: 32)
        writeFile(p + "/sotto.conf", config.serialized())
        do { _ = try Vault.open(at: p, password: secret("pw")); Issue.record("accepted") } catch let e as SottoError {
            guard case .configDamaged = e else { Issue.record("got \(e)"); return }
        }
    }
}
