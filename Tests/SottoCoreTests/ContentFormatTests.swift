import Foundation
import Testing
@testable import SottoCore

@Suite struct ContentLayoutTests {
    @Test(arguments: ContentLayout.allowedBlockSizes)
    func sizeFormulaRoundTripsAndRejectsBoundaryCuts(blockSize: Int) {
        let l = ContentLayout(blockSize: blockSize)
        for p in [0, 1, blockSize - 1, blockSize, blockSize + 1, 3 * blockSize, 3 * blockSize + 7, 1 << 30] {
            let c = l.ciphertextSize(plaintextSize: p)
            #expect(l.plaintextSize(ciphertextSize: c) == p)
            // Cutting a file at any block boundary gives a size no valid file has.
            let blocks = l.blockCount(plaintextSize: p)
            for cut in 0..<blocks {
                #expect(l.plaintextSize(ciphertextSize: l.cipherOffset(ofBlock: cut)) == nil)
            }
        }
        #expect(l.plaintextSize(ciphertextSize: 0) == nil)
        #expect(l.plaintextSize(ciphertextSize: FileHeader.size + 27) == nil)
        #expect(l.plaintextSize(ciphertextSize: FileHeader.size + 28) == 0)
        // A multiple of the block size ends with an empty last block.
        #expect(l.ciphertextSize(plaintextSize: blockSize) == FileHeader.size + blockSize + 2 * AESGCM.overhead)
    }

    /// The largest file: its ciphertext size fits in off_t (computing it does not trap) and
    /// round-trips; one byte more would not fit.
    @Test(arguments: ContentLayout.allowedBlockSizes)
    func largestPlaintextSizeIsTheLastWhoseCiphertextFits(blockSize: Int) {
        let l = ContentLayout(blockSize: blockSize)
        let m = l.maxPlaintextSize
        let c = l.ciphertextSize(plaintextSize: m)
        #expect(l.plaintextSize(ciphertextSize: c) == m)
        func wideCiphertextSize(_ p: Int128) -> Int128 {
            Int128(FileHeader.size) + p + Int128(AESGCM.overhead) * (p / Int128(blockSize) + 1)
        }
        #expect(wideCiphertextSize(Int128(m)) <= Int128(Int.max))
        #expect(wideCiphertextSize(Int128(m) + 1) > Int128(Int.max))
    }
}

@Suite struct ContentRoundTripTests {
    let B = Vault.defaultBlockSize

    @Test func roundTripsAtBlockEdges() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        for size in [0, 1, B - 1, B, B + 1, 2 * B, 17 * B + 5, 40 * B] {
            let data = pseudoRandomBytes(size, seed: UInt64(size))
            let e = try v.importBytes(data, as: "f\(size)", scratch: dir)
            #expect(Int(e.info.st_size) == v.layout.ciphertextSize(plaintextSize: size))
            #expect(v.plaintextSize(of: e) == size)
            #expect(try v.readAll(e) == data)
        }
    }

    @Test(arguments: [4096, 65536])
    func roundTripsWithOtherBlockSizes(blockSize: Int) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF, blockSize: blockSize)
        for size in [0, blockSize - 1, blockSize, blockSize * 20 + 1] {
            let data = pseudoRandomBytes(size, seed: 7)
            #expect(try v.readAll(try v.importBytes(data, as: "f\(size)", scratch: dir)) == data)
        }
    }

    @Test func sameContentTwiceGivesDifferentCiphertext() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let data = pseudoRandomBytes(3 * B, seed: 1)
        let a = readFile(try v.importBytes(data, as: "a", scratch: dir).backingPath)
        let b = readFile(try v.importBytes(data, as: "b", scratch: dir).backingPath)
        #expect(a.count == b.count)
        #expect(a != b)
        #expect(a[2..<18] != b[2..<18])  // file IDs differ
    }
}

/// Every tamper case of the format must fail authentication: never wrong bytes.
@Suite struct TamperTests {
    let B = Vault.defaultBlockSize

    struct Setup {
        let dir: TempDir
        let vault: Vault
        let victim: VaultEntry
        let other: VaultEntry
        let data: [UInt8]
    }

    func setup() throws -> Setup {
        let dir = TempDir()
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let data = pseudoRandomBytes(3 * B + 100, seed: 42)
        let victim = try v.importBytes(data, as: "victim.txt", scratch: dir)
        let other = try v.importBytes(pseudoRandomBytes(3 * B + 100, seed: 43), as: "other.txt", scratch: dir)
        return Setup(dir: dir, vault: v, victim: victim, other: other, data: data)
    }

    /// Applies `change` to the victim's backing bytes and expects an integrity error that names
    /// the file, with no byte of the damaged part handed out.
    func expectDetected(_ s: Setup, _ what: Comment, change: (inout [UInt8]) -> Void) throws {
        var bytes = readFile(s.victim.backingPath)
        change(&bytes)
        writeFile(s.victim.backingPath, bytes)
        let entry = try s.vault.resolve("/victim.txt")
        var delivered = [UInt8]()
        do {
            try s.vault.readFile(entry) { delivered.append(contentsOf: $0) }
            Issue.record("tampering not detected: \(what)")
        } catch let SottoError.integrity(path, backing, _) {
            #expect(path == "/victim.txt")
            #expect(backing == entry.backingPath)
        }
        // What was handed out before the failure is an authenticated prefix of the original.
        #expect(delivered == Array(s.data.prefix(delivered.count)), "\(what)")
    }

