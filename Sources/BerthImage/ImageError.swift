import BerthSystem
/// Image errors, worded as Docker words them (the API layer maps them to status codes).
public enum ImageError: CodedError, Equatable {
    case notFound(String)
    /// A removal that would break something; the message is Docker's.
    case conflict(String)
    case ambiguous(String)
    /// Input that is not an image (bad manifest, missing blob, wrong diffID).
    case invalid(String)

    public var description: String {
        switch self {
        case .notFound(let s): return "No such image: \(s)"
        case .conflict(let m): return m
        case .ambiguous(let s): return "multiple IDs found with provided prefix: \(s)"
        case .invalid(let m): return m
        }
    }

    public var code: ErrorCode {
        switch self {
        case .notFound, .ambiguous: return .notFound
        case .conflict: return .conflict
        case .invalid: return .invalid
        }
    }
}
