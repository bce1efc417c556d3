import Foundation
import Testing
@testable import SottoCore

@Suite struct NameTests {
    func cipher() throws -> NameCipher {
        NameCipher(keys: try VaultKeys(masterKey: SecretBytes(copying: [UInt8](repeating: 9, count: 32)), vaultID: [UInt8](repeating: 1, count: 16)))
    }

    @Test func roundTripsAndDependsOnTheDirectory() throws {
        let c = try cipher()
        let d1 = [UInt8](repeating: 1, count: 16), d2 = [UInt8](repeating: 2, count: 16)
        let name = Array("2026-11-25 therapy session.txt".utf8)
        let e1 = try c.encrypt(name, directoryID: d1)
        #expect(try c.encrypt(name, directoryID: d1) == e1)  // deterministic: lookups need no listing
        #expect(try c.encrypt(name, directoryID: d2) != e1)
        #expect(c.decrypt(e1, directoryID: d1) == name)
        #expect(c.decrypt(e1, directoryID: d2) == nil)        // moved to another directory: no name
        #expect(!e1.contains("therapy"))
        #expect(e1.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
    }

    @Test func unicodeNamesAreBytesNotNormalized() throws {
        let c = try cipher()
        let d = [UInt8](repeating: 1, count: 16)
        let nfc = Array("caf\u{00E9}.txt".utf8), nfd = Array("cafe\u{0301}.txt".utf8)
        #expect(nfc != nfd)
        let a = try c.encrypt(nfc, directoryID: d), b = try c.encrypt(nfd, directoryID: d)
        #expect(a != b)
        #expect(c.decrypt(a, directoryID: d) == nfc)
        #expect(c.decrypt(b, directoryID: d) == nfd)
        // Not even valid UTF-8 is a problem: Linux names are bytes.
        let raw: [UInt8] = [0xff, 0xfe, 0x41]
        #expect(c.decrypt(try c.encrypt(raw, directoryID: d), directoryID: d) == raw)
    }

    @Test func invalidNamesAreRejected() throws {
        let c = try cipher()
        let d = [UInt8](repeating: 1, count: 16)
        for bad in [[], [0x2E], [0x2E, 0x2E], Array("a/b".utf8), [0x61, 0x00]] as [[UInt8]] {
            #expect(throws: Errno.invalid) { try c.encrypt(bad, directoryID: d) }
        }
        #expect(throws: Errno.nameTooLong) { try c.encrypt([UInt8](repeating: 0x61, count: 256), directoryID: d) }
        #expect(try c.encrypt([UInt8](repeating: 0x61, count: 255), directoryID: d).utf8.count > 255)
    }

    @Test func base64urlIsStrict() {
        for n in 0..<40 {
            let bytes = pseudoRandomBytes(n, seed: UInt64(n))
            let e = Base64URL.encode(bytes)
            #expect(e.utf8.count == Base64URL.encodedLength(n))
            #expect(Base64URL.decode(e) == bytes)
        }
        #expect(Base64URL.decode("AB==") == nil)    // padding
        #expect(Base64URL.decode("AB+/") == nil)    // standard alphabet
        #expect(Base64URL.decode("AQ") == [0x01])
        #expect(Base64URL.decode("AB") == nil)      // non-zero trailing bits: a second spelling of "AA"
        #expect(Base64URL.decode("A") == nil)
    }

