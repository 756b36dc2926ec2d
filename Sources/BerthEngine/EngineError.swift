/// Errors with the HTTP status Docker answers them with; `message` is Docker's wording.
public enum EngineError: Error, CustomStringConvertible, Equatable {
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

    public var status: Int {
        switch self {
        case .notFound: return 404
        case .conflict: return 409
        case .invalid: return 400
        case .notModified: return 304
        case .forbidden: return 403
        case .tooLarge: return 413
        case .unavailable: return 503
        case .notImplemented: return 501
        case .internalError: return 500
        }
    }

    static func noSuchContainer(_ id: String) -> EngineError { .notFound("No such container: \(id)") }
}
