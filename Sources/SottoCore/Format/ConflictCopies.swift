import Foundation

/// Conflict copies sync tools make when an entry changed on two devices: they keep both by
/// renaming one (or both) with a marker. Our encrypted names have no '.', ' ' or '(' so the
/// marker always lands at the end of the backing name and the original stays intact:
///
/// - Syncthing: `<name>.sync-conflict-20261125-141200-ABCDEF7`
/// - Dropbox, Nextcloud, ownCloud: `<name> (conflicted copy 2026-11-25 141200)`,
///   `<name> (Ann's conflicted copy 2026-11-25)`
/// - rclone bisync: `<name>..path1`, `<name>..path2`
///
/// The mount shows such a copy under the original's plaintext name with ` (conflict LABEL)`
/// before the extension — `interview (conflict 2026-11-25 1412).txt` — so both versions can be
/// opened and merged (a mount that only decrypts names would leave them out: a marked name is
/// not a valid encrypted name).
public struct ConflictCopy: Equatable, Sendable {
    /// The backing name the copy was made of (an encrypted name, or `data` in a long-name container).
    public let original: String
    /// What the sync tool appended, kept verbatim when `sotto rekey` renames the copy.
    public let suffix: String
    /// What the plaintext name shows: a date and time, or which side of a sync it came from.
    public let label: String

    static let syncthingMarker = ".sync-conflict-"
    static let dropboxMarker = "conflicted copy"
    static let bisyncMarker = "..path"
    /// What a conflict copy's plaintext name carries; a lookup of a name without it never lists.
    public static let displayMarker = Array(" (conflict ".utf8)

    public static func parse(_ raw: String) -> ConflictCopy? {
        // Syncthing: ".sync-conflict-YYYYMMDD-HHMMSS-XXXXXXX" at the end.
        if let r = raw.range(of: syncthingMarker, options: .backwards) {
            let tail = Array(raw[r.upperBound...].utf8)
            if tail.count == 23, tail[8] == UInt8(ascii: "-"), tail[15] == UInt8(ascii: "-"),
               tail[0..<8].allSatisfy(isDigit), tail[9..<15].allSatisfy(isDigit),
               tail[16...].allSatisfy({ isDigit($0) || ($0 >= 65 && $0 <= 90) }) {
                let d = String(decoding: tail, as: UTF8.self)
                let label = "\(d.prefix(4))-\(d.dropFirst(4).prefix(2))-\(d.dropFirst(6).prefix(2)) \(d.dropFirst(9).prefix(4))"
                return make(raw, r.lowerBound, label)
            }
        }
        // Dropbox / Nextcloud: " (… conflicted copy …)" at the end.
        if raw.hasSuffix(")"), let open = raw.range(of: " (", options: .backwards) {
            let inner = String(raw[open.upperBound...].dropLast())
            if inner.contains(dropboxMarker), !inner.contains("("), !inner.contains(")") {
                // Keep the date and time it carries ("2026-11-25 141200" → "2026-11-25 1412").
                let words = inner.split(separator: " ")
                let date = words.first { $0.utf8.count == 10 && $0.utf8.filter({ $0 == UInt8(ascii: "-") }).count == 2 }
                let time = words.first { ($0.utf8.count == 6 || $0.utf8.count == 4) && $0.utf8.allSatisfy(isDigit) }
                let label = date.map { String($0) + (time.map { " " + $0.prefix(4) } ?? "") } ?? inner
                return make(raw, open.lowerBound, label)
            }
        }
        // rclone bisync: "..path1" / "..path2".
        if let r = raw.range(of: bisyncMarker, options: .backwards), ["1", "2"].contains(raw[r.upperBound...]) {
            return make(raw, r.lowerBound, "path" + raw[r.upperBound...])
        }
        return nil
    }

    private static func make(_ raw: String, _ cut: String.Index, _ label: String) -> ConflictCopy? {
        let original = String(raw[..<cut])
        guard !original.isEmpty, !label.isEmpty else { return nil }
        return ConflictCopy(original: original, suffix: String(raw[cut...]), label: label)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// `name` with ` (conflict LABEL)` before its extension, cut to fit `PlainName.maxLength`.
    public static func displayName(of name: [UInt8], label: String) -> [UInt8] {
        let marker = displayMarker + Array(label.utf8) + [UInt8(ascii: ")")]
        var stem = name, ext: [UInt8] = []
        if let dot = name.lastIndex(of: UInt8(ascii: ".")), dot > 0, dot < name.count - 1, name.count - dot <= 16 {
            stem = Array(name[..<dot])
            ext = Array(name[dot...])
        }
        let room = PlainName.maxLength - marker.count - ext.count
        if stem.count > room {
            var cut = max(room, 0)
            while cut > 0 && stem[cut] & 0xC0 == 0x80 { cut -= 1 }  // not inside a UTF-8 sequence
            stem = Array(stem[..<cut])
        }
        return stem + marker + ext
    }
}
