import Testing
@testable import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// The stored form of extended attributes (docs/format.md §5.6). Fixture vaults cannot carry it
/// (git keeps no extended attributes), so a known-answer vector pins it instead; the expected
/// values were computed independently with Python's `cryptography` (HKDF-SHA256, AES-SIV,
/// AES-GCM), not by this code.
@Suite struct ExtendedAttributeTests {
    let header = FileHeader(version: 1, fileID: Array(0..<16), fileKey: SecretBytes(copying: [UInt8](repeating: 0x42, count: 32)))
    let name = Array("user.xdg.comment".utf8)

    @Test func storedFormIsPinned() throws {
        let x = try ExtendedAttributes(header: header)
        let stored = try x.storedName(name)
        #expect(String(decoding: stored, as: UTF8.self) == "user.sotto.WqlhBKz7y5uf6taHYB8KrMgJ5O6y-jYraTc5fwWtoVE")
        let gcm = try AESGCM()
        let sealed = try x.seal(Array("hello".utf8), storedName: stored, gcm: gcm, nonce: [UInt8](repeating: 7, count: 12))
        #expect(Hex.encode(sealed) == "07070707070707070707070762390ed4bf65e5ae67d9037c2457db88508713d354")
        #expect(try x.open(sealed, storedName: stored, gcm: gcm) == Array("hello".utf8))
        #expect(x.plainName(stored) == name)
    }

    @Test func valuesAreBoundToTheirFileAndNameAndNamesToTheirFile() throws {
        let x = try ExtendedAttributes(header: header)
        let gcm = try AESGCM()
        let stored = try x.storedName(name)
        let sealed = try x.seal(Array("value".utf8), storedName: stored, gcm: gcm)
        let otherFile = try ExtendedAttributes(header: FileHeader(version: 1, fileID: Array(1...16), fileKey: header.fileKey))
        #expect(throws: ExtendedAttributes.Damaged.self) { try otherFile.open(sealed, storedName: stored, gcm: gcm) }
        #expect(otherFile.plainName(stored) == nil)
        let otherName = try x.storedName(Array("user.other".utf8))
        #expect(throws: ExtendedAttributes.Damaged.self) { try x.open(sealed, storedName: otherName, gcm: gcm) }
        var flipped = sealed
        flipped[flipped.count - 1] ^= 1
        #expect(throws: ExtendedAttributes.Damaged.self) { try x.open(flipped, storedName: stored, gcm: gcm) }
        #expect(throws: ExtendedAttributes.Damaged.self) { try x.open(Array(sealed.prefix(27)), storedName: stored, gcm: gcm) }
        // Not ours: another program's attribute, or not base64url.
        #expect(x.plainName(Array("user.other-program".utf8)) == nil)
        #expect(x.plainName(Array("user.sotto.!!".utf8)) == nil)
        // Names: the kernel's 255-byte limit on what is stored.
        #expect(try x.storedName(Array(repeating: 0x61, count: ExtendedAttributes.maxName)).count <= 255)
        #expect(throws: Errno(ERANGE)) { try x.storedName(Array(repeating: 0x61, count: ExtendedAttributes.maxName + 1)) }
    }
}
