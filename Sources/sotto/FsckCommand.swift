import ArgumentParser
import Foundation
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

struct Fsck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every name, file header, block and symlink of a vault; change nothing.",
        discussion: "Exit 0 when no damage is found (warnings allowed), 24 when damage is found.")

    @OptionGroup var vault: VaultArgument
    @Flag(name: .customLong("json"), help: "Print the report as JSON (for scripts).")
    var json = false
    @Flag(name: .customLong("quarantine"), help: "Move damaged entries aside into VAULT/sotto.quarantine/ (never deletes).")
    var quarantine = false
    @OptionGroup var password: PasswordOptions

    func run() throws {
        let v = try unlock(vault, password)
        let onTerminal = isatty(2) == 1 && !json
        var lastShown = 0.0
        let report = v.check { r in
            guard onTerminal else { return }
            let now = Date().timeIntervalSince1970
            if now - lastShown > 0.2 {
                lastShown = now
                Sotto.progress("checked \(r.files) files, \(r.bytes / 1_000_000) MB")
            }
        }
        if onTerminal { Sotto.progress(nil) }
        var moved: [(from: String, to: String)] = []
        if quarantine { moved = try v.quarantine(report) }
        // The config's checksum and MAC were verified when the vault opened; every slot's fields,
        // bounds and encodings when it was parsed. Only the slot this password opened can be
        // decrypted: the others need their own passwords.
        let slots = v.config.slots.map { $0.index }
        let slotLine = "config: checksum and MAC verified; key slots \(slots.map(String.init).joined(separator: ", ")) well-formed, slot \(v.unlockedSlot) opens with this password"
        if json {
            printJSON(report, moved: moved, slots: slots, opened: v.unlockedSlot)
        } else {
            print(slotLine)
            for f in report.findings {
                let label = f.severity == .damage ? "DAMAGE " : "warning"
                print(TerminalText.escaped("\(label) \(f.plainPath ?? "(name unreadable)"): \(f.problem) [vault: \(f.vaultPath)]"))
            }
            for m in moved { print(TerminalText.escaped("moved aside: \(m.from) -> \(m.to)")) }
            let summary = "\(report.files) files (\(report.bytes) bytes), \(report.directories) folders, \(report.symlinks) symlinks checked"
            print(report.isClean ? "clean: \(summary)" : "\(report.damageCount) damaged: \(summary)")
        }
        if !report.isClean { Glibc.exit(SottoError.ExitCode.damageFound) }
    }

    private func printJSON(_ r: FsckReport, moved: [(from: String, to: String)], slots: [Int], opened: Int) {
        let findings: [[String: Any]] = r.findings.map { f in
            var o: [String: Any] = ["severity": f.severity.rawValue, "vaultPath": f.vaultPath, "problem": f.problem]
            if let p = f.plainPath { o["plainPath"] = p }
            return o
        }
        let obj: [String: Any] = ["clean": r.isClean, "damaged": r.damageCount, "files": r.files, "directories": r.directories,
                                  "symlinks": r.symlinks, "bytes": r.bytes, "findings": findings,
                                  "quarantined": moved.map { ["from": $0.from, "to": $0.to] },
                                  "config": ["checksum": "ok", "mac": "ok", "slots": slots, "openedSlot": opened]]
        if let data = try? JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
