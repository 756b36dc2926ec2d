import Glibc

/// Network failures in Docker's words; the engine maps each kind to its HTTP status.
public enum NetworkError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case conflict(String)
    case exhausted(String)
    case notFound(String)
    case system(String)
    /// A netlink request the kernel refused, with its errno (callers tell EEXIST, ENODEV apart).
    case kernel(Int32)

    public var description: String {
        switch self {
        case .invalid(let m), .conflict(let m), .exhausted(let m), .notFound(let m), .system(let m): return m
        case .kernel(let code): return String(cString: strerror(code))
        }
    }
}
