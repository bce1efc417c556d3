/// Every failure the CLI reports: one line naming what failed and what to do, and a stable exit
/// code (documented in docs/cli.md; never renumber).
public enum SottoError: Error, CustomStringConvertible, Equatable {
    case usage(String)
    case vaultMissing(path: String)
    case notAVault(path: String)
    case configDamaged(path: String, detail: String)
    case wrongPassword
    case unsupportedVersion(found: Int, supported: Int)
    case vaultNotEmpty(path: String)
    case passwordInput(String)
    case integrity(path: String, backingPath: String, detail: String)
    case notFound(path: String)
    case io(operation: String, path: String, errno: Errno)
    case exists(path: String)
    case invalidArgument(String)
    case mountpoint(String)
    case mountFailed(String)
    case notMounted(String)
    case busy(String)
    case keySlot(String)
    case rekeyInProgress(path: String)
    case `internal`(String)

    public enum ExitCode {
        public static let success: Int32 = 0
        public static let `internal`: Int32 = 1
        public static let usage: Int32 = 2
        public static let vaultMissing: Int32 = 10
        public static let configDamaged: Int32 = 11
        public static let wrongPassword: Int32 = 12
        public static let unsupportedVersion: Int32 = 13
        public static let vaultNotEmpty: Int32 = 14
        public static let passwordInput: Int32 = 15
        public static let integrity: Int32 = 16
        public static let notFound: Int32 = 17
        public static let io: Int32 = 18
        public static let exists: Int32 = 19
        public static let mountpoint: Int32 = 20
        public static let mountFailed: Int32 = 21
        public static let notMounted: Int32 = 22
        public static let busy: Int32 = 23
        /// `fsck` found damage (its report lists it).
        public static let damageFound: Int32 = 24
        /// No such key slot, the last slot, or all slots in use.
        public static let keySlot: Int32 = 25
        /// A `sotto rekey` was interrupted; rerun it to finish before anything else opens the vault.
        public static let rekeyInProgress: Int32 = 26
    }

    public var exitCode: Int32 {
        switch self {
        case .usage, .invalidArgument: return ExitCode.usage
        case .vaultMissing, .notAVault: return ExitCode.vaultMissing
        case .configDamaged: return ExitCode.configDamaged
        case .wrongPassword: return ExitCode.wrongPassword
        case .unsupportedVersion: return ExitCode.unsupportedVersion
        case .vaultNotEmpty: return ExitCode.vaultNotEmpty
        case .passwordInput: return ExitCode.passwordInput
        case .integrity: return ExitCode.integrity
        case .notFound: return ExitCode.notFound
        case .io: return ExitCode.io
        case .exists: return ExitCode.exists
        case .mountpoint: return ExitCode.mountpoint
        case .mountFailed: return ExitCode.mountFailed
        case .notMounted: return ExitCode.notMounted
        case .busy: return ExitCode.busy
        case .keySlot: return ExitCode.keySlot
        case .rekeyInProgress: return ExitCode.rekeyInProgress
        case .internal: return ExitCode.internal
        }
    }

    public var description: String {
        switch self {
        case .usage(let s), .invalidArgument(let s), .mountpoint(let s), .mountFailed(let s), .notMounted(let s), .busy(let s), .keySlot(let s): return s
        case .vaultMissing(let p):
            return "vault directory '\(p)' does not exist: check the path, or create a vault with 'sotto init \(p)'"
        case .notAVault(let p):
            return "'\(p)' is not a Sotto vault (no \(BackingName.configFile)): check the path, or create one with 'sotto init'"
        case .configDamaged(let p, let d):
            var s = "vault config '\(p)/\(BackingName.configFile)' is damaged: \(d)"
            if FileSystem.exists(p + "/" + BackingName.configBackupFile) {
                s += "; a backup of the previous config is at '\(p)/\(BackingName.configBackupFile)' (copy it over \(BackingName.configFile) to use it)"
            }
            return s
        case .wrongPassword: return "wrong password: no key slot of this vault opens with it"
        case .unsupportedVersion(let f, let s):
            return "vault format version \(f) is newer than this build supports (up to \(s)): upgrade sotto"
        case .vaultNotEmpty(let p):
            return "'\(p)' is not empty: 'sotto init' only uses a new or empty directory"
        case .passwordInput(let s): return s
        case .integrity(let p, let b, let d):
            return "'\(p)' is damaged or was tampered with (vault file '\(b)'): \(d); nothing unauthenticated was output"
        case .notFound(let p): return "'\(p)' does not exist in the vault"
        case .io(let op, let p, let e): return "\(op) '\(p)' failed: \(e)"
        case .exists(let p): return "'\(p)' already exists: choose another destination or remove it first"
        case .rekeyInProgress(let p):
            return "a master-key rotation of '\(p)' was interrupted: run 'sotto rekey \(p)' again to finish it (nothing else opens the vault until then)"
        case .internal(let s): return "internal error: \(s)"
        }
    }
}

/// Wraps a syscall error with what was being done and to which path.
@inline(__always)
@discardableResult
public func io<T>(_ operation: String, _ path: @autoclosure () -> String, _ body: () throws(Errno) -> T) throws(SottoError) -> T {
    do { return try body() } catch { throw SottoError.io(operation: operation, path: path(), errno: error) }
}

extension SottoError {
    /// Key slots that would together ask for more Argon2id work than a config may.
    static var kdfOverBudget: SottoError {
        .invalidArgument("the key slots would together ask for more Argon2id work than a vault may (\(Argon2idParameters.configBudget >> 20) GiB·passes of memory × time over all slots): choose a smaller --kdf-memory or --kdf-time")
    }
}
