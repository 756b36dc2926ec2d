/// The Engine API versions Berth speaks, for the server that answers them and the CLI that asks
/// in them, and the comparison both make (numerically, part by part: 1.9 comes before 1.24).
public enum APIVersion {
    public static let current = "1.50"
    public static let minimum = "1.24"

    /// Whether `a` is an older version than `b`; a part that is not a number counts as 0.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        parts(a).lexicographicallyPrecedes(parts(b))
    }

    static func parts(_ version: String) -> [Int] { version.split(separator: ".").map { Int($0) ?? 0 } }
}
