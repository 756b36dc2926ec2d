import BerthSystem

/// The engine's errors, in Docker's wording, each of an `ErrorCode` kind (the API edge gives it
/// the HTTP status dockerd answers with).
public enum EngineError: CodedError, Equatable {
    case notFound(String)
    case conflict(String)
    case invalid(String)
    case notModified
    case forbidden(String)
    /// A request body over the daemon's limit (413).
    case tooLarge(String)
    /// A feature this engine does not run (swarm mode): 503, as dockerd answers outside a swarm.
    case unavailable(String)
    /// Something the container's configuration does not provide (reading a `none` log): 501.
    case notImplemented(String)
    case internalError(String)

    public var description: String {
        switch self {
        case .notFound(let m), .conflict(let m), .invalid(let m), .forbidden(let m), .tooLarge(let m), .unavailable(let m), .notImplemented(let m), .internalError(let m): return m
        case .notModified: return ""
        }
    }

    public var code: ErrorCode {
        switch self {
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .invalid: return .invalid
        case .notModified: return .notModified
        case .forbidden: return .forbidden
        case .tooLarge: return .tooLarge
        case .unavailable: return .unavailable
        case .notImplemented: return .notImplemented
        case .internalError: return .internal
        }
    }

    static func noSuchContainer(_ id: String) -> EngineError { .notFound("No such container: \(id)") }
}
