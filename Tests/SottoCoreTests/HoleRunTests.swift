import Foundation
import Testing
@testable import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Sealed hole runs (docs/sparse-files.md): the marker, the reading rule, and every change that
/// makes or cuts a run, against a model, with the tamper cases of the threat model.
@Suite struct HoleRunTests {
    /// The marker against a vector computed with Python's `cryptography` (AESGCM over an empty
    /// plaintext with the 34-byte hole AAD), not with Sotto's code.
    @Test func markerMatchesAnIndependentVector() throws {
        let header = FileHeader(version: 1, fileID: Array(0x40..<0x50), fileKey: SecretBytes(copying: Array(0..<32)))
        let cipher = BlockCipher(header: header, layout: ContentLayout(blockSize: 16384))
        var marker = [UInt8](repeating: 0, count: HoleRun.markerSize)
        marker.replaceSubrange(0..<12, with: Array(0xA0..<0xAC))
        let gcm = try AESGCM()
        try marker.withUnsafeMutableBytes { try cipher.sealHoleMarker(start: 1026, end: 1030, into: $0, gcm: gcm) }
        #expect(Hex.encode(marker) == "a0a1a2a3a4a5a6a7a8a9aaab0000000000000402199b1100364ea384dce0f1de8a106d11")
        #expect(try marker.withUnsafeBytes { try cipher.openHoleMarker(at: 1030, $0, gcm: gcm) } == 1026)
        // Another position, another file, any changed byte: not this file's marker there.
        #expect(try marker.withUnsafeBytes { try cipher.openHoleMarker(at: 1031, $0, gcm: gcm) } == nil)
        let other = BlockCipher(header: FileHeader(version: 1, fileID: Array(0x41..<0x51), fileKey: SecretBytes(copying: Array(0..<32))),
                                layout: ContentLayout(blockSize: 16384))
        #expect(try marker.withUnsafeBytes { try other.openHoleMarker(at: 1030, $0, gcm: gcm) } == nil)
        for i in 0..<marker.count {
            var bad = marker
            bad[i] ^= 0x01
            #expect(try bad.withUnsafeBytes { try cipher.openHoleMarker(at: 1030, $0, gcm: gcm) } == nil, "byte \(i)")
        }
        // A start outside the marker's chunk, or after it, is refused before any GCM.
        var far = marker
        far.replaceSubrange(12..<20, with: [0, 0, 0, 0, 0, 0, 0, 5])
        #expect(try far.withUnsafeBytes { try cipher.openHoleMarker(at: 1030, $0, gcm: gcm) } == nil)
    }

    // MARK: A vault whose files may hold runs

    struct Fixture {
        let dir = TempDir()
        let vault: Vault
        let table: OpenFileTable
        let file: EncryptedFile
        let path: String
        var B: Int { vault.layout.blockSize }
        var CB: Int { vault.layout.cipherBlockSize }

        init(blockSize: Int = 4096, holes: Bool = true) throws {
            vault = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF, blockSize: blockSize)
            var c = vault.config
            c.version = holes ? VaultConfig.firstHoleVersion : VaultConfig.firstLabelVersion  // in memory
            vault.replaceConfig(c)
            path = vault.path + "/f"
            let fd = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
            try EncryptedFile.initialize(fd, keys: vault.keys, layout: vault.layout, gcm: AESGCM())
            fd.close()
            table = OpenFileTable(vault: vault, readOnly: false)
            file = try table.open(path, write: true)
        }

        func read(_ f: EncryptedFile? = nil) throws -> [UInt8] {
            let f = f ?? file
            var out = [UInt8](repeating: 0xEE, count: f.size)
            let n = try out.withUnsafeMutableBytes { try f.read(into: $0, at: 0) }
            #expect(n == out.count)
            return out
        }

        /// Through a fresh state (no cached runs) and through the offline reader.
        func readFresh() throws -> [UInt8] {
            let fresh = OpenFileTable(vault: vault, readOnly: true)
            let f = try fresh.open(path, write: false)
            defer { fresh.release(f) }
            let viaMount = try read(f)
            var offline = [UInt8]()
            let fd = try FileDescriptor.open(path, flags: O_RDONLY)
            defer { fd.close() }
            try FileContent.decrypt(fd, keys: vault.keys, layout: vault.layout, holes: true) { offline += $0 }
            #expect(offline == viaMount)
            return viaMount
        }

        func allocated() throws -> Int { Int(try FileDescriptor.open(path, flags: O_RDONLY).withClose { try $0.stat().st_blocks }) * 512 }

        func storedBlock(_ i: Int) throws -> [UInt8] {
            let fd = try FileDescriptor.open(path, flags: O_RDONLY)
            defer { fd.close() }
            return try fd.readBytes(CB, at: vault.layout.cipherOffset(ofBlock: i))
        }

