import Foundation
import Testing
@testable import SottoCore

/// Key slot labels (format 5, docs/format.md §3.2): set at creation or later, kept by passwd and
/// rekey, covered by the checksum and the MAC, held to the same rules when read as when written.
@Suite struct SlotLabelTests {
    func slots(_ path: String) throws -> [Int: String] {
        Dictionary(uniqueKeysWithValues: try Vault.readConfig(at: path).slots.map { ($0.index, $0.label) })
    }

    @Test func labelsAreSetKeptAndCleared() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("pw"), kdf: testKDF, label: "laptop")
        #expect(v.config.version == VaultConfig.newVaultVersion && v.config.carriesLabels)
        try v.addSlot(password: secret("other"), kdf: testKDF, label: "Büro — Schreibtisch")
        try v.addSlot(password: secret("third"), kdf: testKDF)
        #expect(try slots(p) == [0: "laptop", 1: "Büro — Schreibtisch", 2: ""])
        // The label is in the canonical bytes, so the checksum and the MAC cover it.
        #expect(String(decoding: v.config.canonicalBytes, as: UTF8.self).contains(" label=\(Hex.encode(Array("laptop".utf8)))\n"))
        #expect(try VaultConfig.parse(readFile(p + "/sotto.conf")) == v.config)

        // Another slot's label is taken; the rules are the reading rules.
        #expect(throws: SottoError.self) { try v.addSlot(password: secret("x"), kdf: testKDF, label: "laptop") }
        #expect(throws: SottoError.self) { try v.setLabel("evil\u{1B}[2J", slot: 2) }
        #expect(throws: SottoError.self) { try v.setLabel("x", slot: 5) }
        try v.setLabel("recovery in the safe", slot: 2)
        try v.setLabel("", slot: 1)
        #expect(try slots(p) == [0: "laptop", 1: "", 2: "recovery in the safe"])

        // passwd rewraps the slot and keeps its label; rekey keeps the kept slots' labels.
        let other = try Vault.open(at: p, password: secret("third"))
        try other.changePassword(to: secret("third, changed"))
        #expect(try slots(p)[2] == "recovery in the safe")
        let rekeying = try Rekeying.begin(at: p, password: secret("pw")) { s in s.index == 2 ? secret("third, changed") : nil }
        #expect(try Vault.readConfig(at: p).rekey?.newSlots.map(\.label) == ["laptop", "recovery in the safe"])
        _ = try rekeying.run()
        let after = try Vault.open(at: p, password: secret("third, changed"))
        #expect(after.config.version == VaultConfig.newVaultVersion && after.config.rekey == nil)
        #expect(try slots(p) == [0: "laptop", 2: "recovery in the safe"])
    }

    /// Someone who can write the vault directory but has no password: a relabelled slot (the
    /// unkeyed checksum fixed up) still reads, so `key list` without --verify shows it, but no
    /// unlock accepts it; one with the checksum left alone is damage before any KDF runs.
    @Test func aSwappedLabelFailsTheMAC() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("pw"), kdf: testKDF, label: "recovery key")
        try v.addSlot(password: secret("old laptop pw"), kdf: testKDF, label: "old laptop")
        let good = readFile(p + "/sotto.conf")
        var swapped = v.config
        (swapped.slots[0].label, swapped.slots[1].label) = (swapped.slots[1].label, swapped.slots[0].label)
        writeFile(p + "/sotto.conf", swapped.serialized())
        #expect { try Vault.readConfig(at: p) } throws: { e in
            guard case SottoError.configDamaged(_, let d) = e else { return false }
            return d.contains("checksum")
        }
        swapped.checksum = try Digest.sha256(swapped.canonicalBytes)
        writeFile(p + "/sotto.conf", swapped.serialized())
        #expect(try slots(p) == [0: "old laptop", 1: "recovery key"])
        for pw in ["pw", "old laptop pw"] {
            #expect { try Vault.open(at: p, password: secret(pw)) } throws: { e in
                guard case SottoError.configDamaged(_, let d) = e else { return false }
                return d.contains("MAC")
            }
        }
        writeFile(p + "/sotto.conf", good)
        #expect(try Vault.open(at: p, password: secret("pw")).config.slots.map(\.label) == ["recovery key", "old laptop"])
    }

    /// A label is printed to terminals and compared by people: escape codes, bidi overrides,
    /// zero-width characters, line breaks, runaway length and a non-string are damage when read,
    /// even with the checksum fixed up.
    @Test func hostileLabelsAreRefusedWhenRead() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let p = dir.file("v")
        let v = try Vault.create(at: p, password: secret("pw"), kdf: testKDF, label: "laptop")
        let hostile: [Any] = ["a\u{1B}]0;title\u{07}", "evil\u{202E}txt.exe", "lap\u{200B}top", "two\nlines", "tab\there",
                              String(repeating: "x", count: SlotLabel.maxCharacters + 1), " padded", "padded ", 42]
        for bad in hostile {
            var c = v.config
            var json = try JSONSerialization.jsonObject(with: Data(c.serialized())) as! [String: Any]
            var raw = json["slots"] as! [[String: Any]]
            raw[0]["label"] = bad
            json["slots"] = raw
            if let text = bad as? String {  // fix the checksum up, as an attacker would
                c.slots[0].label = text
                json["checksum"] = Hex.encode(try Digest.sha256(c.canonicalBytes))
                #expect(SlotLabel.problem(text) != nil, "\(text.debugDescription)")
            }
            writeFile(p + "/sotto.conf", [UInt8](try JSONSerialization.data(withJSONObject: json)))
            #expect(throws: SottoError.self, "\(bad)") { try Vault.readConfig(at: p) }
        }
        #expect(SlotLabel.problem(String(repeating: "ü", count: SlotLabel.maxCharacters)) == nil)
        #expect(SlotLabel.problem("office \"safe\" \\ drawer 2") == nil)
        #expect(SlotLabel.jsonString("a\"b\\c") == #""a\"b\\c""#)
    }

    /// Labels come with version 5. In a version-3 config a `label` field is an unknown field
    /// (ignored, not shown: nothing authenticates it); labelling a slot there moves the vault to
    /// 5, config only. Version 1 has no labelled successor but `sotto upgrade`'s.
    @Test func olderVersionsGetLabelsOnlyByMovingTo5() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        for version in [1, 3] {
            let p = dir.file("v\(version)")
            try FileManager.default.copyItem(atPath: FixtureTests.fixtures + "/vault-v\(version)", toPath: p)
            let manifest = try JSONSerialization.jsonObject(with: Data(readFile(FixtureTests.fixtures + "/vault-v\(version).json"))) as! [String: Any]
            let password = secret(manifest["password"] as! String)
            let original = readFile(p + "/sotto.conf")
            var json = try JSONSerialization.jsonObject(with: Data(original)) as! [String: Any]
            var raw = json["slots"] as! [[String: Any]]
            raw[0]["label"] = "planted"
            json["slots"] = raw
            writeFile(p + "/sotto.conf", [UInt8](try JSONSerialization.data(withJSONObject: json)))
            let v = try Vault.open(at: p, password: password)
            #expect(v.config.slots[0].label == "" && !v.config.carriesLabels)
            writeFile(p + "/sotto.conf", original)
            if version == 1 {
                #expect { try v.setLabel("laptop", slot: 0) } throws: { e in
                    guard case SottoError.invalidArgument(let m) = e else { return false }
                    return m.contains("sotto upgrade")
                }
                #expect(readFile(p + "/sotto.conf") == original)
            } else {
                try v.setLabel("laptop", slot: 0)
                let after = try Vault.open(at: p, password: password)
                #expect(after.config.version == 5 && after.config.slots[0].label == "laptop")
                #expect(Set(try FileManager.default.contentsOfDirectory(atPath: p))
                        == Set(try FileManager.default.contentsOfDirectory(atPath: FixtureTests.fixtures + "/vault-v3")).union(["sotto.conf.bak"]))
                for (plain, sha) in manifest["files"] as! [String: String] {
                    #expect(Hex.encode(try Digest.sha256(try after.readAll(try after.resolve(plain)))) == sha, "\(plain)")
                }
            }
        }
    }
}
