import ArgumentParser
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a password comes from. Never argv: a password on the command line is visible to every
/// user through /proc and lands in shell history.
struct PasswordOptions: ParsableArguments {
    @Option(name: .customLong("password-file"), help: ArgumentHelp("Read the password from the first line of FILE.", valueName: "FILE"), completion: .file())
    var passwordFile: String?

    @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.")
    var passwordStdin = false

    @Option(name: .customLong("extpass"), help: ArgumentHelp("Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.", valueName: "CMD"))
    var extpass: String?

    /// Whether a source was named (otherwise `read` asks on the terminal).
    var isGiven: Bool { passwordFile != nil || passwordStdin || extpass != nil }

    func validate() throws {
        if [passwordFile != nil, passwordStdin, extpass != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give only one of --password-file, --password-stdin and --extpass")
        }
    }

    /// The password, from the file, stdin, or a no-echo prompt on the terminal (asked twice when
    /// `confirm`).
    func read(prompt: String = "Password: ", confirm: Bool = false) throws -> SecretBytes {
        if let passwordFile { return try PasswordReader.firstLine(ofFile: passwordFile) }
        if passwordStdin { return try PasswordReader.firstLine(of: FileDescriptor(rawValue: 0), source: "standard input") }
        if let extpass { return try PasswordReader.firstLine(ofCommand: extpass) }
        return try PasswordReader.prompt(prompt, confirm: confirm)
    }
}

/// The rule for a password being set (init, passwd, key add): anyone with a copy of the vault can
/// guess offline, at the KDF's cost per guess, so a short one is refused unless asked for.
struct NewPasswordOptions: ParsableArguments {
    @Flag(name: .customLong("weak-password-ok"), help: "Accept a new password shorter than 8 characters (throwaway vaults, tests).")
    var weakPasswordOK = false

    static let minimumCharacters = 8
    static let recommendedCharacters = 12

    /// Refuses a password under 8 characters (unless --weak-password-ok), warns under 12.
    func check(_ password: SecretBytes) throws {
        // Characters, not bytes: count the bytes that start a UTF-8 sequence (no copy of the secret).
        let n = password.withUnsafeBytes { $0.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }
        if n < Self.minimumCharacters && !weakPasswordOK {
            throw SottoError.passwordInput("a password of \(n) characters can be guessed offline by anyone with a copy of the vault: use at least \(Self.minimumCharacters) (a passphrase of four or five random words is best), or pass --weak-password-ok; nothing was changed")
        }
        if n < Self.recommendedCharacters {
            Sotto.report("warning: a password of \(n) characters is short; a passphrase of four or five random words resists offline guessing far better")
        }
    }
}

enum PasswordReader {
    static let maxLength = 4096

