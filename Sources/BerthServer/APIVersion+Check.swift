import BerthAPI
import BerthEngine

/// dockerd's version middleware: a client asking for a newer API than the server's, or one older
/// than the oldest it serves, is refused in dockerd's words (400), so that clients negotiate down
/// (the docker CLI pings first, berth retries) rather than get answers shaped for another version.
extension APIVersion {
    static func check(_ requested: String?) throws {
        guard let requested else { return }
        if precedes(current, requested) {
            throw EngineError.invalid("client version \(requested) is too new. Maximum supported API version is \(current)")
        }
        if precedes(requested, minimum) {
            throw EngineError.invalid("client version \(requested) is too old. Minimum supported API version is \(minimum), please upgrade your client to a newer version")
        }
    }
}
