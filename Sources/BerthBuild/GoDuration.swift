/// Go's `time.ParseDuration` syntax (`30s`, `1m30s`, `500ms`, `1.5h`), which Dockerfiles and the
/// docker CLI's duration flags use.
public enum GoDuration {
    /// The duration in seconds, or nil when `text` is not one.
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var rest = Substring(text), total = 0.0
        guard !rest.isEmpty else { return nil }
        if text == "0" { return 0 }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            total += value * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        return total
    }
}
