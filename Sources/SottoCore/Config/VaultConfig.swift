import Foundation

/// `sotto.conf`: the vault's config, JSON at the vault root (docs/format.md §3).
///
/// It holds no secret in the clear: the master key exists only wrapped in key slots, each under its
/// own password-derived key (Argon2id → AES-256-GCM, the slot's metadata as AAD). `checksum`
/// (SHA-256, unkeyed) tells accidental damage apart from a wrong password before any KDF runs;
/// `mac` (HMAC-SHA256 under a master-derived key) authenticates everything once a slot opens.
/// Both cover `canonicalBytes`, not the JSON text, so reformatting the file changes nothing.
public struct VaultConfig: Equatable {
    /// The newest config version this build reads.
    public static let currentVersion = 12
    /// Odd versions are layouts: 1; 3 (every directory also names its primary ID in
    /// `sotto.dirid`, so a lookup never lists a directory); 5 (3's tree; key slots may carry an
    /// authenticated label); 7 (5, and files may hold sealed hole runs). Even versions are a
    /// layout while `sotto rekey` runs, so a build that does not know rekeying refuses a
    /// half-rekeyed vault instead of misreading it: 2 and 4 (layouts 1 and 3, written by builds
    /// before 2026-12-02) kept the new master key wrapped under a key derived from the old one —
    /// a key chain that handed the new key to anyone holding the old one; 6, 8, 10 and 12
    /// (layouts 1, 3, 5 and 7) keep it only in the new slots, under the kept passwords. A 2 or 4
    /// is migrated to 6 or 8 when the rotation resumes.
    public static let newVaultVersion = 7
    public static let firstPrimaryIDVersion = 3
    /// From here on a slot may carry a label (covered by the checksum and the MAC).
    public static let firstLabelVersion = 5
    /// From here on a file may hold sealed hole runs (docs/sparse-files.md).
    public static let firstHoleVersion = 7
    /// Every version a build has written; 9 and 11 never were.
    static let knownVersions: Set<Int> = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12]

    /// Whether a config of `version` describes a vault in the middle of a rekey.
    public static func isRekeyVersion(_ version: Int) -> Bool { version.isMultiple(of: 2) }
    /// The layout version of a config version (what it is once no rekey runs).
    public static func layoutVersion(_ version: Int) -> Int {
        guard isRekeyVersion(version) else { return version }
        return version >= firstUnchainedRekeyVersion ? version - 5 : version - 1
    }
    /// The version a rekey of a vault at `version` writes while it runs (6, 8, 10 or 12).
    public static func rekeyVersion(of version: Int) -> Int { layoutVersion(version) + 5 }
    /// Rekey versions from here on carry no key chain.
    static let firstUnchainedRekeyVersion = 6

    /// Whether directories made in this vault get a `sotto.dirid` file.
    public var writesPrimaryIDFiles: Bool { Self.layoutVersion(version) >= Self.firstPrimaryIDVersion }
    /// Whether this config's slots carry labels (older versions have none: a `label` field in
    /// one is an unknown field, ignored like any other).
    public var carriesLabels: Bool { Self.carriesLabels(version) }
    static func carriesLabels(_ version: Int) -> Bool { layoutVersion(version) >= firstLabelVersion }
    /// Whether files of this vault may hold hole runs; below, a block that does not open is
    /// damage whatever it holds.
    public var allowsHoles: Bool { Self.layoutVersion(version) >= Self.firstHoleVersion }
    public static let maxSlots = 8
    public static let vaultIDSize = 16
    /// A config is a few KiB; anything larger is refused unread.
    static let maxSize = 64 * 1024
    public static let saltSize = 16
    public static let contentCipherName = "AES-256-GCM"
    public static let nameCipherName = "AES-256-SIV"
    public static let formatName = "sotto"

    public struct Slot: Equatable {
        public var index: Int
        public var kdf: Argon2idParameters
        public var salt: [UInt8]
        /// nonce(12) || encrypted master key(32) || tag(16)
        public var wrappedMasterKey: [UInt8]
        /// What the owner calls this slot ("laptop", "recovery key in the safe"); empty for none.
        /// Authenticated by the config's MAC, not by the wrapped key: any slot's password can
        /// relabel every slot, and nobody without one can relabel any (SlotLabel's rules).
        public var label: String = ""

        /// The slot's metadata, bound as AAD to the wrapped key: a slot's KDF parameters or salt
        /// cannot be changed, nor a slot moved to another vault or index, without failing to open.
        func associatedData(vaultID: [UInt8]) -> [UInt8] {
            Array("sotto-slot-v1|vault=\(Hex.encode(vaultID))|slot=\(index)|kdf=argon2id|m=\(kdf.memoryKiB)|t=\(kdf.iterations)|p=\(kdf.parallelism)|salt=\(Hex.encode(salt))".utf8)
        }
    }

    /// A master-key rotation in progress (an even config version): the slots that will replace the
    /// current ones, each wrapping the new master key under a kept password. Versions 2 and 4 also
    /// held the new key wrapped under a key derived from the old one (nil from version 6 on).
    public struct PendingRekey: Equatable {
        /// nonce(12) || encrypted new master key(32) || tag(16); only in versions 2 and 4.
        public var wrappedNewMasterKey: [UInt8]?
        public var newSlots: [Slot]

        static func associatedData(vaultID: [UInt8]) -> [UInt8] { Array("sotto-rekey-v2|vault=\(Hex.encode(vaultID))".utf8) }
    }

    public var version: Int
    public var vaultID: [UInt8]
    public var blockSize: Int
    public var slots: [Slot]
    public var rekey: PendingRekey? = nil
    public var checksum: [UInt8] = []
    public var mac: [UInt8] = []

    public var layout: ContentLayout { ContentLayout(blockSize: blockSize) }

    /// The bytes `checksum` and `mac` cover: one field per line, slots by index.
    public var canonicalBytes: [UInt8] {
        var s = "sotto-config-v1\nversion=\(version)\nvaultID=\(Hex.encode(vaultID))\nblockSize=\(blockSize)\n"
        s += "contentCipher=\(Self.contentCipherName)\nnameCipher=\(Self.nameCipherName)\n"
        let labels = carriesLabels
        func line(_ slot: Slot) -> String {
            "slot=\(slot.index) kdf=argon2id m=\(slot.kdf.memoryKiB) t=\(slot.kdf.iterations) p=\(slot.kdf.parallelism)"
                + " salt=\(Hex.encode(slot.salt)) wrapped=\(Hex.encode(slot.wrappedMasterKey))"
                + (labels ? " label=\(Hex.encode(Array(slot.label.utf8)))\n" : "\n")
        }
        for slot in slots.sorted(by: { $0.index < $1.index }) { s += line(slot) }
        // The rekey lines exist only in even (rekeying) versions.
        if let rekey {
            s += rekey.wrappedNewMasterKey.map { "rekey wrapped=\(Hex.encode($0))\n" } ?? "rekey unchained\n"
            for slot in rekey.newSlots.sorted(by: { $0.index < $1.index }) { s += "new " + line(slot) }
        }
        return Array(s.utf8)
    }

    // MARK: Parsing

    public enum LoadError: Error, Equatable {
        /// The file is not a Sotto config, or a field is missing, malformed or out of bounds.
        case damaged(String)
        case unsupportedVersion(Int)
    }

    public static func parse(_ data: [UInt8]) throws(LoadError) -> VaultConfig {
        guard let json = try? JSONSerialization.jsonObject(with: Data(data)), let obj = json as? [String: Any] else {
            throw .damaged("not valid JSON")
        }
        guard obj["format"] as? String == formatName else { throw .damaged("not a Sotto vault config (\"format\" is not \"sotto\")") }
        guard let version = obj["version"] as? Int else { throw .damaged("\"version\" missing") }
        // Checked before anything else: a newer format may have fields this build does not know.
        guard version <= currentVersion else { throw .unsupportedVersion(version) }
        guard knownVersions.contains(version) else { throw .damaged("\"version\" \(version) is not a version any Sotto build writes") }
        guard obj["contentCipher"] as? String == contentCipherName, obj["nameCipher"] as? String == nameCipherName else {
            throw .damaged("unknown cipher (expected \(contentCipherName) and \(nameCipherName))")
        }
        guard let idHex = obj["vaultID"] as? String, let vaultID = Hex.decode(idHex), vaultID.count == vaultIDSize else {
            throw .damaged("\"vaultID\" missing or malformed")
        }
        guard let blockSize = obj["blockSize"] as? Int, ContentLayout.allowedBlockSizes.contains(blockSize) else {
            throw .damaged("\"blockSize\" missing or not one of \(ContentLayout.allowedBlockSizes)")
        }
        guard let rawSlots = obj["slots"] as? [[String: Any]], !rawSlots.isEmpty, rawSlots.count <= maxSlots else {
            throw .damaged("\"slots\" missing, empty, or more than \(maxSlots)")
        }
        let labels = carriesLabels(version)
        let slots = try parseSlots(rawSlots, what: "key slot", labels: labels)
        var rekey: PendingRekey?
        if isRekeyVersion(version) {
            let chained = version < firstUnchainedRekeyVersion
            guard let raw = obj["rekey"] as? [String: Any],
                  let rawNew = raw["newSlots"] as? [[String: Any]], !rawNew.isEmpty, rawNew.count <= maxSlots else {
                throw .damaged("version \(version) config without a well-formed \"rekey\" section")
            }
            var wrapped: [UInt8]?
            if chained {
                guard let wB64 = raw["wrappedNewMasterKey"] as? String, let w = Base64URL.decode(wB64), w.count == KeyWrap.wrappedSize else {
                    throw .damaged("version \(version) config without a well-formed \"rekey\" section")
                }
                wrapped = w
            } else if raw["wrappedNewMasterKey"] != nil {
                throw .damaged("a version \(version) config holds a key chain (\"wrappedNewMasterKey\"), which that version never writes")
            }
            rekey = PendingRekey(wrappedNewMasterKey: wrapped, newSlots: try parseSlots(rawNew, what: "new key slot", labels: labels))
        } else if obj["rekey"] != nil {
            throw .damaged("a \"rekey\" section in a version \(version) config")
        }
        let cost = kdfCost(slots + (rekey?.newSlots ?? []))
        guard cost <= Argon2idParameters.configBudget else {
            throw .damaged("its key slots ask for \(cost >> 20) GiB·passes of Argon2id together, more than the \(Argon2idParameters.configBudget >> 20) GiB·passes any config Sotto writes may (a crafted config would make every unlock take very long); refusing to run them")
        }
        guard let ck = obj["checksum"] as? String, let checksum = Hex.decode(ck), checksum.count == 32,
              let mh = obj["mac"] as? String, let mac = Hex.decode(mh), mac.count == 32 else {
            throw .damaged("\"checksum\" or \"mac\" missing or malformed")
        }
        let config = VaultConfig(version: version, vaultID: vaultID, blockSize: blockSize,
                                 slots: slots, rekey: rekey, checksum: checksum, mac: mac)
        guard let expected = try? Digest.sha256(config.canonicalBytes), Digest.constantTimeEqual(expected, checksum) else {
            throw .damaged("checksum mismatch: the file was altered or corrupted")
        }
        return config
    }

    private static func parseSlots(_ rawSlots: [[String: Any]], what: String, labels: Bool) throws(LoadError) -> [Slot] {
        var slots: [Slot] = []
        for raw in rawSlots {
            guard let index = raw["slot"] as? Int, (0..<maxSlots).contains(index), !slots.contains(where: { $0.index == index }) else {
                throw .damaged("a \(what) has a missing, duplicate or out-of-range index")
            }
            guard raw["kdf"] as? String == "argon2id" else { throw .damaged("\(what) \(index): unknown KDF (expected argon2id)") }
            guard let m = raw["memoryKiB"] as? Int, let t = raw["iterations"] as? Int, let p = raw["parallelism"] as? Int,
                  let mm = UInt32(exactly: m), let tt = UInt32(exactly: t), let pp = UInt32(exactly: p) else {
                throw .damaged("\(what) \(index): KDF parameters missing")
            }
            let kdf = Argon2idParameters(memoryKiB: mm, iterations: tt, parallelism: pp)
            guard kdf.isWithinBounds else {
                throw .damaged("\(what) \(index): KDF parameters m=\(m) KiB t=\(t) p=\(p) are outside the accepted bounds (memory \(Argon2idParameters.memoryKiBRange) KiB, iterations \(Argon2idParameters.iterationsRange), parallelism \(Argon2idParameters.parallelismRange)); refusing to run them")
            }
            guard let saltB64 = raw["salt"] as? String, let salt = Base64URL.decode(saltB64), salt.count == saltSize else {
                throw .damaged("\(what) \(index): salt missing or malformed")
            }
            guard let wB64 = raw["wrappedMasterKey"] as? String, let wrapped = Base64URL.decode(wB64),
                  wrapped.count == AESGCM.nonceSize + VaultKeys.masterKeySize + AESGCM.tagSize else {
                throw .damaged("\(what) \(index): wrapped key missing or malformed")
            }
            var label = ""
            if labels, let raw = raw["label"] {
                guard let text = raw as? String else { throw .damaged("\(what) \(index): \"label\" is not a string") }
                if let problem = SlotLabel.problem(text) { throw .damaged("\(what) \(index): label \(problem)") }
                label = text
            }
            slots.append(Slot(index: index, kdf: kdf, salt: salt, wrappedMasterKey: wrapped, label: label))
        }
        return slots.sorted { $0.index < $1.index }
    }

    /// Stable, human-readable JSON (fixed key order, one slot per line).
    public func serialized() -> [UInt8] {
        var s = "{\n"
        s += "  \"format\": \"\(Self.formatName)\",\n"
        s += "  \"version\": \(version),\n"
        s += "  \"vaultID\": \"\(Hex.encode(vaultID))\",\n"
        s += "  \"blockSize\": \(blockSize),\n"
        s += "  \"contentCipher\": \"\(Self.contentCipherName)\",\n"
        s += "  \"nameCipher\": \"\(Self.nameCipherName)\",\n"
        let labels = carriesLabels
        func json(_ slots: [Slot], indent: String) -> String {
            slots.sorted { $0.index < $1.index }.map { slot in
                indent + "{\"slot\": \(slot.index), \"kdf\": \"argon2id\", \"memoryKiB\": \(slot.kdf.memoryKiB), \"iterations\": \(slot.kdf.iterations), \"parallelism\": \(slot.kdf.parallelism), \"salt\": \"\(Base64URL.encode(slot.salt))\", \"wrappedMasterKey\": \"\(Base64URL.encode(slot.wrappedMasterKey))\""
                    + (labels && !slot.label.isEmpty ? ", \"label\": \(SlotLabel.jsonString(slot.label))}" : "}")
            }.joined(separator: ",\n")
        }
        s += "  \"slots\": [\n" + json(slots, indent: "    ") + "\n  ],\n"
        if let rekey {
            s += "  \"rekey\": {\n"
            if let w = rekey.wrappedNewMasterKey { s += "    \"wrappedNewMasterKey\": \"\(Base64URL.encode(w))\",\n" }
            s += "    \"newSlots\": [\n" + json(rekey.newSlots, indent: "      ") + "\n    ]\n  },\n"
        }
        s += "  \"checksum\": \"\(Hex.encode(checksum))\",\n"
        s += "  \"mac\": \"\(Hex.encode(mac))\"\n"
        s += "}\n"
        return Array(s.utf8)
    }

    // MARK: Keys

    /// Derives the slot's key-encryption key from `password` (Argon2id) and wraps `masterKey`.
    public static func makeSlot(index: Int, masterKey: SecretBytes, password: SecretBytes, kdf: Argon2idParameters,
                                vaultID: [UInt8], label: String = "") throws -> Slot {
        var slot = Slot(index: index, kdf: kdf, salt: try SecureRandom.bytes(saltSize), wrappedMasterKey: [], label: label)
        let kek = try Argon2id.derive(password: password, salt: slot.salt, parameters: kdf, length: AESGCM.keySize)
        slot.wrappedMasterKey = try KeyWrap.wrap(masterKey, under: kek, aad: slot.associatedData(vaultID: vaultID))
        return slot
    }

    /// Tries `password` on every slot; returns the master key and the slot it opened, or nil.
    public func unwrapMasterKey(password: SecretBytes) throws -> (SecretBytes, Int)? {
        var openedButNotAuthentic = false
        for slot in slots {
            guard let master = try Self.open(slot, password: password, vaultID: vaultID) else { continue }
            // A slot someone added that opens with this password to another key does not decide:
            // only a key that also authenticates the config does.
            if try verifyMAC(keys: VaultKeys(masterKey: master, vaultID: vaultID)) { return (master, slot.index) }
            openedButNotAuthentic = true
        }
        if openedButNotAuthentic { throw MACMismatch() }
        return nil
    }

    /// A slot opened with the password, but no key it gave authenticates the config.
    public struct MACMismatch: Error {}

    /// Checks `label` for slot `index` (its rules, and no other slot's label), moving a version-3
    /// config to 5, the first with labels. Version 1 has no labelled successor: `sotto upgrade` first.
    mutating func prepareLabel(_ label: String, forSlot index: Int) throws {
        if let problem = SlotLabel.problem(label) { throw SottoError.invalidArgument("the label \(problem)") }
        if let other = slots.first(where: { $0.index != index && $0.label == label }) {
            throw SottoError.invalidArgument("key slot \(other.index) already has the label '\(label)': labels tell slots apart, so pick another")
        }
        guard !carriesLabels else { return }
        guard version == Self.firstPrimaryIDVersion else {
            throw SottoError.invalidArgument("key slot labels need format v\(Self.firstLabelVersion) and this vault is v\(Self.layoutVersion(version)): run 'sotto upgrade' first")
        }
        version = Self.firstLabelVersion
    }

    /// Checked before a slot is made (its KDF would run first): whether the slots with one more
    /// (or one replaced) stay within the budget.
    func allowsSlot(_ kdf: Argon2idParameters, replacing index: Int? = nil) throws {
        var probe = slots.filter { $0.index != index }
        probe.append(Slot(index: index ?? -1, kdf: kdf, salt: [], wrappedMasterKey: []))
        guard Self.withinKDFBudget(probe) else { throw SottoError.kdfOverBudget }
    }

    /// Whether `slots` together stay within the KDF budget a config may ask for.
    public static func withinKDFBudget(_ slots: [Slot]) -> Bool { kdfCost(slots) <= Argon2idParameters.configBudget }

    /// What a wrong password costs: every slot's memory × passes.
    static func kdfCost(_ slots: [Slot]) -> UInt64 { slots.reduce(0) { $0 + $1.kdf.cost } }

    /// The master key `slot` wraps, if `password` is that slot's.
    public static func open(_ slot: Slot, password: SecretBytes, vaultID: [UInt8]) throws -> SecretBytes? {
        let kek = try Argon2id.derive(password: password, salt: slot.salt, parameters: slot.kdf, length: AESGCM.keySize)
        return try KeyWrap.unwrap(slot.wrappedMasterKey, under: kek, aad: slot.associatedData(vaultID: vaultID))
    }

    /// Recomputes `checksum` and `mac` after a change.
    public mutating func seal(keys: VaultKeys) throws {
        // A version without labels would drop them from the canonical bytes unauthenticated.
        precondition(carriesLabels || (slots + (rekey?.newSlots ?? [])).allSatisfy { $0.label.isEmpty })
        let bytes = canonicalBytes
        checksum = try Digest.sha256(bytes)
        mac = try Digest.hmacSHA256(key: keys.configMAC, bytes)
    }

    public func verifyMAC(keys: VaultKeys) throws -> Bool {
        Digest.constantTimeEqual(try Digest.hmacSHA256(key: keys.configMAC, canonicalBytes), mac)
    }
}


