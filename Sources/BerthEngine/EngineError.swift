/// Errors with the HTTP status Docker answers them with; `message` is Docker's wording.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case conflict(String)
    case invalid(String)
    case notModified
    case forbidden(String)
    /// A request body over the daemon's limit (413).
    case tooLarge(String)
    case internalError(String)

    public var description: String {
        switch self {
        case .notFound(let m), .conflict(let m), .invalid(let m), .forbidden(let m), .tooLarge(let m), .internalError(let m): return m
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
        case .internalError: return 500
        }
    }

    static func noSuchContainer(_ id: String) -> EngineError { .notFound("No such container: \(id)") }
}