    var blockStart: (Int) -> Int { { FileHeader.size + $0 * (B + AESGCM.overhead) } }

    @Test func bitFlipsAnywhereAreDetected() throws {
        let positions = [0, 1, 5, 20, 40, 70, 77, FileHeader.size, FileHeader.size + 12, FileHeader.size + 500,
                         FileHeader.size + B + 27, blockStart(1) + 100, blockStart(3) + 5]
        for pos in positions {
            let s = try setup(); defer { s.dir.cleanup() }
            try expectDetected(s, "bit flip at \(pos)") { $0[pos] ^= 0x01 }
        }
        let s = try setup(); defer { s.dir.cleanup() }
        try expectDetected(s, "bit flip in final tag") { $0[$0.count - 1] ^= 0x80 }
    }

    @Test func reorderedBlocksAreDetected() throws {
        let s = try setup(); defer { s.dir.cleanup() }
        try expectDetected(s, "blocks 0 and 1 swapped") { b in
            let cb = B + AESGCM.overhead
            let b0 = Array(b[blockStart(0)..<blockStart(0) + cb]), b1 = Array(b[blockStart(1)..<blockStart(1) + cb])
            b.replaceSubrange(blockStart(0)..<blockStart(0) + cb, with: b1)
            b.replaceSubrange(blockStart(1)..<blockStart(1) + cb, with: b0)
        }
    }

    @Test func blockMovedFromAnotherFileIsDetected() throws {
        let s = try setup(); defer { s.dir.cleanup() }
        let foreign = readFile(s.other.backingPath)
        try expectDetected(s, "block 1 taken from another file") { b in
            let r = blockStart(1)..<blockStart(2)
            b.replaceSubrange(r, with: foreign[r])
        }
    }

    @Test func headerFromAnotherFileIsDetected() throws {
        let s = try setup(); defer { s.dir.cleanup() }
        let foreign = readFile(s.other.backingPath)
        try expectDetected(s, "header replaced") { b in b.replaceSubrange(0..<FileHeader.size, with: foreign[0..<FileHeader.size]) }
    }

    @Test func truncationAtEveryBlockBoundaryIsDetected() throws {
        for cut in 0...3 {
            let s = try setup(); defer { s.dir.cleanup() }
            try expectDetected(s, "cut at block boundary \(cut)") { b in b.removeSubrange(blockStart(cut)...) }
        }
    }

    @Test func cutShortAtABoundaryWithAForgedShortTail() throws {
        // Keep blocks 0..1 and re-append block 2 cut to a plausible short length: a valid-looking
        // size whose last block was sealed as not-last.
        let s = try setup(); defer { s.dir.cleanup() }
        try expectDetected(s, "cut inside a full block") { b in b.removeSubrange((blockStart(2) + 500)...) }
        let s2 = try setup(); defer { s2.dir.cleanup() }
        try expectDetected(s2, "cut exactly at the full block before a short last one") { b in b.removeSubrange(blockStart(3)...) }
    }

    @Test func truncationBetweenBoundariesAndExtensionAreDetected() throws {
        for change: (inout [UInt8]) -> Void in [{ $0.removeLast(1) }, { $0.removeLast(50) }, { $0.append(0) },
                                                { $0 += [UInt8](repeating: 0, count: 16384 + 28) }, { $0.removeSubrange(10...) }] {
            let s = try setup(); defer { s.dir.cleanup() }
            try expectDetected(s, "size change", change: change)
        }
    }

    @Test func zeroedBlockIsNotTakenForAHole() throws {
        let s = try setup(); defer { s.dir.cleanup() }
        try expectDetected(s, "block 1 zeroed") { b in
            b.replaceSubrange(blockStart(1)..<blockStart(2), with: [UInt8](repeating: 0, count: B + AESGCM.overhead))
        }
    }

    @Test func emptyFileTruncatedToHeaderIsDetected() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let e = try v.importBytes([], as: "empty", scratch: dir)
        #expect(try v.readAll(e) == [])
        let bytes = readFile(e.backingPath)
        writeFile(e.backingPath, Array(bytes[0..<FileHeader.size]))
        #expect(throws: SottoError.self) { try v.readAll(try v.resolve("/empty")) }
    }

    @Test func symlinkTargetTamperIsDetected() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        try v.createSymlink(Array("l".utf8), in: v.root, target: Array("../secret/target".utf8))
        let e = try v.resolve("/l")
        #expect(try v.readSymlink(e) == Array("../secret/target".utf8))
        #expect(v.plaintextSize(of: e) == "../secret/target".utf8.count)
        var stored = try FileSystem.readlink(Array(e.backingPath.utf8))
        stored[stored.count / 2] = stored[stored.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try FileSystem.unlink(e.backingPath)
        try FileSystem.symlink(target: stored, at: Array(e.backingPath.utf8))
        #expect(throws: SottoError.self) { try v.readSymlink(try v.resolve("/l")) }
    }
}