        func overwrite(_ i: Int, with bytes: [UInt8]) throws {
            let fd = try FileDescriptor.open(path, flags: O_WRONLY)
            defer { fd.close() }
            try fd.writeAll(bytes, at: vault.layout.cipherOffset(ofBlock: i))
        }

        func cleanup() { table.release(file); dir.cleanup() }
    }

    /// A 3-chunk file grown by truncate takes almost no disk, reads as zeros, and keeps reading
    /// back after data is written into the middle of a run, at a chunk edge and next to the end.
    @Test func growingMakesRunsAndWritesSplitThem() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let chunk = HoleRun.chunkBlocks * f.B  // 4 MiB at 4 KiB blocks
        try [UInt8](repeating: 7, count: 100).withUnsafeBytes { try f.file.write($0, at: 0) }
        try f.file.truncate(to: 3 * chunk + 123)
        let used = try f.allocated()
        #expect(used < 64 * 1024, "a 12 MiB hole took \(used) bytes")
        var model = [UInt8](repeating: 7, count: 100) + [UInt8](repeating: 0, count: 3 * chunk + 123 - 100)
        #expect(try f.readFresh() == model)
        for (offset, count) in [(chunk / 2 + 5, 3 * f.B), (chunk - 10, 20), (2 * chunk, f.B), (3 * chunk - f.B + 1, f.B), (f.B * 7, 1)] {
            let data = pseudoRandomBytes(count, seed: UInt64(offset))
            try data.withUnsafeBytes { try f.file.write($0, at: offset) }
            model.replaceSubrange(offset..<(offset + count), with: data)
            #expect(try f.read() == model, "after writing \(count) at \(offset)")
            #expect(try f.readFresh() == model, "fresh, after writing \(count) at \(offset)")
        }
    }

    /// fsx-style: seeded writes, truncates, punches, zero-ranges and reads across three chunks,
    /// against a model; every 25 operations a fresh state and the offline reader read it all.
    @Test(arguments: Array(UInt64(1)...UInt64(4))) func randomChangesMatchTheModel(seed: UInt64) throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let chunk = HoleRun.chunkBlocks * f.B
        let maxSize = 2 * chunk + chunk / 2
        var model = [UInt8]()
        var state = seed &* 0x9E3779B97F4A7C15
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(max(n, 1))) }
        // Offsets near block and chunk edges, where the runs' rules change.
        func offset() -> Int {
            let edges = [0, f.B, chunk - f.B, chunk, chunk + f.B, 2 * chunk, model.count]
            return next(3) == 0 ? max(0, min(maxSize, edges[next(edges.count)] + next(2 * f.B) - f.B)) : next(maxSize)
        }
        var log: [String] = []
        for op in 0..<400 {
            switch next(12) {
            case 0...3:
                let at = offset(), count = 1 + next(next(4) == 0 ? 40 * f.B : 3 * f.B)
                let data = pseudoRandomBytes(count, seed: UInt64(op) ^ seed)
                log.append("write \(count) at \(at) size \(model.count)")
                try data.withUnsafeBytes { try f.file.write($0, at: at) }
                if model.count < at + count { model += [UInt8](repeating: 0, count: at + count - model.count) }
                model.replaceSubrange(at..<(at + count), with: data)
            case 4...5:
                let size = offset()
                log.append("truncate \(size) from \(model.count)")
                try f.file.truncate(to: size)
                if size < model.count { model.removeSubrange(size...) } else { model += [UInt8](repeating: 0, count: size - model.count) }
            case 6...7:
                let at = offset(), length = 1 + next(next(2) == 0 ? chunk : 20 * f.B)
                log.append("punch \(length) at \(at) size \(model.count)")
                try f.file.punchHole(offset: at, length: length)
                if at < model.count {
                    let end = min(model.count, at + length)
                    model.replaceSubrange(at..<end, with: [UInt8](repeating: 0, count: end - at))
                }
            case 8:
                let at = offset(), length = 1 + next(30 * f.B)
                let keep = next(2) == 0
                log.append("zero-range \(length) at \(at) keep \(keep) size \(model.count)")
                try f.file.allocate(offset: at, length: length, keepSize: keep, zeroing: true)
                let end = at + length
                if end > model.count && f.file.size == end { model += [UInt8](repeating: 0, count: end - model.count) }
                let zeroEnd = min(model.count, end)
                if at < zeroEnd { model.replaceSubrange(at..<zeroEnd, with: [UInt8](repeating: 0, count: zeroEnd - at)) }
            default:
                let at = offset(), length = next(5 * f.B)
                var buf = [UInt8](repeating: 0xEE, count: length)
                let n = try buf.withUnsafeMutableBytes { try f.file.read(into: $0, at: at) }
                let want = max(0, min(length, model.count - at))
                #expect(n == want && buf[0..<n] == model[min(at, model.count)..<(min(at, model.count) + want)], "op \(op): read \(length) at \(at)")
            }
            #expect(f.file.size == model.count, "op \(op)")
            if op % 25 == 24 { #expect(try f.readFresh() == model, "op \(op), after \(log.suffix(3))") }
        }
        #expect(try f.readFresh() == model)
    }

    /// Punching (and zero-range) frees whole blocks, rewrites partial ones, never the final one.
    @Test func punchingFreesWholeBlocksAndReadsAsZeros() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let size = 3 * HoleRun.chunkBlocks * f.B / 2 + 777  // one and a half chunks
        var model = pseudoRandomBytes(size, seed: 1)
        try model.withUnsafeBytes { try f.file.write($0, at: 0) }
        let before = try f.allocated()
        for (offset, length) in [(f.B * 10 + 5, f.B * 300), (HoleRun.chunkBlocks * f.B - 3 * f.B, 6 * f.B), (size - 100, 1000), (0, 1)] {
            try f.file.punchHole(offset: offset, length: length)
            let end = min(size, offset + length)
            model.replaceSubrange(offset..<end, with: [UInt8](repeating: 0, count: end - offset))
            #expect(try f.read() == model)
            #expect(try f.readFresh() == model)
        }
        let after = try f.allocated()
        #expect(after < before - 290 * f.B, "freed \(before - after) bytes")
        try f.file.allocate(offset: f.B * 400, length: f.B * 50 + 3, keepSize: true, zeroing: true)
        model.replaceSubrange((f.B * 400)..<(f.B * 450 + 3), with: [UInt8](repeating: 0, count: f.B * 50 + 3))
        #expect(try f.readFresh() == model)
        // Punching over a run again, and writing back over all of it.
        try f.file.punchHole(offset: 0, length: size)
        #expect(try f.readFresh() == [UInt8](repeating: 0, count: size))
        try model.withUnsafeBytes { try f.file.write($0, at: 0) }
        #expect(try f.readFresh() == model)
    }

    /// Shrinking into a run keeps its front part covered.
    @Test func shrinkingIntoARunKeepsItsFront() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        try f.file.truncate(to: 200 * f.B)
        try f.file.truncate(to: 50 * f.B + 9)
        #expect(try f.readFresh() == [UInt8](repeating: 0, count: 50 * f.B + 9))
        try f.file.truncate(to: 50 * f.B)
        #expect(try f.readFresh() == [UInt8](repeating: 0, count: 50 * f.B))
    }

    /// What someone who can write the vault directory can do to a file with runs: zeroing a data
    /// block, a marker, or moving a marker is damage; a copy that writes the holes out as zeros
    /// (rclone) or punches every zero range (`cp --sparse=always`) reads the same.
    @Test func tamperingWithRunsIsDamageAndCopiesReadTheSame() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let data = pseudoRandomBytes(10 * f.B, seed: 9)
        try data.withUnsafeBytes { try f.file.write($0, at: 0) }
        try f.file.truncate(to: 40 * f.B)  // blocks 10...39 a run, marker in 39, final block 40
        let model = data + [UInt8](repeating: 0, count: 30 * f.B)
        #expect(try f.readFresh() == model)
        #expect(try f.storedBlock(39).withUnsafeBytes { HoleRun.kind(of: $0) } == .marker)
        func expectDamage(_ what: Comment) {
            #expect(throws: (any Error).self, what) { _ = try f.readFresh() }
        }
        let zeros = [UInt8](repeating: 0, count: f.CB)
        let dataBlock = try f.storedBlock(3), marker = try f.storedBlock(39)
        try f.overwrite(3, with: zeros); expectDamage("a data block zeroed")
        try f.overwrite(3, with: dataBlock)
        try f.overwrite(39, with: zeros); expectDamage("the marker zeroed")
        try f.overwrite(38, with: marker); expectDamage("the marker moved one block back")
        try f.overwrite(38, with: zeros); try f.overwrite(39, with: marker)
        // A data block inside the run (written by someone without the key): damage.
        try f.overwrite(20, with: dataBlock); expectDamage("a data block copied into the run")
        try f.overwrite(20, with: zeros)
        #expect(try f.readFresh() == model)

        // Dense copy (holes written out as zeros), then every zero range punched.
        let whole = try FileDescriptor.open(f.path, flags: O_RDONLY).withClose { try $0.readBytes(Int(try $0.stat().st_size), at: 0) }
        try FileManager.default.removeItem(atPath: f.path)
        let dense = try FileDescriptor.open(f.path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        try dense.writeAll(whole, at: 0)
        dense.close()
        #expect(try f.readFresh() == model)
        let fd = try FileDescriptor.open(f.path, flags: O_RDWR)
        defer { fd.close() }
        for page in stride(from: 0, to: whole.count, by: 4096) where whole[page..<min(whole.count, page + 4096)].allSatisfy({ $0 == 0 }) {
            try fd.punchHole(offset: page, length: 4096)
        }
        #expect(try f.readFresh() == model)
    }

    /// The crash states of each change, taken apart: a left marker written before the data (old
    /// content reads), a run zeroed before its marker (EIO, never zeros), two markers over one run.
    @Test func everyIntermediateStateReadsOldNewOrDamage() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        try f.file.truncate(to: 20 * f.B)  // run 0...19, final 20
        // Filling block 7: its left marker [0, 6] at 6, its right [8, 19] rewritten; until the
        // data lands, block 7 is zeros and uncovered, so the file reads as damage there.
        try f.file.codecs.with { s in
            let c = BlockCipher(header: try f.file.headerForAttributes(s.gcm), layout: f.vault.layout)
            try f.file.writeMarker(start: 0, end: 6, cipher: c, gcm: s.gcm)
        }
        #expect(try f.readFresh() == [UInt8](repeating: 0, count: 20 * f.B))  // two markers, one run: still zeros
        try f.file.codecs.with { s in
            let c = BlockCipher(header: try f.file.headerForAttributes(s.gcm), layout: f.vault.layout)
            try f.file.writeMarker(start: 8, end: 19, cipher: c, gcm: s.gcm)
        }
        #expect(throws: (any Error).self) { _ = try f.readFresh() }  // block 7: zeros no marker covers
        let data = pseudoRandomBytes(f.B, seed: 3)
        try data.withUnsafeBytes { try f.file.write($0, at: 7 * f.B) }
        var model = [UInt8](repeating: 0, count: 20 * f.B)
        model.replaceSubrange((7 * f.B)..<(8 * f.B), with: data)
        #expect(try f.readFresh() == model)
    }

    /// SEEK_DATA and SEEK_HOLE in plaintext: runs are holes, the end of the file is one.
    @Test func seekFindsDataAndHoles() throws {
        let f = try Fixture()
        defer { f.cleanup() }
        let B = f.B
        try pseudoRandomBytes(10 * B, seed: 4).withUnsafeBytes { try f.file.write($0, at: 0) }
        try f.file.truncate(to: 40 * B + 100)  // data 0..<10B, run 10...39, final block 40 (100 bytes)
        try pseudoRandomBytes(B, seed: 5).withUnsafeBytes { try f.file.write($0, at: 20 * B) }  // runs 10...19, 21...39
        let size = 40 * B + 100
        func seek(_ offset: Int, data: Bool) -> Int? { try? f.file.seek(from: offset, data: data) }
        #expect(seek(0, data: true) == 0 && seek(5, data: true) == 5)
        #expect(seek(0, data: false) == 10 * B && seek(12 * B + 3, data: false) == 12 * B + 3)
        #expect(seek(10 * B, data: true) == 20 * B && seek(20 * B + 7, data: false) == 21 * B)
        #expect(seek(21 * B, data: true) == 40 * B && seek(40 * B + 1, data: false) == size)
        #expect(seek(size, data: true) == nil && seek(size, data: false) == nil)  // ENXIO at the end
        try f.file.truncate(to: 40 * B)  // the final block now holds nothing: no data after the run
        #expect(seek(25 * B, data: true) == nil)
        let plain = try Fixture(holes: false)
        defer { plain.cleanup() }
        try plain.file.truncate(to: 3 * B)
        #expect(try plain.file.seek(from: B, data: true) == B && (try plain.file.seek(from: B, data: false)) == 3 * B)
    }

    /// A vault below format 7 treats nothing as a hole: a run-shaped file is damage, punching is
    /// refused, and growing writes sealed zeros as before.
    @Test func belowFormat7NothingIsAHole() throws {
        let f = try Fixture(holes: false)
        defer { f.cleanup() }
        #expect(throws: Errno(EOPNOTSUPP)) { try f.file.punchHole(offset: 0, length: 1) }
        try f.file.truncate(to: 64 * f.B)
        #expect(try f.allocated() >= 64 * f.CB)
        #expect(try f.storedBlock(10).withUnsafeBytes { HoleRun.kind(of: $0) } == .data)
    }
}

extension FileDescriptor {
    func withClose<R>(_ body: (FileDescriptor) throws -> R) rethrows -> R {
        defer { close() }
        return try body(self)
    }
}
