import Testing
@testable import BerthEngine

/// `until` as moby's timetypes reads it, and the label filters as MatchKVList.
@Suite struct PruneFiltersTests {
    let now = 1_700_000_000.0

    @Test func untilReadsDurationsDatesAndTimestamps() throws {
        #expect(try PruneFilters.time("24h", now: now) == now - 86_400)
        #expect(try PruneFilters.time("1h30m", now: now) == now - 5_400)
        #expect(try PruneFilters.time("2023-11-14", now: now) == 1_699_920_000)
        #expect(try PruneFilters.time("2023-11-14T22:13", now: now) == 1_700_000_000 - 20)
        #expect(try PruneFilters.time("2023-11-14T22:13:20Z", now: now) == 1_700_000_000)
        #expect(try PruneFilters.time("2023-11-14T23:13:20+01:00", now: now) == 1_700_000_000)
        #expect(try PruneFilters.time("1700000000", now: now) == 1_700_000_000)
        #expect(try PruneFilters.time("1700000000.5", now: now) == 1_700_000_000.5)
        #expect(throws: EngineError.self) { try PruneFilters.time("yesterday", now: now) }
        #expect(throws: EngineError.self) { try PruneFilters.time("2023-13-99Tx", now: now) }
    }

    @Test func selectsByTimeAndLabels() throws {
        let filters = try PruneFilters(["until": ["1h"], "label": ["keep=no"], "label!": ["pinned"]], accepted: ["until", "label", "label!"], now: now)
        #expect(filters.selects(created: now - 7_200, labels: ["keep": "no"]))
        #expect(!filters.selects(created: now - 60, labels: ["keep": "no"]))  // too recent
        #expect(!filters.selects(created: now - 7_200, labels: ["keep": "yes"]))
        #expect(!filters.selects(created: now - 7_200, labels: ["keep": "no", "pinned": ""]))
        #expect(throws: EngineError.invalid("invalid filter 'dangling'")) { try PruneFilters(["dangling": ["true"]], accepted: ["until"]) }
        #expect(throws: EngineError.self) { try PruneFilters(["until": ["1h", "2h"]], accepted: ["until"]) }
    }
}