    @Test func backingNamesAreClassified() {
        #expect(BackingName(Array("sotto.conf".utf8)) == .config)
        #expect(BackingName(Array("sotto.dir.000102030405060708090a0b0c0d0e0f".utf8)) == .directoryID((0..<16).map { UInt8($0) }))
        #expect(BackingName(Array("sotto.dir.xyz".utf8)) == .foreign)
        #expect(BackingName(Array(".DS_Store".utf8)) == .foreign)
        #expect(BackingName(Array("desktop.ini".utf8)) == .foreign)
        #expect(BackingName(Array(".stfolder".utf8)) == .syncTool)
        #expect(BackingName(Array(".syncthing.VxM_BiQkRHRJjg8aafQO7I4dgu.tmp".utf8)) == .syncTool)
        #expect(BackingName(Array(".dropbox.cache".utf8)) == .syncTool)
        #expect(BackingName(Array("abc".utf8)) == .foreign)  // too short to be a sealed name
        let sealed = Base64URL.encode([UInt8](repeating: 7, count: 20))
        #expect(BackingName(Array(sealed.utf8)) == .encrypted(sealed))
        // Sync tools' conflict copies of an encrypted name; a marker on a name that is not ours stays foreign.
        #expect(BackingName(Array("\(sealed).sync-conflict-20261125-141200-ABCDEFG".utf8))
                == .conflict(ConflictCopy(original: sealed, suffix: ".sync-conflict-20261125-141200-ABCDEFG", label: "2026-11-25 1412")))
        #expect(BackingName(Array("\(sealed) (Ann's conflicted copy 2026-11-24)".utf8))
                == .conflict(ConflictCopy(original: sealed, suffix: " (Ann's conflicted copy 2026-11-24)", label: "2026-11-24")))
        #expect(BackingName(Array("\(sealed)..path2".utf8)) == .conflict(ConflictCopy(original: sealed, suffix: "..path2", label: "path2")))
        #expect(BackingName(Array("notes.sync-conflict-20261125-141200-ABCDEFG.txt".utf8)) == .foreign)
        #expect(BackingName(Array("\(sealed).sync-conflict-2026-11-25".utf8)) == .foreign)  // not Syncthing's shape
        #expect(BackingName(Array("\(sealed)..path3".utf8)) == .foreign)
    }

    @Test func conflictCopiesGetReadableNamesThatFit() {
        #expect(ConflictCopy.displayName(of: Array("interview.txt".utf8), label: "2026-11-25 1412") == Array("interview (conflict 2026-11-25 1412).txt".utf8))
        #expect(ConflictCopy.displayName(of: Array("Makefile".utf8), label: "path1") == Array("Makefile (conflict path1)".utf8))
        #expect(ConflictCopy.displayName(of: Array(".bashrc".utf8), label: "path1") == Array(".bashrc (conflict path1)".utf8))
        // At the name limit the stem is cut, never inside a UTF-8 character, and the extension kept.
        let long = Array(String(repeating: "é", count: 120).utf8) + Array(".wav".utf8)
        let shown = ConflictCopy.displayName(of: long, label: "2026-11-25 1412")
        #expect(shown.count <= PlainName.maxLength && String(validating: shown, as: UTF8.self)?.hasSuffix(" (conflict 2026-11-25 1412).wav") == true)
    }
}

@Suite struct TreeTests {
    @Test func longAndUnicodeNamesRoundTripThroughTheTree() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let names = ["short.txt", String(repeating: "x", count: 255), String(repeating: "ü", count: 125) + ".m4a",
                     "caf\u{00E9}", "cafe\u{0301}", "日本語の議事録.md", String(repeating: "長", count: 85)]
        for (i, n) in names.enumerated() { try v.importBytes(Array("content \(i)".utf8), as: n, scratch: dir) }
        let sub = try v.createDirectory(Array(String(repeating: "d", count: 200).utf8), in: v.root)
        try v.importBytes(Array("nested".utf8), as: "inner.txt", in: sub, scratch: dir)

