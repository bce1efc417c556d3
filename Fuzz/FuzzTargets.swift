// libFuzzer entry points for the parsers that read untrusted bytes from a vault directory.
// Compiled together with SottoCore's sources by tools/fuzz, one binary per target (-D FUZZ_*).
// A target passes when every input is either accepted or rejected with a thrown error: any
// crash, trap, hang or sanitizer report is a finding.
#if canImport(Glibc)
import Glibc
#endif

private final class FuzzState: @unchecked Sendable {
    let keys: VaultKeys
    let gcm: AESGCM
    let header: FileHeader
    let journalMAC = SecretBytes(copying: [UInt8](repeating: 9, count: 32))
    init() {
        let master = SecretBytes(copying: [UInt8](repeating: 7, count: 32))
        keys = try! VaultKeys(masterKey: master, vaultID: [UInt8](repeating: 1, count: 16))
        gcm = try! AESGCM()
        header = try! FileHeader.create(wrapKey: keys.fileKeyWrap, gcm: gcm).0
    }
}

nonisolated(unsafe) private let state = FuzzState()

@_cdecl("LLVMFuzzerTestOneInput")
public func sottoFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    #if FUZZ_CONFIG
    _ = try? VaultConfig.parse(Array(input))
    #elseif FUZZ_HEADER
    _ = try? FileHeader.open(input, wrapKey: state.keys.fileKeyWrap, gcm: state.gcm)
    #elseif FUZZ_BLOCK
    // The size rule for every block size, then the block decoder as first, middle and last block.
    for b in ContentLayout.allowedBlockSizes { _ = ContentLayout(blockSize: b).plaintextSize(ciphertextSize: size) }
    let cipher = BlockCipher(header: state.header, layout: ContentLayout(blockSize: 4096))
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
    defer { out.deallocate() }
    for (i, last) in [(0, false), (3, true)] {
        _ = try? cipher.open(index: i, last: last, stored: input, into: out, gcm: state.gcm)
    }
    #elseif FUZZ_NAME
    let raw = Array(input)
    _ = BackingName(raw)
    _ = Base64URL.decode(raw)
    if let s = String(validating: raw, as: UTF8.self) {
        _ = NameCipher(keys: state.keys).decrypt(s, directoryID: [UInt8](repeating: 2, count: 16))
        _ = Hex.decode(s)
    }
    _ = try? SymlinkCipher(keys: state.keys).decrypt(raw, gcm: state.gcm)
    #elseif FUZZ_JOURNAL
    // As found, as an authentic version-2 body (the MAC made over the input, so the entry parser
    // runs on anything), and as a version-1 body; every parsed path through the canonical check.
    let raw = Array(input)
    let authentic = RekeyJournal.magic + raw
    let mac = (try? Digest.hmacSHA256(key: state.journalMAC, authentic)) ?? []
    for bytes in [raw, authentic + mac, RekeyJournal.magicV1 + raw] {
        for e in (try? RekeyJournal.parse(bytes, macKey: state.journalMAC)) ?? [] { _ = RekeyJournal.isCanonicalPath(e.path) }
    }
    #endif
    return 0
}