/// A 256-bit key sealed under another with AES-256-GCM: nonce(12) || ciphertext(32) || tag(16).
enum KeyWrap {
    static let wrappedSize = AESGCM.nonceSize + VaultKeys.masterKeySize + AESGCM.tagSize

    static func wrap(_ key: SecretBytes, under kek: SecretBytes, aad: [UInt8]) throws -> [UInt8] {
        precondition(key.count == VaultKeys.masterKeySize)
        var wrapped = [UInt8](repeating: 0, count: wrappedSize)
        let gcm = try AESGCM()
        try wrapped.withUnsafeMutableBytes { w in
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: w[0..<12]))
            try kek.withUnsafeBytes { k in
                try key.withUnsafeBytes { pt in
                    try aad.withUnsafeBytes { a in
                        try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: w[0..<12]), aad: a, plaintext: pt,
                                     ciphertext: UnsafeMutableRawBufferPointer(rebasing: w[12..<44]),
                                     tag: UnsafeMutableRawBufferPointer(rebasing: w[44..<60]))
                    }
                }
            }
        }
        return wrapped
    }

    /// The key, or nil if `kek` or `aad` is not the one it was wrapped with.
    static func unwrap(_ wrapped: [UInt8], under kek: SecretBytes, aad: [UInt8]) throws -> SecretBytes? {
        precondition(wrapped.count == wrappedSize)
        let key = SecretBytes(count: VaultKeys.masterKeySize)
        let gcm = try AESGCM()
        do {
            try kek.withUnsafeBytes { k in
                try key.withUnsafeMutableBytes { out in
                    try aad.withUnsafeBytes { a in
                        try wrapped.withUnsafeBytes { w in
                            try gcm.open(key: k, nonce: UnsafeRawBufferPointer(rebasing: w[0..<12]), aad: a,
                                         ciphertext: UnsafeRawBufferPointer(rebasing: w[12..<44]),
                                         tag: UnsafeRawBufferPointer(rebasing: w[44..<60]), plaintext: out)
                        }
                    }
                }
            }
        } catch CryptoError.authenticationFailed {
            return nil
        }
        return key
    }
}
