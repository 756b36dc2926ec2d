import BerthSystem

/// Every failure the runtime reports, with the exit status a caller sees. Wording follows runc
/// where users and tools already know it (containerd and docker match on some of these).
public enum RuntimeError: Error, CustomStringConvertible, Equatable {
    case invalidID(String)
    case exists(String)
    case notFound(String)
    case badState(String)
    case invalidConfig(String)
    /// The process could not be started: 127 when not found, 126 when not executable (as a shell).
    case exec(code: Int32, message: String)
    case system(SystemError)
    case hook(String)
    case other(String)

    public var description: String {
        switch self {
        case .invalidID(let id): return "invalid container id format: \"\(id)\""
        case .exists(let id): return "container with id exists: \(id)"
        case .notFound(let id): return "container \"\(id)\" does not exist"
        case .badState(let s), .invalidConfig(let s), .hook(let s), .other(let s): return s
        case .exec(_, let message): return message
        case .system(let e): return e.description
        }
    }

    public var exitCode: Int32 {
        if case .exec(let code, _) = self { return code }
        return 1
    }

    /// Wraps low-level errors so callers deal with one type.
    public static func wrap(_ error: Error) -> RuntimeError {
        switch error {
        case let e as RuntimeError: return e
        case let e as SystemError: return .system(e)
        default: return .other(String(describing: error))
        }
    }
}
