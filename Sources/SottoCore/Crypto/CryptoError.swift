/// What a crypto primitive reports: a library failure, or data that does not authenticate.
public enum CryptoError: Error, CustomStringConvertible, Equatable {
    /// An OpenSSL or libargon2 call failed for a reason other than authentication.
    case openssl(String)
    case argon2(String)
    /// The ciphertext, tag, nonce or associated data do not match: damaged or tampered data,
    /// or the wrong key.
    case authenticationFailed

    public var description: String {
        switch self {
        case .openssl(let what): return "OpenSSL call failed: \(what)"
        case .argon2(let what): return "Argon2 failed: \(what)"
        case .authenticationFailed: return "authentication failed"
        }
    }
}
