import Foundation
import Testing
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed by `cleanup()`.
final class TempDir {
    let path: String
    init() {
        var template = Array("/tmp/sotto-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// The cheapest KDF the format accepts, so tests spend their time on what they test.
let testKDF = Argon2idParameters(memoryKiB: 1024, iterations: 1, parallelism: 1)

func secret(_ s: String) -> SecretBytes { SecretBytes(copying: Array(s.utf8)) }

func hex(_ s: String) -> [UInt8] { Hex.decode(s.replacingOccurrences(of: " ", with: ""))! }

func writeFile(_ path: String, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let written = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    #expect(written, "could not write \(path)", sourceLocation: sourceLocation)
}

func readFile(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

/// A seeded generator (SplitMix64): the same cases every run, so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n == 0 ? 0 : Int(next() % UInt64(n)) }
}

/// Deterministic pseudo-random bytes, so failures reproduce.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix(seed: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count {
        withUnsafeBytes(of: rng.next()) { out.append(contentsOf: $0) }
    }
    return Array(out[0..<count])
}

extension Vault {
    /// Imports `bytes` as file `name` in the root through the same path `sotto import` uses.
    @discardableResult
    func importBytes(_ bytes: [UInt8], as name: String, in dir: VaultEntry? = nil, scratch: TempDir) throws -> VaultEntry {
        let src = scratch.file("src-\(UUID().uuidString)")
        writeFile(src, bytes)
        let fd = try FileDescriptor.open(src, flags: O_RDONLY)
        defer { fd.close(); unlink(src) }
        return try createFile(Array(name.utf8), in: dir ?? root, mode: 0o644, from: fd)
    }

    func readAll(_ entry: VaultEntry) throws -> [UInt8] {
        var out = [UInt8]()
        try readFile(entry) { out.append(contentsOf: $0) }
        return out
    }
}
