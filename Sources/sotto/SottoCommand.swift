import ArgumentParser
import Foundation
import SottoCore
import CSottoShims
#if canImport(Glibc)
import Glibc
#endif

@main
struct Sotto: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "sotto",
        abstract: "Keep private transcripts and recordings encrypted at rest.",
        discussion: "Exit codes are stable and listed in docs/cli.md.",
        // The libcrypto loaded decides the cipher's speed: say which one.
        version: "\(version) (\(AESGCM.libraryVersion))",
        subcommands: [Init.self, Passwd.self, Info.self, Upgrade.self, MountCommand.self, Unmount.self, Status.self, Fsck.self, Key.self, RecoveryKeyCommand.self, Rekey.self, Import.self, Export.self, Cat.self, List.self]
    )

    /// Runs the command and maps every failure to one line on stderr and a documented exit code.
    static func main() {
        // Before anything can hold a password or a key, for every command: no core dump (which
        // would write them to disk) and no ptrace or /proc/PID/mem by other processes of the user.
        _ = sotto_set_not_dumpable()
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)
        let code: Int32
        if let unknown = unknownCommand(in: Array(CommandLine.arguments.dropFirst())) {
            report(unknown)
            Glibc.exit(SottoError.ExitCode.usage)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
            code = SottoError.ExitCode.success
        } catch let error as SottoError {
            report(error.description)
            code = error.exitCode
        } catch let error as Errno {
            report(error.description)
            code = SottoError.ExitCode.io
        } catch let error as CryptoError {
            report("\(error)")
            code = SottoError.ExitCode.internal
        } catch {
            // ArgumentParser: --help / --version (exit 0, to stdout) or a usage error (exit 2).
            let parserCode = exitCode(for: error)
            if parserCode == .success {
                print(fullMessage(for: error))
                code = SottoError.ExitCode.success
            } else {
                report(usageLine(for: error))
                code = SottoError.ExitCode.usage
            }
        }
        Glibc.exit(code)
    }

    /// The first argument names no command: what to say (with the nearest command, if one is
    /// close), or nil when it is a command or an option.
    static func unknownCommand(in args: [String]) -> String? {
        guard let first = args.first, !first.hasPrefix("-") else { return nil }
        let names = configuration.subcommands.map { $0._commandName } + ["help"]
        guard !names.contains(first) else { return nil }
        let nearest = names.map { (name: $0, distance: editDistance(first, $0)) }.min { $0.distance < $1.distance }
        let hint = nearest.flatMap { $0.distance <= 2 || $0.name.hasPrefix(first) ? "; did you mean '\($0.name)'?" : nil } ?? ""
        return "unknown command '\(first)'\(hint) (the commands: 'sotto --help')"
    }

    /// Levenshtein distance, for "did you mean".
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }

    /// A usage error as one line, as every error is: the message, the usage, where help is
    /// (ArgumentParser's own text is several lines and starts with its own "Error: ").
    static func usageLine(for error: Error) -> String {
        let lines = fullMessage(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var message = lines.first ?? "usage error"
        if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
        let usage = lines.first { $0.hasPrefix("Usage: ") }.map { "usage: " + $0.dropFirst("Usage: ".count) }
        let help = lines.first { $0.hasPrefix("See '") }.map { "see " + $0.dropFirst(4).replacingOccurrences(of: " for more information.", with: "") }
        return [message, usage, help].compactMap { $0 }.joined(separator: "; ")
    }

    /// One progress line on stderr, rewritten in place; nil clears it.
    static func progress(_ message: String?) {
        let line = "\r\u{1B}[K" + (message ?? "")
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// One message on stderr; names in it may come from the vault directory, so it is escaped.
    static func report(_ message: String) {
        let line = "sotto: " + TerminalText.escaped(message) + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

/// The vault directory argument shared by every command.
struct VaultArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("The vault directory (holds only ciphertext).", valueName: "VAULT"), completion: .directory)
    var vault: String
}

/// Every `--json` output: one object with `"schema": 1` (fields are only added within a schema
/// version), keys sorted, slashes as they are.
enum JSONOutput {
    static let schema = 1

    static func print(_ fields: [String: Any]) throws {
        var document = fields
        document["schema"] = schema
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        Swift.print(String(decoding: data, as: UTF8.self))
    }

    /// A key slot as `info` and `key list` show it.
    static func slot(_ s: VaultConfig.Slot) -> [String: Any] {
        let recovery = SlotKind.isRecoveryKey(s)
        return ["index": s.index, "kind": recovery ? "recovery-key" : "password", "label": s.label,
                "kdf": ["algorithm": "argon2id", "memoryKiB": Int(s.kdf.memoryKiB), "iterations": Int(s.kdf.iterations),
                        "parallelism": Int(s.kdf.parallelism)],
                "weakerThanRecommended": !recovery && s.kdf.isWeakerThanRecommended]
    }
}

/// How a key slot is shown. A recovery-key slot is told by its KDF parameters (a 256-bit random
/// key needs no memory-hard stretching, so it gets the lightest): it is not a weak password.
enum SlotKind {
    static func isRecoveryKey(_ s: VaultConfig.Slot) -> Bool { s.kdf == RecoveryKey.kdf }

    /// `slot 2 'old laptop': password, …` (the label escaped: it comes from the vault directory).
    static func line(_ s: VaultConfig.Slot) -> String { "slot \(s.index)\(quoted(s.label)): " + describe(s) }

    /// ` 'label'`, escaped, to follow a slot number; nothing for no label.
    static func quoted(_ label: String) -> String { label.isEmpty ? "" : " '\(TerminalText.escaped(label))'" }

    static func describe(_ s: VaultConfig.Slot) -> String {
        if isRecoveryKey(s) { return "recovery key (256 random bits; the light KDF is by design)" }
        return "password, Argon2id memory \(s.kdf.memoryKiB / 1024) MiB, \(s.kdf.iterations) passes, \(s.kdf.parallelism) lanes"
            + (s.kdf.isWeakerThanRecommended ? " (weaker than RFC 9106's recommendation)" : "")
    }
}

/// Writes to stdout through the fd, unbuffered, for file contents.
func writeStdout(_ bytes: UnsafeRawBufferPointer) throws {
    do { try FileDescriptor(rawValue: 1).writeAll(bytes) } catch {
        throw SottoError.io(operation: "write", path: "standard output", errno: error)
    }
}
