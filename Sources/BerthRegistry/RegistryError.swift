import BerthOCI
import BerthSystem

/// What went wrong talking to a registry, worded as Docker words it so scripts that match on
/// `manifest for … not found` or `pull access denied` keep working.
public enum RegistryError: CodedError, Equatable {
    case invalidURL(String)
    case tls(String)
    case connection(String)
    case protocolError(String)
    /// The registry's own error document (Distribution's `{"errors":[{code,message}]}`).
    case registry(status: Int, code: String, message: String)
    case manifestNotFound(Reference)
    case repositoryNotFound(Reference)
    case accessDenied(Reference, String)
    case unauthorized(String)
    case digestMismatch(expected: Digest, actual: Digest)
    case unsupported(String)
    case noMatchingPlatform(String)
    case unreachable(String, underlying: String)

    public var description: String {
        switch self {
        case .invalidURL(let u): return "invalid URL \"\(u)\""
        case .tls(let m), .connection(let m), .protocolError(let m), .unsupported(let m): return m
        case .registry(_, let code, let message):
            return code.isEmpty ? message : "\(code.lowercased().replacingUnderscores): \(message)"
        case .manifestNotFound(let r): return "manifest for \(r.familiarString) not found: manifest unknown: manifest unknown"
        case .repositoryNotFound(let r): return "repository \(r.familiarName) not found: name unknown: repository name not known to registry"
        case .accessDenied(let r, let message):
            return "pull access denied for \(r.familiarName), repository does not exist or may require 'docker login': denied: \(message)"
        case .unauthorized(let m): return "unauthorized: \(m)"
        case .digestMismatch(let e, let a): return "filesystem layer verification failed for digest \(e) (got \(a))"
        case .noMatchingPlatform(let p): return "no matching manifest for \(p) in the manifest list entries"
        case .unreachable(let url, let underlying): return "Get \"\(url)\": \(underlying)"
        }
    }

    /// A pull or push refused for credentials is `unauthorized`, which the API answers with a
    /// 500, as dockerd: the docker CLI answers a 401 with an interactive login prompt.
    public var code: ErrorCode {
        switch self {
        case .manifestNotFound, .repositoryNotFound, .accessDenied, .noMatchingPlatform: return .notFound
        case .invalidURL: return .invalid
        case .unauthorized: return .unauthorized
        case .connection, .unreachable, .tls, .registry, .protocolError: return .upstream
        case .digestMismatch, .unsupported: return .internal
        }
    }

    /// Transport failures: worth another attempt, or the next endpoint (a mirror's origin).
    public var isTransient: Bool {
        switch self {
        case .connection, .unreachable: return true
        case .registry(let status, _, _): return status >= 500 || status == 429
        default: return false
        }
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
