#if canImport(Glibc)
import Glibc
#endif

/// `sotto.rekey.journal` (docs/format.md §8): the headers a rekey batch is about to rewrite, saved
/// first so a torn write can be put back. Its bytes are the attacker's to write like any file in
/// the vault directory, so it is authenticated and its paths are held to the names a rekey makes.
///
///     magic "sotto-rekey-journal-v2\n"
///     entries: length(2, big-endian) || vault-relative path || saved header(78)
///     HMAC-SHA256(everything before it) under VaultKeys.rekeyJournalMAC
///
/// Version 1 (builds before 2026-12-02) had no MAC; it is still read so their interrupted rotations can
/// finish, and its entries meet the same checks before anything is written.
enum RekeyJournal {
    static let magic = Array("sotto-rekey-journal-v2\n".utf8)
    static let magicV1 = Array("sotto-rekey-journal-v1\n".utf8)
    static let macSize = 32
    /// The largest journal a rekey writes (a batch of headers with their paths), with room to spare.
    static let maxSize = Rekeying.batchSize * (2 + Int(PATH_MAX) * 2 + FileHeader.size) + 4096

    typealias Entry = (path: [UInt8], header: [UInt8])

    static func serialize(_ entries: [Entry], macKey: SecretBytes) throws -> [UInt8] {
        var out = magic
        for e in entries {
            precondition(e.path.count <= 0xFFFF && e.header.count == FileHeader.size)
            out += [UInt8(e.path.count >> 8), UInt8(e.path.count & 0xff)] + e.path + e.header
        }
        out += try Digest.hmacSHA256(key: macKey, out)
        return out
    }

    /// The entries of a journal this vault's key wrote (or a version-1 one), nil for any other
    /// bytes. A cut-off version-1 journal yields the entries before the cut (it was never acted on
    /// past them).
    static func parse(_ bytes: [UInt8], macKey: SecretBytes) throws -> [Entry]? {
        var body = bytes[...]
        if bytes.starts(with: magic) {
            guard bytes.count >= magic.count + macSize else { return nil }
            body = bytes[..<(bytes.count - macSize)]
            let mac = try Digest.hmacSHA256(key: macKey, Array(body))
            guard Digest.constantTimeEqual(mac, Array(bytes[(bytes.count - macSize)...])) else { return nil }
        } else if !bytes.starts(with: magicV1) {
            return nil
        }
        var out: [Entry] = []
        var at = body.startIndex + magic.count  // both magics are the same length
        while at + 2 <= body.endIndex {
            let len = Int(body[at]) << 8 | Int(body[at + 1])
            guard at + 2 + len + FileHeader.size <= body.endIndex else { break }
            out.append((Array(body[(at + 2)..<(at + 2 + len)]), Array(body[(at + 2 + len)..<(at + 2 + len + FileHeader.size)])))
            at += 2 + len + FileHeader.size
        }
        return out
    }

    /// Whether a journal path is one a rekey writes: relative, every component a Sotto backing
    /// name (an encrypted name, a long-name container or its `data`, a conflict copy), no "." or
    /// "..", no empty component.
    static func isCanonicalPath(_ rel: [UInt8]) -> Bool {
        guard !rel.isEmpty, rel.count <= 2 * Int(PATH_MAX), !rel.contains(0) else { return false }
        for part in rel.split(separator: 0x2F, omittingEmptySubsequences: false) {
            let name = Array(part)
            guard !name.isEmpty, name.count <= 255 else { return false }
            switch BackingName(name) {
            case .encrypted, .long, .conflict: continue
            default: guard name == Array(BackingName.longDataEntry.utf8) else { return false }
            }
        }
        return true
    }
}
