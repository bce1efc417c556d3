import CFuse3
import CFuseRing
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

// Every request's way in (its mount) and out (an errno for any error).

/// The mount a request belongs to.
@inline(__always)
func mount(of request: fuse_req_t?) -> Mount {
    Unmanaged<Mount>.fromOpaque(fuse_req_userdata(request)).takeUnretainedValue()
}

/// Runs one request: `body` sends the reply on success; any error becomes `fuse_reply_err`.
/// Damage is logged with the file it is in and answered with EIO, never with data.
@inline(__always)
func handle(_ request: fuse_req_t?, _ body: (Mount) throws -> Void) {
    let m = mount(of: request)
    m.supervisor?.touch()
    do {
        try body(m)
    } catch {
        fuse_reply_err(request, m.errnoValue(for: error))
    }
}

extension Mount {
    func errnoValue(for error: Error) -> Int32 {
        switch error {
        case let e as Errno: return e.rawValue
        case let e as SottoError:
            switch e {
            case .io(_, _, let errno): return errno.rawValue
            case .notFound: return ENOENT
            case .exists: return EEXIST
            case .integrity:
                log.error(e.description)
                notifier.tell(once: "damage", summary: "Sotto: damaged files in \(mountpoint ?? "the vault")",
                              body: "Some files failed authentication (damaged, or changed outside Sotto) and cannot be read. The log names them; 'sotto fsck' checks the whole vault.")
                return EIO
            default:
                log.error(e.description)
                return EIO
            }
        default:
            log.error("\(error)")
            return EIO
        }
    }
}
