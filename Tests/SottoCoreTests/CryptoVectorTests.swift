import Testing
@testable import SottoCore

/// Known-answer tests: our OpenSSL/libargon2 wrappers must reproduce the published vectors.
@Suite struct CryptoVectorTests {
    /// `gcm`: the context to use (a fresh one if nil).
    func gcmSeal(key: [UInt8], nonce: [UInt8], aad: [UInt8], plaintext: [UInt8], gcm: AESGCM? = nil) throws -> (ct: [UInt8], tag: [UInt8]) {
        let gcm = try gcm ?? AESGCM()
        var ct = [UInt8](repeating: 0, count: plaintext.count)
        var tag = [UInt8](repeating: 0, count: 16)
        try key.withUnsafeBytes { k in try nonce.withUnsafeBytes { n in try aad.withUnsafeBytes { a in
            try plaintext.withUnsafeBytes { p in try ct.withUnsafeMutableBytes { c in try tag.withUnsafeMutableBytes { t in
                try gcm.seal(key: k, nonce: n, aad: a, plaintext: p, ciphertext: c, tag: t)
            } } } } } }
        return (ct, tag)
    }

    func gcmOpen(key: [UInt8], nonce: [UInt8], aad: [UInt8], ct: [UInt8], tag: [UInt8], gcm: AESGCM? = nil) throws -> [UInt8] {
        let gcm = try gcm ?? AESGCM()
        var pt = [UInt8](repeating: 0, count: ct.count)
        try key.withUnsafeBytes { k in try nonce.withUnsafeBytes { n in try aad.withUnsafeBytes { a in
            try ct.withUnsafeBytes { c in try tag.withUnsafeBytes { t in try pt.withUnsafeMutableBytes { p in
                try gcm.open(key: k, nonce: n, aad: a, ciphertext: c, tag: t, plaintext: p)
            } } } } } }
        return pt
    }

    // The GCM specification's AES-256 test cases 13-16 (McGrew & Viega, as used in NIST's GCM validation).
    static let key15 = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    static let iv15 = hex("cafebabefacedbaddecaf888")
    static let p15 = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
    static let c15 = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad")

    @Test func gcmTestCase13EmptyPlaintext() throws {
        let r = try gcmSeal(key: [UInt8](repeating: 0, count: 32), nonce: [UInt8](repeating: 0, count: 12), aad: [], plaintext: [])
        #expect(r.ct.isEmpty)
        #expect(r.tag == hex("530f8afbc74536b9a963b4f1c4cb738b"))
    }

    @Test func gcmTestCase14() throws {
        let r = try gcmSeal(key: [UInt8](repeating: 0, count: 32), nonce: [UInt8](repeating: 0, count: 12), aad: [],
                            plaintext: [UInt8](repeating: 0, count: 16))
        #expect(r.ct == hex("cea7403d4d606b6e074ec5d3baf39d18"))
        #expect(r.tag == hex("d0d1c8a799996bf0265b98b5d48ab919"))
    }

    @Test func gcmTestCase15() throws {
        let r = try gcmSeal(key: Self.key15, nonce: Self.iv15, aad: [], plaintext: Self.p15)
        #expect(r.ct == Self.c15)
        #expect(r.tag == hex("b094dac5d93471bdec1a502270e3cc6c"))
    }

    @Test func gcmTestCase16WithAAD() throws {
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let r = try gcmSeal(key: Self.key15, nonce: Self.iv15, aad: aad, plaintext: Array(Self.p15[0..<60]))
        #expect(r.ct == Array(Self.c15[0..<60]))
        #expect(r.tag == hex("76fc6ece0f4e1768cddf8853bb2d551b"))
        #expect(try gcmOpen(key: Self.key15, nonce: Self.iv15, aad: aad, ct: r.ct, tag: r.tag) == Array(Self.p15[0..<60]))
    }

