import Glibc

/// go-units' sizes, as docker prints them.
public enum Size {
    /// Decimal, three significant digits (`HumanSizeWithPrecision(_, 3)`): `1.98MB`, `72.8MB`,
    /// `0B`; four (`HumanSize`, what `system df` prints) when asked.
    public static func human(_ bytes: Int64, digits: Int = 3) -> String {
        format(Double(bytes), base: 1000, units: ["B", "kB", "MB", "GB", "TB", "PB"], digits: digits)
    }

    /// Binary, four significant digits: `1.684MiB`, `23.54GiB`.
    public static func binary(_ bytes: Double) -> String {
        format(bytes, base: 1024, units: ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], digits: 4)
    }

    static func format(_ value: Double, base: Double, units: [String], digits: Int) -> String {
        var v = value
        var i = 0
        while v >= base && i < units.count - 1 {
            v /= base
            i += 1
        }
        return significant(v, digits) + units[i]
    }

    /// `%.Ng` without Foundation: N significant digits, trailing zeros dropped.
    static func significant(_ v: Double, _ digits: Int) -> String { printf("%.*g", [digits, v]) }

    /// Two decimals (`%.2f`), for percentages.
    public static func fixed(_ v: Double) -> String { printf("%.2f", [v]) }

    static func printf(_ format: String, _ args: [CVarArg]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList(args) { vsnprintf(&buffer, buffer.count, format, $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `-m 512m`, `1g`, `100000` (bytes) into bytes, as docker's RAMInBytes.
    public static func parse(_ text: String) -> Int64? {
        let lower = text.lowercased().hasSuffix("b") ? String(text.lowercased().dropLast()) : text.lowercased()
        let units: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
        if let unit = lower.last, let mult = units[unit] {
            guard let n = Double(lower.dropLast()), n >= 0, n * Double(mult) < 9.2e18 else { return nil }  // never a trap on "1e30k" or "infk"
            return Int64(n * Double(mult))
        }
        return Int64(lower)
    }
}
