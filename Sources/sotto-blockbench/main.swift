// Measures the block-codec costs that decide the format's block size (docs/format.md):
// sequential sealing/opening throughput, and the cost of a random 4 KiB read and of a 4 KiB
// read-modify-write (a sqlite page, an editor's small save) for each allowed block size.
// Crypto only, no disk: the mount adds its FUSE and syscall costs on top of these.
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let keys = try VaultKeys(masterKey: try SecretBytes.random(count: 32), vaultID: try SecureRandom.bytes(16))
let gcm = try AESGCM()
let streamBytes = 256 << 20
let randomOps = 20_000
print("| block | seal MB/s | open MB/s | random 4 KiB read µs | random 4 KiB RMW µs | overhead % |")
print("|---|---|---|---|---|---|")
for B in ContentLayout.allowedBlockSizes {
    let layout = ContentLayout(blockSize: B)
    let (header, _) = try FileHeader.create(wrapKey: keys.fileKeyWrap, gcm: gcm)
    let cipher = BlockCipher(header: header, layout: layout)
    let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: B, alignment: 16)
    let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: B + AESGCM.overhead, alignment: 16)
    memset(plain.baseAddress!, 0x5a, B)
    let blocks = streamBytes / B
    // Nonces drawn per 16 blocks, as FileContent does.
    var nonces = [UInt8](repeating: 0, count: 16 * 12)
    var t0 = now()
    for i in 0..<blocks {
        if i % 16 == 0 { try nonces.withUnsafeMutableBytes { try SecureRandom.fill($0) } }
        nonces.withUnsafeBytes { sealed.baseAddress!.copyMemory(from: $0.baseAddress! + (i % 16) * 12, byteCount: 12) }
        try cipher.seal(index: i, last: false, plaintext: UnsafeRawBufferPointer(plain), into: sealed, gcm: gcm)
    }
    let sealRate = Double(streamBytes) / (now() - t0) / 1e6
    try cipher.seal(index: 0, last: false, plaintext: UnsafeRawBufferPointer(plain), into: sealed, gcm: gcm)
    t0 = now()
    for _ in 0..<blocks {
        _ = try cipher.open(index: 0, last: false, stored: UnsafeRawBufferPointer(sealed), into: plain, gcm: gcm)
    }
    let openRate = Double(streamBytes) / (now() - t0) / 1e6
    t0 = now()
    for _ in 0..<randomOps {
        _ = try cipher.open(index: 0, last: false, stored: UnsafeRawBufferPointer(sealed), into: plain, gcm: gcm)
    }
    let readUs = (now() - t0) / Double(randomOps) * 1e6
    t0 = now()
    for _ in 0..<randomOps {
        _ = try cipher.open(index: 0, last: false, stored: UnsafeRawBufferPointer(sealed), into: plain, gcm: gcm)
        memset(plain.baseAddress! + (B - 4096) / 2, 0x33, 4096)  // a 4 KiB page inside the block
        try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: sealed[0..<12]))
        try cipher.seal(index: 0, last: false, plaintext: UnsafeRawBufferPointer(plain), into: sealed, gcm: gcm)
    }
    let rmwUs = (now() - t0) / Double(randomOps) * 1e6
    let overhead = Double(AESGCM.overhead) / Double(B) * 100
    print("| \(B / 1024) KiB | \(Int(sealRate)) | \(Int(openRate)) | \(String(format2(readUs))) | \(String(format2(rmwUs))) | \(String(format2(overhead))) |")
    plain.deallocate(); sealed.deallocate()
}

func format2(_ x: Double) -> String {
    let r = (x * 100).rounded() / 100
    return "\(r)"
}