        let (entries, skipped) = try v.list(v.root)
        #expect(skipped.isEmpty)
        #expect(Set(entries.map { $0.name }) == Set(names.map { Array($0.utf8) } + [Array(String(repeating: "d", count: 200).utf8)]))
        for (i, n) in names.enumerated() {
            #expect(try v.readAll(try v.resolve("/" + n)) == Array("content \(i)".utf8))
        }
        #expect(try v.readAll(try v.resolve("/" + String(repeating: "d", count: 200) + "/inner.txt")) == Array("nested".utf8))
        // Long names live in one container per entry; every backing name fits NAME_MAX.
        let raw = try FileSystem.listDirectory(v.path)
        #expect(raw.allSatisfy { $0.count <= 255 })
        #expect(raw.filter { String(decoding: $0, as: UTF8.self).hasPrefix("sotto.long.") }.count >= 3)
        #expect(throws: SottoError.exists(path: "/short.txt")) { try v.importBytes([1], as: "short.txt", scratch: dir) }
    }

    @Test func foreignAndDamagedNamesAreSkippedNotFatal() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        try v.importBytes(Array("keep".utf8), as: "keep.txt", scratch: dir)
        writeFile(v.path + "/.DS_Store", [1, 2, 3])
        writeFile(v.path + "/" + Base64URL.encode(pseudoRandomBytes(30, seed: 3)), [1])  // decrypts under no ID
        let keep = try v.resolve("/keep.txt")
        let conflict = keep.backingPath + ".sync-conflict-20261125-141200-ABCDEFG"
        writeFile(conflict, readFile(keep.backingPath))
        let (entries, skipped) = try v.list(v.root)
        // The conflict copy is shown under a readable name (and opens); the other two are skipped.
        #expect(entries.map { $0.name } == [Array("keep (conflict 2026-11-25 1412).txt".utf8), Array("keep.txt".utf8)])
        #expect(try v.readAll(try v.resolve("/keep (conflict 2026-11-25 1412).txt")) == Array("keep".utf8))
        #expect(skipped.count == 2)
    }

    /// Each side's `sotto.dirid` names its own ID; the sync tool keeps one of the two (`bWins`:
    /// B's), and the entry under the ID it names keeps a twin's name, in listings and lookups alike.
    @Test(arguments: [false, true]) func directoryCreatedOnTwoDevicesKeepsEveryName(bWins: Bool) throws {
        // Device A and B each create "/notes" offline with their own ID; a sync tool merges the two
        // backing directories (same encrypted name) into one holding both ID files.
        let dir = TempDir(); defer { dir.cleanup() }
        let pw = secret("pw")
        let a = try Vault.create(at: dir.file("a"), password: pw, kdf: testKDF)
        try FileManager.default.copyItem(atPath: a.path, toPath: dir.file("b"))
        let b = try Vault.open(at: dir.file("b"), password: pw)
        let na = try a.createDirectory(Array("notes".utf8), in: a.root)
        try a.importBytes(Array("from A".utf8), as: "a.txt", in: na, scratch: dir)
        let nb = try b.createDirectory(Array("notes".utf8), in: b.root)
        try b.importBytes(Array("from B".utf8), as: "b.txt", in: nb, scratch: dir)
        // Both also make "todo.txt" there, and a long name: twins under different IDs.
        try a.importBytes(Array("todo A".utf8), as: "todo.txt", in: na, scratch: dir)
        try b.importBytes(Array("todo B".utf8), as: "todo.txt", in: nb, scratch: dir)
        let long = String(repeating: "t", count: 200) + ".md"
        try a.importBytes(Array("long A".utf8), as: long, in: na, scratch: dir)
        try b.importBytes(Array("long B".utf8), as: long, in: nb, scratch: dir)
        #expect(na.backingPath.split(separator: "/").last == nb.backingPath.split(separator: "/").last)
        for name in try FileSystem.listDirectory(nb.backingPath) {  // the sync: B's files into A's directory
            let n = String(decoding: name, as: UTF8.self)
            if n == BackingName.primaryIDFile {
                guard bWins else { continue }
                try FileSystem.unlink(na.backingPath + "/" + n)
            }
            try FileManager.default.copyItem(atPath: nb.backingPath + "/" + n, toPath: na.backingPath + "/" + n)
        }
        let merged = try a.resolve("/notes")
        let ids = try a.directoryIDs(of: merged)
        #expect(ids.all.count == 2)
        let winner = bWins ? "B" : "A", loser = bWins ? "A" : "B"
        #expect(a.primaryDirectoryID(of: merged.backingPath) == ids.primary)
        // Every name once; each twin beyond the first is a readable conflict copy, and all open.
        let shown = try a.list(merged).entries.map { String(decoding: $0.name, as: UTF8.self) }
        let longCopy = String(repeating: "t", count: 200) + " (conflict copy 2).md"
        #expect(shown == ["a.txt", "b.txt", "todo (conflict copy 2).txt", "todo.txt", longCopy, long])
        #expect(try a.readAll(try a.resolve("/notes/b.txt")) == Array("from B".utf8))
        #expect(try a.readAll(try a.resolve("/notes/todo.txt")) == Array("todo \(winner)".utf8))
        #expect(try a.readAll(try a.resolve("/notes/todo (conflict copy 2).txt")) == Array("todo \(loser)".utf8))
        #expect(try a.readAll(try a.resolve("/notes/" + long)) == Array("long \(winner)".utf8))
        #expect(try a.readAll(try a.resolve("/notes/" + longCopy)) == Array("long \(loser)".utf8))
        // The mount's lookup, which reads only `sotto.dirid` for names under the primary ID, agrees.
        let mapper = PathMapper(vault: a)
        let todo = try #require(try mapper.lookup(Array("todo.txt".utf8), in: merged.backingPath))
        #expect(try a.readAll(VaultEntry(plainPath: "/notes/todo.txt", backingPath: todo.path, info: todo.info)) == Array("todo \(winner)".utf8))
        #expect(mapper.idListings == 0)
        let fromB = try #require(try mapper.lookup(Array("b.txt".utf8), in: merged.backingPath))
        #expect(try a.readAll(VaultEntry(plainPath: "/notes/b.txt", backingPath: fromB.path, info: fromB.info)) == Array("from B".utf8))
    }

    @Test func primaryIDFileIsClassifiedAndOrdersTheIDs() {
        #expect(BackingName(Array("sotto.dirid".utf8)) == .primaryID)
        // Where the tools put their markers: Syncthing and Dropbox before the extension (as a real
        // Syncthing merge produced it in test_sync.py), rclone bisync at the end.
        #expect(BackingName(Array("sotto.sync-conflict-20261126-061425-AVFHAGE.dirid".utf8)) == .primaryIDCopy)
        #expect(BackingName(Array("sotto (Laptop's conflicted copy 2026-11-26).dirid".utf8)) == .primaryIDCopy)
        #expect(BackingName(Array("sotto.dirid..path1".utf8)) == .primaryIDCopy)
        #expect(BackingName(Array("sotto.dirid.sync-conflict-20261126-101500-ABCDEFG".utf8)) == .primaryIDCopy)
        #expect(BackingName(Array("sotto.other.dirid".utf8)) == .foreign)
        #expect(BackingName(Array("sotto.diridx".utf8)) == .foreign)
        let low = [UInt8](repeating: 1, count: 16), mid = [UInt8](repeating: 5, count: 16), high = [UInt8](repeating: 9, count: 16)
        #expect(DirectoryIDs([high, low, mid])?.all == [low, mid, high])
        #expect(DirectoryIDs([high, low, mid], primary: mid)?.all == [mid, low, high])
        #expect(DirectoryIDs([high, low], primary: mid)?.all == [low, high])  // not one of them: ignored
        #expect(DirectoryIDs.parsePrimaryIDText(DirectoryIDs.primaryIDText(mid)) == mid)
        #expect(DirectoryIDs.parsePrimaryIDText([]) == nil)  // torn by a crash
        #expect(DirectoryIDs.parsePrimaryIDText(Array(String(repeating: "0", count: 31).utf8)) == nil)
        #expect(DirectoryIDs.parsePrimaryIDText(Array(String(repeating: "A", count: 32).utf8)) == nil)  // one spelling: lower case
    }

    @Test func missingDirectoryIDIsReportedAsDamage() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let d = try v.createDirectory(Array("d".utf8), in: v.root)
        for n in try FileSystem.listDirectory(d.backingPath) { try FileSystem.unlink(d.backingPath + "/" + String(decoding: n, as: UTF8.self)) }
        #expect(throws: SottoError.self) { try v.list(try v.resolve("/d")) }
    }
}
