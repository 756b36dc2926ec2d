import Glibc
import Testing
@testable import BerthSystem

/// RFC 3339 in UTC with nine fraction digits, as runc and dockerd write `created` and `finishedAt`.
@Suite struct TimestampTests {
    @Test func formatsPaddedUTCWithNanoseconds() {
        #expect(Timestamp.format(timespec(tv_sec: 0, tv_nsec: 5)) == "1970-01-01T00:00:00.000000005Z")
        #expect(Timestamp.format(timespec(tv_sec: 1_796_535_562, tv_nsec: 123_000_000)) == "2026-12-06T05:39:22.123000000Z")
        #expect(Timestamp.format(timespec(tv_sec: 951_782_400, tv_nsec: 999_999_999)) == "2000-02-29T00:00:00.999999999Z")
        #expect(Timestamp.format(timespec(tv_sec: -1, tv_nsec: 0)) == "1969-12-31T23:59:59.000000000Z")
        // out-of-range parts are clamped, never trapped on
        #expect(Timestamp.format(timespec(tv_sec: 0, tv_nsec: -5)) == "1970-01-01T00:00:00.000000000Z")
        #expect(Timestamp.format(timespec(tv_sec: .max, tv_nsec: .max)).hasSuffix(".999999999Z"))
        #expect(Timestamp.format(timespec(tv_sec: .min, tv_nsec: 0)).hasPrefix("-"))
    }

    /// Every day for 600 years, around the epoch and past 2100's skipped leap day, agrees with gmtime_r.
    @Test func civilDatesAgreeWithGlibc() {
        for days in stride(from: -73_000, to: 146_100, by: 1) {
            var seconds = days * 86_400 + 3_723
            var t = tm()
            gmtime_r(&seconds, &t)
            let got = Timestamp.format(timespec(tv_sec: seconds, tv_nsec: 0))
            let year = Int(t.tm_year) + 1900, month = Int(t.tm_mon) + 1, day = Int(t.tm_mday)
            let date = Self.padded(year, 4) + "-" + Self.padded(month, 2) + "-" + Self.padded(day, 2)
            let expected = date + "T01:02:03.000000000Z"
            if got != expected {
                Issue.record("\(days): \(got) != \(expected)")
                return
            }
        }
    }

    @Test func roundTripsThroughParse() {
        let text = Timestamp.format(timespec(tv_sec: 1_700_000_000, tv_nsec: 250_000_000))
        #expect(Timestamp.parse(text) == 1_700_000_000.25)
    }

    static func padded(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
