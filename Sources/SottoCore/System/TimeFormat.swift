#if canImport(Glibc)
import Glibc
#endif

/// strftime over a Unix time, in UTC or local time.
public enum TimeFormat {
    public static func format(_ seconds: Int = Int(time(nil)), _ pattern: String, utc: Bool = true) -> String {
        var t = time_t(seconds)
        var tmv = tm()
        if utc { gmtime_r(&t, &tmv) } else { localtime_r(&t, &tmv) }
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, pattern, &tmv)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
