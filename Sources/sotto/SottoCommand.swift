import ArgumentParser
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
                report(fullMessage(for: error))
                code = SottoError.ExitCode.usage
            }
        }
        Glibc.exit(code)
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
    @Argument(help: ArgumentHelp("The vault directory (holds only ciphertext).", valueName: "VAULT"))
    var vault: String
}

/// Writes to stdout through the fd, unbuffered, for file contents.
func writeStdout(_ bytes: UnsafeRawBufferPointer) throws {
    do { try FileDescriptor(rawValue: 1).writeAll(bytes) } catch {
        throw SottoError.io(operation: "write", path: "standard output", errno: error)
    }
}
