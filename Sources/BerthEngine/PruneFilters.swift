import BerthBuild
import BerthSystem
import Glibc

/// dockerd's prune filters (daemon/prune.go): each prune takes its own keys and refuses any other
/// ("invalid filter"), `until` keeps what was created after a moment (a duration before now, a
/// date, an RFC 3339 time or a Unix timestamp, as moby's timetypes.GetTimestamp reads it), and
/// `label` / `label!` select as moby's MatchKVList does. A prune that ignored them removed every
/// stopped container for `container prune --filter until=24h`.
public struct PruneFilters: Sendable {
    let filters: [String: [String]]
    /// Only what was created at or before this moment (seconds since the epoch) is pruned.
    public let until: Double?

    public init(_ filters: [String: [String]], accepted: Set<String>, now: Double = Timestamp.epochNow()) throws {
        for key in filters.keys.sorted() where !accepted.contains(key) { throw EngineError.invalid("invalid filter '\(key)'") }
        self.filters = filters
        if let values = filters["until"] {
            guard values.count == 1 else { throw EngineError.invalid("more than one until filter specified") }
            until = try Self.time(values[0], now: now)
        } else {
            until = nil
        }
    }

    public subscript(key: String) -> [String]? { filters[key] }

    /// Whether a candidate created at `created` with `labels` is to be pruned.
    public func selects(created: Double?, labels: [String: String]?) -> Bool {
        if let until, let created, created > until { return false }
        guard LabelFilter.matches(filters["label"], labels) else { return false }
        // `label!` excludes what matches all of its entries (MatchKVList over the negated list).
        if let negated = filters["label!"], !negated.isEmpty, LabelFilter.matches(negated, labels) { return false }
        return true
    }

    /// timetypes.GetTimestamp: `10m` is ten minutes before `now`; `2024-01-02`, `2024-01-02T15`,
    /// `2024-01-02T15:04`, RFC 3339 with `Z` or an offset; else a Unix timestamp `secs[.nanos]`.
    static func time(_ text: String, now: Double) throws -> Double {
        if text != "0", let seconds = GoDuration.seconds(text) { return now - seconds }
        if text.contains("-") && text.count >= 10 {
            var body = Substring(text)
            var offset = 0.0
            if body.hasSuffix("Z") || body.hasSuffix("z") {
                body = body.dropLast()
            } else if body.count > 16, let sign = body.dropFirst(10).lastIndex(where: { $0 == "+" || $0 == "-" }),
                      case let zone = body[body.index(after: sign)...], zone.count == 5,
                      let hours = Double(zone.prefix(2)), let minutes = Double(zone.suffix(2)) {
                offset = (hours * 3600 + minutes * 60) * (body[sign] == "+" ? 1 : -1)
                body = body[..<sign]
            }
            // Complete the short forms to the full time Timestamp.parse reads.
            var full = String(body)
            switch full.count {
            case 10: full += "T00:00:00"
            case 13: full += ":00:00"
            case 16: full += ":00"
            default: break
            }
            if full.count >= 19, let t = Timestamp.parse(full) { return t - offset }
            throw EngineError.invalid("parsing time \"\(text)\": cannot parse as a date, an RFC 3339 time or a duration")
        }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let seconds = Int64(parts[0]), parts.count == 1 || (parts[1].count <= 9 && parts[1].allSatisfy(\.isNumber)) else {
            throw EngineError.invalid("failed to parse value as time or duration: \"\(text)\"")
        }
        let fraction = parts.count == 2 ? (Double("0." + parts[1]) ?? 0) : 0
        return Double(seconds) + fraction
    }
}