    static func firstLine(ofFile path: String) throws -> SecretBytes {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path, flags: O_RDONLY) } catch {
            throw SottoError.passwordInput("cannot read password file '\(path)': \(error)")
        }
        defer { fd.close() }
        return try firstLine(of: fd, source: "password file '\(path)'")
    }

    /// Runs `command` with /bin/sh and reads the first line it prints; its stderr goes to ours.
    static func firstLine(ofCommand command: String) throws -> SecretBytes {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SottoError.passwordInput("cannot run --extpass: \(Errno.current)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        var argv: [UnsafeMutablePointer<CChar>?] = [String]([ "/bin/sh", "-c", command ]).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, &argv, environ)
        close(fds[1])
        guard rc == 0 else { close(fds[0]); throw SottoError.passwordInput("cannot run --extpass command: \(Errno(rc))") }
        let result = Result { try firstLine(of: FileDescriptor(rawValue: fds[0]), source: "the --extpass command") }
        close(fds[0])
        let status = waitForChild(pid)
        guard status?.succeeded == true else {
            let how = status?.exitCode.map { "exit status \($0)" } ?? "killed, or not waited for"
            throw SottoError.passwordInput("the --extpass command failed (\(how)): nothing was unlocked")
        }
        return try result.get()
    }

    /// Reads up to the first newline, byte by byte into a secret buffer (so nothing past the line
    /// is consumed from a pipe and no copy of the password is left in an ordinary array).
    static func firstLine(of fd: FileDescriptor, source: String, allowEmpty: Bool = false) throws -> SecretBytes {
        let buf = SecretBytes(count: maxLength + 1)
        var n = 0
        let ok: Bool = buf.withUnsafeMutableBytes { b in
            while n <= maxLength {
                var r: Int
                repeat { r = Glibc.read(fd.rawValue, b.baseAddress! + n, 1) } while r < 0 && errno == EINTR
                if r < 0 { return false }
                if r == 0 || b[n] == 0x0A { break }
                n += 1
            }
            return true
        }
        guard ok else { throw SottoError.passwordInput("cannot read the password from \(source): \(Errno.current)") }
        guard n <= maxLength else { throw SottoError.passwordInput("the password from \(source) is longer than \(maxLength) bytes") }
        if n > 0, buf.withUnsafeBytes({ $0[n - 1] }) == 0x0D { n -= 1 }
        guard n > 0 || allowEmpty else { throw SottoError.passwordInput("the password from \(source) is empty") }
        return buf.slice(0..<n)
    }

    /// `allowEmpty`: Enter alone is an answer (an empty secret), as where it means "drop this slot".
    static func prompt(_ text: String, confirm: Bool, allowEmpty: Bool = false) throws -> SecretBytes {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else {
            throw SottoError.passwordInput("no terminal to ask for the password on: use --password-file FILE or --password-stdin")
        }
        defer { close(tty) }
        let first = try promptOnce(text, tty: tty, allowEmpty: allowEmpty)
        guard confirm else { return first }
        let second = try promptOnce("Repeat password: ", tty: tty)
        guard first.isEqual(to: second) else { throw SottoError.passwordInput("the two passwords differ: nothing was changed") }
        return first
    }

    private static func promptOnce(_ text: String, tty: Int32, allowEmpty: Bool = false) throws -> SecretBytes {
        var saved = termios()
        let isTerminal = tcgetattr(tty, &saved) == 0
        if isTerminal {
            var noEcho = saved
            noEcho.c_lflag &= ~tcflag_t(ECHO)
            noEcho.c_lflag |= tcflag_t(ICANON)
            PromptSignals.begin(tty: tty, saved: saved)
            _ = tcsetattr(tty, TCSAFLUSH, &noEcho)
        }
        defer {
            if isTerminal {
                _ = tcsetattr(tty, TCSAFLUSH, &saved)
                PromptSignals.end()
            }
            _ = write(tty, "\n", 1)
        }
        _ = text.withCString { write(tty, $0, strlen($0)) }
        return try firstLine(of: FileDescriptor(rawValue: tty), source: "the terminal", allowEmpty: allowEmpty)
    }
}

/// A signal while the password prompt has echo off (Ctrl-C, a closed terminal, kill) restores the
/// terminal before the process ends, as it would have been killed: some shells (dash) leave a
/// terminal as a killed program left it, typing then invisible. Ctrl-Z restores it too, and
/// turns echo off again on resuming.
enum PromptSignals {
    static let ending: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
    static let stopping: [Int32] = [SIGTSTP, SIGCONT]
    nonisolated(unsafe) private static var previous: [Int32: sigaction] = [:]

    static func begin(tty: Int32, saved: termios) {
        // Heap storage the handler reads with plain loads: nothing lazy or tracked in a handler.
        let stored = UnsafeMutablePointer<termios>.allocate(capacity: 1)
        stored.initialize(to: saved)
        promptSaved = stored
        promptTerminal = tty
        for s in ending + stopping {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = onPromptSignal
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            var old = sigaction()
            sigaction(s, &action, &old)
            previous[s] = old
        }
    }

    static func end() {
        for (s, old) in previous {
            var o = old
            sigaction(s, &o, nil)
        }
        previous = [:]
        promptTerminal = -1
        if let stored = promptSaved {
            promptSaved = nil
            stored.deinitialize(count: 1)
            stored.deallocate()
        }
    }
}

nonisolated(unsafe) private var promptTerminal: Int32 = -1
nonisolated(unsafe) private var promptSaved: UnsafeMutablePointer<termios>?

/// Async-signal-safe: tcsetattr, write, signal and raise only.
private func onPromptSignal(_ signal: Int32) {
    let tty = promptTerminal
    guard tty >= 0, let saved = promptSaved else { return }
    if signal == SIGCONT {
        var noEcho = saved.pointee
        noEcho.c_lflag &= ~tcflag_t(ECHO)
        _ = tcsetattr(tty, TCSANOW, &noEcho)
        return
    }
    _ = tcsetattr(tty, TCSANOW, saved)
    if signal != SIGTSTP { _ = write(tty, "\n", 1) }
    // Now as if never caught: the default action ends (or, for Ctrl-Z, stops) the process.
    let stop = signal == SIGTSTP
    _ = Glibc.signal(signal, SIG_DFL)
    _ = raise(signal)
    if stop {  // resumed: catch Ctrl-Z again
        var action = sigaction()
        action.__sigaction_handler.sa_handler = onPromptSignal
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGTSTP, &action, nil)
    }
}
