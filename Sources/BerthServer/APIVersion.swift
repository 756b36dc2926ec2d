import BerthEngine

/// The Engine API versions this server answers, and dockerd's version middleware: a client
/// asking for a newer API than the server's, or one older than the oldest it serves, is refused
/// in dockerd's words (400), so that clients negotiate down (the docker CLI pings first, berth
/// retries) rather than get answers shaped for another version.
enum APIVersion {
    static let current = "1.50"
    static let minimum = "1.24"

    static func components(_ version: String) -> [Int] {
        version.split(separator: ".").map { Int($0) ?? 0 }
    }

    static func check(_ requested: String?) throws {
        guard let requested else { return }
        let asked = components(requested)
        if components(current).lexicographicallyPrecedes(asked) {
            throw EngineError.invalid("client version \(requested) is too new. Maximum supported API version is \(current)")
        }
        if asked.lexicographicallyPrecedes(components(minimum)) {
            throw EngineError.invalid("client version \(requested) is too old. Minimum supported API version is \(minimum), please upgrade your client to a newer version")
        }
    }
}
