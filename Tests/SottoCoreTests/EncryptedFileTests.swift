import Foundation
import Testing
@testable import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// The random-access engine the mount uses, checked against an in-memory model.
@Suite struct EncryptedFileTests {
    func makeFile(_ v: Vault, _ dir: TempDir, _ name: String) throws -> (OpenFileTable, EncryptedFile, String) {
        let path = v.path + "/" + name  // backing files live in the vault: the table reaches nothing else
        let fd = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        try EncryptedFile.initialize(fd, keys: v.keys, layout: v.layout, gcm: AESGCM())
        fd.close()
        let table = OpenFileTable(vault: v, readOnly: false)
        return (table, try table.open(path, write: true), path)
    }

    func readAll(_ f: EncryptedFile) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: f.size)
        let n = try out.withUnsafeMutableBytes { try f.read(into: $0, at: 0) }
        #expect(n == out.count)
        return out
    }

    @Test(arguments: [4096, 16384])
    func randomOperationsMatchTheModel(blockSize: Int) throws {
        try checkAgainstModel(blockSize: blockSize, sizeBlocks: 6, writeBlocks: 2, ops: 1500)
    }

    /// Writes of up to 70 blocks: the whole blocks between a write's edges are sealed on several
    /// cores (WritePlan.sealWhole), and long appends start write-behind.
    @Test func largeWritesSealedInPartsMatchTheModel() throws {
        try checkAgainstModel(blockSize: 4096, sizeBlocks: 100, writeBlocks: 70, ops: 300)
    }

    func checkAgainstModel(blockSize: Int, sizeBlocks: Int, writeBlocks: Int, ops: Int) throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF, blockSize: blockSize)
        var (table, file, path) = try makeFile(v, dir, "f")
        var model = [UInt8]()
        var seed: UInt64 = 0x5EED
        func next(_ n: Int) -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int((seed >> 33) % UInt64(n)) }
        let maxSize = sizeBlocks * blockSize
        for op in 0..<ops {
            switch next(10) {
            case 0...4:  // write, sometimes past the end
                let off = next(maxSize), len = 1 + next(writeBlocks * blockSize)
                let data = pseudoRandomBytes(len, seed: UInt64(op))
                try data.withUnsafeBytes { try file.write($0, at: off) }
                if model.count < off { model += [UInt8](repeating: 0, count: off - model.count) }
                if model.count < off + len { model += [UInt8](repeating: 0, count: off + len - model.count) }
                model.replaceSubrange(off..<(off + len), with: data)
            case 5...6:
                let size = next(maxSize)
                try file.truncate(to: size)
                if size < model.count { model.removeSubrange(size...) } else { model += [UInt8](repeating: 0, count: size - model.count) }
            case 7...8:
                let off = next(maxSize + 10), len = next((writeBlocks + 1) * blockSize)
                var buf = [UInt8](repeating: 0xEE, count: len)
                let n = try buf.withUnsafeMutableBytes { try file.read(into: $0, at: off) }
                let expected = off >= model.count ? [] : Array(model[off..<min(model.count, off + len)])
                #expect(Array(buf[0..<n]) == expected, "op \(op): read \(len) at \(off)")
            default:  // reopen from disk: the backing file alone must hold the state
                table.release(file)
                table = OpenFileTable(vault: v, readOnly: false)
                file = try table.open(path, write: true)
            }
            #expect(file.size == model.count, "op \(op)")
        }
        #expect(try readAll(file) == model)
        // The streaming decoder (export, cat) agrees, including the last-block marker.
        let fd = try FileDescriptor.open(path, flags: O_RDONLY)
        defer { fd.close() }
        var streamed = [UInt8]()
        try FileContent.decrypt(fd, keys: v.keys, layout: v.layout, holes: v.config.allowsHoles) { streamed += $0 }
        #expect(streamed == model)
    }

    @Test func handlesOfOneFileShareStateAndConcurrentWritersLoseNothing() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        let (table, a, path) = try makeFile(v, dir, "shared")
        let b = try table.open(path, write: true)
        #expect(a === b)
        // Eight threads write disjoint 100-byte slices that share blocks.
        let threads = 8, per = 200
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for k in 0..<per {
                let off = (k * threads + t) * 100
                let data = [UInt8](repeating: UInt8(t + 1), count: 100)
                try! data.withUnsafeBytes { try a.write($0, at: off) }
            }
        }
        let all = try readAll(a)
        #expect(all.count == threads * per * 100)
        for i in 0..<(threads * per) { #expect(all[i * 100] == UInt8(i % threads + 1)) }
    }

    @Test func damagedBlockGivesAnErrorNotBytes() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let v = try Vault.create(at: dir.file("v"), password: secret("pw"), kdf: testKDF)
        var (table, f, path) = try makeFile(v, dir, "x")
        let data = pseudoRandomBytes(3 * v.layout.blockSize, seed: 9)
        try data.withUnsafeBytes { try f.write($0, at: 0) }
        table.release(f)
        var raw = readFile(path)
        raw[FileHeader.size + v.layout.cipherBlockSize + 50] ^= 4
        writeFile(path, raw)
        table = OpenFileTable(vault: v, readOnly: false)
        f = try table.open(path, write: true)
        var buf = [UInt8](repeating: 0, count: 100)
        #expect(try buf.withUnsafeMutableBytes { try f.read(into: $0, at: 10) } == 100)  // block 0 is fine
        #expect(throws: SottoError.self) { try buf.withUnsafeMutableBytes { try f.read(into: $0, at: v.layout.blockSize + 10) } }
        // A write that must read the damaged block back fails too, rather than sealing garbage.
        #expect(throws: SottoError.self) { try [1, 2, 3].withUnsafeBytes { try f.write($0, at: v.layout.blockSize + 5) } }
    }
}