    @Test func gcmRejectsAnyTamperAndZeroesOutput() throws {
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let r = try gcmSeal(key: Self.key15, nonce: Self.iv15, aad: aad, plaintext: Self.p15)
        var badCT = r.ct; badCT[5] ^= 1
        var badTag = r.tag; badTag[15] ^= 0x80
        var badAAD = aad; badAAD[0] ^= 1
        var badNonce = Self.iv15; badNonce[11] ^= 1
        for (ct, tag, a, n) in [(badCT, r.tag, aad, Self.iv15), (r.ct, badTag, aad, Self.iv15), (r.ct, r.tag, badAAD, Self.iv15), (r.ct, r.tag, aad, badNonce)] {
            #expect(throws: CryptoError.authenticationFailed) { try gcmOpen(key: Self.key15, nonce: n, aad: a, ct: ct, tag: tag) }
        }
        // The output buffer holds no unauthenticated plaintext after a failure.
        let gcm = try AESGCM()
        var out = [UInt8](repeating: 0xAA, count: badCT.count)
        _ = try? Self.key15.withUnsafeBytes { k in try Self.iv15.withUnsafeBytes { n in try aad.withUnsafeBytes { a in
            try badCT.withUnsafeBytes { c in try r.tag.withUnsafeBytes { t in try out.withUnsafeMutableBytes { p in
                try gcm.open(key: k, nonce: n, aad: a, ciphertext: c, tag: t, plaintext: p) } } } } } }
        #expect(out.allSatisfy { $0 == 0 })
    }

    /// One context, as the mount uses it: keys and directions change between calls, and a call
    /// with the key already set (only the nonce is set then) must give what a fresh context gives.
    @Test func oneContextAcrossKeysAndDirections() throws {
        let gcm = try AESGCM()
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let zeroKey = [UInt8](repeating: 0, count: 32), zeroNonce = [UInt8](repeating: 0, count: 12)
        let p16 = Array(Self.p15[0..<60]), tag16 = hex("76fc6ece0f4e1768cddf8853bb2d551b")
        for _ in 0..<2 {
            let r15 = try gcmSeal(key: Self.key15, nonce: Self.iv15, aad: [], plaintext: Self.p15, gcm: gcm)
            #expect(r15.ct == Self.c15 && r15.tag == hex("b094dac5d93471bdec1a502270e3cc6c"))
            // The same key again, with AAD: only the nonce is set, twice.
            let r16 = try gcmSeal(key: Self.key15, nonce: Self.iv15, aad: aad, plaintext: p16, gcm: gcm)
            let again = try gcmSeal(key: Self.key15, nonce: Self.iv15, aad: aad, plaintext: p16, gcm: gcm)
            #expect(r16.ct == Array(Self.c15[0..<60]) && r16.tag == tag16 && again.ct == r16.ct && again.tag == tag16)
            let r14 = try gcmSeal(key: zeroKey, nonce: zeroNonce, aad: [], plaintext: [UInt8](repeating: 0, count: 16), gcm: gcm)
            #expect(r14.ct == hex("cea7403d4d606b6e074ec5d3baf39d18") && r14.tag == hex("d0d1c8a799996bf0265b98b5d48ab919"))
            // Opens on the same context: a wrong tag fails and the next open still succeeds.
            var badTag = tag16; badTag[0] ^= 1
            #expect(throws: CryptoError.authenticationFailed) { try gcmOpen(key: Self.key15, nonce: Self.iv15, aad: aad, ct: r16.ct, tag: badTag, gcm: gcm) }
            #expect(try gcmOpen(key: Self.key15, nonce: Self.iv15, aad: aad, ct: r16.ct, tag: tag16, gcm: gcm) == p16)
            #expect(try gcmOpen(key: Self.key15, nonce: Self.iv15, aad: aad, ct: r16.ct, tag: tag16, gcm: gcm) == p16)
            // Another key, even one differing in its last byte only, is set, not mistaken for the last.
            var nearly = Self.key15; nearly[31] ^= 1
            #expect(throws: CryptoError.authenticationFailed) { try gcmOpen(key: nearly, nonce: Self.iv15, aad: aad, ct: r16.ct, tag: tag16, gcm: gcm) }
            #expect(throws: CryptoError.authenticationFailed) { try gcmOpen(key: zeroKey, nonce: Self.iv15, aad: aad, ct: r16.ct, tag: tag16, gcm: gcm) }
        }
        // One buffer changed in place between calls: compared by value, not by address.
        let key = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        defer { key.deallocate() }
        key.copyBytes(from: Self.key15)
        let first = try sealOne(gcm, UnsafeRawBufferPointer(key))
        key[0] ^= 1
        let second = try sealOne(gcm, UnsafeRawBufferPointer(key))
        #expect(first == Self.c15 && second != first)
        #expect(second == (try gcmSeal(key: Array(key), nonce: Self.iv15, aad: [], plaintext: Self.p15).ct))
    }

