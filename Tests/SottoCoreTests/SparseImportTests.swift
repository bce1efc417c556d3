import Foundation
import Testing
@testable import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Import and export keep holes (docs/sparse-files.md): a source's holes become sealed hole runs
/// without being read or encrypted, a vault's runs become holes in an exported file, and zeros
/// stored as data stay data both ways.
@Suite struct SparseImportTests {
    /// A sparse source: `size` bytes, data only at `extents`.
    func sparseSource(_ path: String, size: Int, extents: [(Int, [UInt8])]) throws -> [UInt8] {
        let fd = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        defer { fd.close() }
        try fd.truncate(to: size)
        var expected = [UInt8](repeating: 0, count: size)
        for (at, bytes) in extents {
            try fd.writeAll(bytes, at: at)
            expected.replaceSubrange(at..<(at + bytes.count), with: bytes)
        }
        return expected
    }

    func allocatedBytes(_ path: String) throws -> Int {
        Int(try FileDescriptor.open(path, flags: O_RDONLY).withClose { try $0.stat().st_blocks }) * 512
    }

    /// The file as an export writes it: data at offsets, hole counts skipped.
    func exported(_ v: Vault, _ entry: VaultEntry) throws -> (content: [UInt8], holeBytes: Int) {
        var content = [UInt8](), holeBytes = 0
        try v.readFile(entry, holes: { n in
            holeBytes += n
            content += [UInt8](repeating: 0, count: n)
        }) { content += $0 }
        return (content, holeBytes)
    }

    func importFile(_ v: Vault, _ source: String, as name: String) throws -> VaultEntry {
        let fd = try FileDescriptor.open(source, flags: O_RDONLY)
        defer { fd.close() }
        return try v.createFile(Array(name.utf8), in: v.root, mode: 0o644, from: fd)
    }

    /// Three chunks with a little data, the middle extent across a chunk edge, and a hole at
    /// the end: what `truncate -s` and a VM image look like.
    @Test func importKeepsHolesAndExportGivesThemBack() throws {
        let f = try HoleRunTests.Fixture()
        defer { f.cleanup() }
        let chunk = HoleRun.chunkBlocks * f.B
        let size = 3 * chunk + 100
        let src = f.dir.file("image")
        let expected = try sparseSource(src, size: size, extents: [
            (0, pseudoRandomBytes(10_000, seed: 1)),
            (chunk - 100, pseudoRandomBytes(150, seed: 2)),
            (2 * chunk + 3 * f.B + 17, pseudoRandomBytes(20, seed: 3)),
        ])
        let entry = try importFile(f.vault, src, as: "image")
        let backing = entry.backingPath
        // Dense, this file takes 12 MiB of ciphertext; the data is six blocks.
        let used = try allocatedBytes(backing)
        #expect(used < 256 * 1024, "the imported file takes \(used) bytes")
        #expect(try f.vault.readAll(entry) == expected)
        let (content, holeBytes) = try exported(f.vault, entry)
        #expect(content == expected)
        #expect(holeBytes % f.B == 0 && holeBytes > size - chunk / 4, "\(holeBytes) hole bytes")
        // The mount's reader agrees (runs found by its own rule), and so does SEEK_HOLE there.
        let table = OpenFileTable(vault: f.vault, readOnly: true)
        let file = try table.open(backing, write: false)
        defer { table.release(file) }
        var viaMount = [UInt8](repeating: 0xEE, count: file.size)
        #expect(try viaMount.withUnsafeMutableBytes { try file.read(into: $0, at: 0) } == size)
        #expect(viaMount == expected)
        #expect(try file.seek(from: 0, data: false) == 3 * f.B)  // the first hole: after 10,000 bytes
        #expect(try file.seek(from: 3 * f.B, data: true) == chunk - f.B)
    }

    /// A run's marker still guards it after an import: zeroing the data block before a run, or
    /// the marker itself, is an error, not zeros.
    @Test func importedRunsAreAuthenticated() throws {
        let f = try HoleRunTests.Fixture()
        defer { f.cleanup() }
        let src = f.dir.file("image")
        let expected = try sparseSource(src, size: 64 * f.B + 5, extents: [(0, pseudoRandomBytes(3 * f.B, seed: 4))])
        let entry = try importFile(f.vault, src, as: "image")
        #expect(try f.vault.readAll(entry) == expected)
        let backing = entry.backingPath
        let layout = f.vault.layout
        for (block, what) in [(2, "the data block before the run"), (63, "the run's marker")] {
            let copy = f.dir.file("copy-\(block)")
            try FileManager.default.copyItem(atPath: backing, toPath: copy)
            let fd = try FileDescriptor.open(copy, flags: O_RDWR)
            defer { fd.close() }
            try fd.writeAll([UInt8](repeating: 0, count: f.CB), at: layout.cipherOffset(ofBlock: block))
            #expect(throws: FileContent.DecodeError.self, "\(what) zeroed") {
                try FileContent.decrypt(fd, keys: f.vault.keys, layout: layout, holes: true) { _ in }
            }
        }
    }

    /// Zeros a source stores as data are imported as data, and a vault without hole runs
    /// (older format) imports every block of a sparse source.
    @Test func storedZerosAndOlderVaultsStayDense() throws {
        let f = try HoleRunTests.Fixture()
        defer { f.cleanup() }
        let zeros = [UInt8](repeating: 0, count: 40 * f.B)
        let dense = try f.vault.importBytes(zeros, as: "zeros", scratch: f.dir)
        #expect(try exported(f.vault, dense) == (zeros, 0))

        let old = try HoleRunTests.Fixture(holes: false)
        defer { old.cleanup() }
        let src = old.dir.file("image")
        let expected = try sparseSource(src, size: 40 * old.B, extents: [(7, [1, 2, 3])])
        let entry = try importFile(old.vault, src, as: "image")
        #expect(try exported(old.vault, entry) == (expected, 0))
        #expect(try allocatedBytes(entry.backingPath) >= 40 * old.CB)
    }
}
