import Glibc

/// RFC 3339 with nanoseconds in UTC, the `created` format runc and docker print.
enum Timestamp {
    static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var seconds = ts.tv_sec
        gmtime_r(&seconds, &t)
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &t)
        let nanos = String(ts.tv_nsec)
        return String(cString: buffer) + "." + String(repeating: "0", count: 9 - nanos.count) + nanos + "Z"
    }
}
