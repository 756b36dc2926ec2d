import Glibc
import Testing
@testable import BerthSystem

/// RFC 3339 in UTC with nine fraction digits, as runc and dockerd write `created` and `finishedAt`.
@Suite struct TimestampTests {
    @Test func formatsPaddedUTCWithNanoseconds() {
        #expect(Timestamp.format(timespec(tv_sec: 0, tv_nsec: 5)) == "1970-01-01T00:00:00.000000005Z")
        #expect(Timestamp.format(timespec(tv_sec: 1_796_535_562, tv_nsec: 123_000_000)) == "2026-12-06T05:39:22.123000000Z")
        #expect(Timestamp.format(timespec(tv_sec: 951_782_400, tv_nsec: 999_999_999)) == "2000-02-29T00:00:00.999999999Z")
    }

    @Test func roundTripsThroughParse() {
        let text = Timestamp.format(timespec(tv_sec: 1_700_000_000, tv_nsec: 250_000_000))
        #expect(Timestamp.parse(text) == 1_700_000_000.25)
    }
}