    private func sealOne(_ gcm: AESGCM, _ key: UnsafeRawBufferPointer) throws -> [UInt8] {
        var ct = [UInt8](repeating: 0, count: Self.p15.count), tag = [UInt8](repeating: 0, count: 16)
        try Self.iv15.withUnsafeBytes { n in try Self.p15.withUnsafeBytes { p in try ct.withUnsafeMutableBytes { c in
            try tag.withUnsafeMutableBytes { t in try gcm.seal(key: key, nonce: n, aad: UnsafeRawBufferPointer(start: nil, count: 0), plaintext: p, ciphertext: c, tag: t) } } } }
        return ct
    }

    // RFC 5297 Appendix A.1 (deterministic AES-SIV; the RFC's only key size is AES-128-SIV).
    @Test func sivRFC5297A1() throws {
        let key = hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
        let ad = hex("101112131415161718191a1b1c1d1e1f2021222324252627")
        let pt = hex("112233445566778899aabbccddee")
        let out = try key.withUnsafeBytes { try AESSIV.seal(pt, associatedData: [ad], key: $0, variant: .aes128) }
        #expect(out == hex("85632d07c6e8f37f950acd320a2ecc93" + "40c02b9690c4dc04daef7f6afe5c"))
        #expect(try key.withUnsafeBytes { try AESSIV.open(out, associatedData: [ad], key: $0, variant: .aes128) } == pt)
    }

    // AES-256-SIV (64-byte key), the variant names use; expected value from pyca/cryptography's AESSIV.
    @Test func siv256CrossCheck() throws {
        let key = (0..<64).map { UInt8($0) }
        let ad = (0..<16).map { UInt8($0) }
        let out = try key.withUnsafeBytes { try AESSIV.seal(Array("interview-2026.txt".utf8), associatedData: [ad], key: $0) }
        #expect(out == hex("adc089701c5cfe4bb5bf3f6c8c36dcecf040af1a941bd310b97aa0b2b7e6f5eed9ec"))
        var bad = out; bad[20] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try key.withUnsafeBytes { try AESSIV.open(bad, associatedData: [ad], key: $0) } }
        #expect(throws: CryptoError.authenticationFailed) { try key.withUnsafeBytes { try AESSIV.open(out, associatedData: [[UInt8](repeating: 0, count: 16)], key: $0) } }
    }

    // RFC 5869 Appendix A.1 (HKDF-SHA256, basic) and A.3 (zero-length salt and info).
    @Test func hkdfRFC5869() throws {
        let okm = try Digest.hkdfSHA256(ikm: SecretBytes(copying: [UInt8](repeating: 0x0b, count: 22)), salt: hex("000102030405060708090a0b0c"),
                                        info: hex("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        #expect(okm.withUnsafeBytes { Array($0) } == hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
        let okm3 = try Digest.hkdfSHA256(ikm: SecretBytes(copying: [UInt8](repeating: 0x0b, count: 22)), salt: [], info: [], length: 42)
        #expect(okm3.withUnsafeBytes { Array($0) } == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
    }

    // RFC 9106 §5.3: Argon2id, t=3, m=32 KiB, p=4, with secret and associated data.
    @Test func argon2idRFC9106() throws {
        let tag = try Argon2id.derive(password: SecretBytes(copying: [UInt8](repeating: 1, count: 32)), salt: [UInt8](repeating: 2, count: 16),
                                      parameters: Argon2idParameters(memoryKiB: 32, iterations: 3, parallelism: 4), length: 32,
                                      secret: [UInt8](repeating: 3, count: 8), associatedData: [UInt8](repeating: 4, count: 12))
        #expect(tag.withUnsafeBytes { Array($0) } == hex("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"))
    }

    @Test func secretBytesNeverPrintTheirContent() {
        let s = SecretBytes(copying: Array("hunter2-password".utf8))
        #expect(!"\(s)".contains("hunter2"))
        #expect(!String(reflecting: s).contains("hunter2"))
        #expect(s.isEqual(to: SecretBytes(copying: Array("hunter2-password".utf8))))
        #expect(!s.isEqual(to: SecretBytes(copying: Array("hunter2-passwore".utf8))))
    }
}
