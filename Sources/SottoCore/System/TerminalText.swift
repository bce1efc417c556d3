/// Text bound for a terminal or a log that may hold names from the vault directory, which is the
/// attacker's to write (docs/threat-model.md): control characters become visible escapes, so no
/// name can move the cursor, retitle the window, ring the bell or hide the text after it.
public enum TerminalText {
    /// C0 controls and DEL as `\xNN`; C1 controls and the bidirectional overrides (which reorder
    /// what follows them on screen) as `\u{NNNN}`; everything else, backslash included, as is.
    public static func escaped(_ s: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            switch u.value {
            case 0x00...0x1F, 0x7F:
                out += "\\x" + hex(u.value, width: 2)
            case 0x80...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{" + hex(u.value, width: 4) + "}"
            default:
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
