/// Signal names and numbers as `kill(1)`, runc and docker accept them: `KILL`, `SIGKILL`, `9`, `RTMIN+3`.
public enum Signal {
    public static let table: [(String, Int32)] = [
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6), ("BUS", 7),
        ("FPE", 8), ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14),
        ("TERM", 15), ("STKFLT", 16), ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20),
        ("TTIN", 21), ("TTOU", 22), ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26),
        ("PROF", 27), ("WINCH", 28), ("IO", 29), ("POLL", 29), ("PWR", 30), ("SYS", 31),
    ]
    static let rtMin: Int32 = 34
    static let rtMax: Int32 = 64

    public enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            if case .invalid(let s) = self { return "invalid signal: \(s)" }
            return ""
        }
    }

    public static func parse(_ text: String) throws -> Int32 {
        if let n = Int32(text) {
            guard n > 0 && n <= rtMax else { throw ParseError.invalid(text) }
            return n
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let hit = table.first(where: { $0.0 == name }) { return hit.1 }
        if name.hasPrefix("RTMIN") { return try realtime(name.dropFirst(5), base: rtMin, sign: 1, text) }
        if name.hasPrefix("RTMAX") { return try realtime(name.dropFirst(5), base: rtMax, sign: -1, text) }
        throw ParseError.invalid(text)
    }

    static func realtime(_ rest: Substring, base: Int32, sign: Int32, _ text: String) throws -> Int32 {
        if rest.isEmpty { return base }
        guard rest.first == (sign > 0 ? "+" : "-"), let off = Int32(rest.dropFirst()) else { throw ParseError.invalid(text) }
        let n = base + sign * off
        guard n >= rtMin && n <= rtMax else { throw ParseError.invalid(text) }
        return n
    }

    public static func name(_ number: Int32) -> String {
        table.first(where: { $0.1 == number }).map { "SIG" + $0.0 } ?? "SIG\(number)"
    }
}
