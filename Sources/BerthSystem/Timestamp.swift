import Glibc

/// RFC 3339 with nanoseconds in UTC, the `created` format runc and docker print.
public enum Timestamp {
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return format(ts)
    }

    /// The civil date computed here and written digit by digit: glibc's gmtime_r and strftime
    /// both initialise the time zone, which reads /etc/localtime once in every process, and each
    /// shim (a fresh fork) formats an exit time, each runtime a creation.
    public static func format(_ ts: timespec) -> String {
        // ±2^40 s (about 35,000 years) keeps every product below overflow whatever a file's time says.
        let seconds = min(max(Int(ts.tv_sec), -(1 << 40)), 1 << 40)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let daySeconds = seconds - days * 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return value < 0 || text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        let nanos = min(max(Int(ts.tv_nsec), 0), 999_999_999)
        return digits(year, 4) + "-" + digits(month, 2) + "-" + digits(day, 2) + "T" + digits(daySeconds / 3600, 2) + ":"
            + digits(daySeconds / 60 % 60, 2) + ":" + digits(daySeconds % 60, 2) + "." + digits(nanos, 9) + "Z"
    }

    /// Year, month and day of the proleptic Gregorian calendar (Howard Hinnant's civil_from_days:
    /// 400-year eras starting on March 1st, so the leap day is each era-year's last).
    static func civilDate(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Seconds since the epoch of an RFC 3339 UTC time (`2026-01-02T03:04:05.123Z`), or nil.
    public static func parse(_ text: String) -> Double? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var n = 0
            for c in b[from..<(from + count)] { guard c >= 48 && c <= 57 else { return nil }; n = n * 10 + Int(c - 48) }
            return n
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
              let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900); t.tm_mon = Int32(month - 1); t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour); t.tm_min = Int32(minute); t.tm_sec = Int32(second)
        var fraction = 0.0
        if b.count > 19 && b[19] == 46 {
            var scale = 0.1
            var i = 20
            while i < b.count, b[i] >= 48 && b[i] <= 57 { fraction += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
        }
        return Double(timegm(&t)) + fraction
    }

    /// Now, as seconds since the epoch.
    public static func epochNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Docker's human duration (go-units `HumanDuration`): "Less than a second", "About a minute", "3 hours".
    public static func humanDuration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 1 { return "Less than a second" }
        if s == 1 { return "1 second" }
        if s < 60 { return "\(s) seconds" }
        let minutes = Int(seconds / 60)
        if minutes == 1 { return "About a minute" }
        if minutes < 60 { return "\(minutes) minutes" }
        let hours = Int(seconds / 3600 + 0.5)
        if hours == 1 { return "About an hour" }
        if hours < 48 { return "\(hours) hours" }
        if hours < 24 * 7 * 2 { return "\(hours / 24) days" }
        if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks" }
        if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months" }
        return "\(hours / 24 / 365) years"
    }
}

/// Seconds on the monotonic clock, for timeouts that must not jump with the wall clock.
public enum Monotonic {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
