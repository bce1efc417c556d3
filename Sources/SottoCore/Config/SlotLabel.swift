/// The rules for a key slot's label (docs/format.md §3.2). A label comes from the vault
/// directory, which anyone syncing it can write, and is printed to terminals: the same rules hold
/// when one is set and when one is read, so a config with a label Sotto would refuse to write is
/// damaged.
public enum SlotLabel {
    /// Long enough for "recovery key in the office safe, envelope 2"; short enough for a listing.
    public static let maxCharacters = 64
    public static let maxUTF8Bytes = 256

    /// Why `label` is not acceptable, or nil if it is. The empty label means "no label".
    public static func problem(_ label: String) -> String? {
        if label.unicodeScalars.count > maxCharacters || label.utf8.count > maxUTF8Bytes {
            return "is longer than \(maxCharacters) characters"
        }
        // Control and format characters (escape codes, bidi overrides, zero-width marks) could
        // make one label look like another, or drive the terminal it is printed to.
        if label.unicodeScalars.contains(where: { s in
            [.control, .format, .lineSeparator, .paragraphSeparator].contains(s.properties.generalCategory)
        }) {
            return "contains a control or invisible formatting character"
        }
        if let first = label.unicodeScalars.first, let last = label.unicodeScalars.last,
           first.properties.isWhitespace || last.properties.isWhitespace {
            return "starts or ends with a space"
        }
        return nil
    }

    /// `label` as a JSON string literal. Labels hold no control characters (`problem`), so only
    /// the quote and the backslash need escaping; anything else is escaped too, to be safe.
    static func jsonString(_ label: String) -> String {
        var out = "\""
        for s in label.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where s.value < 0x20 || s.value == 0x7F:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "\""
    }
}
