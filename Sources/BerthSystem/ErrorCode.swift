/// What kind of failure an error is: the one taxonomy every module's errors answer to, so each
/// edge maps it once — the Engine API to an HTTP status (`Responder.describe`), the CRI to a
/// gRPC code (`CRIStatus`) — and a new error type needs no edge changed.
public enum ErrorCode: Sendable, Equatable {
    /// The request or its input is wrong.
    case invalid
    case notFound
    /// The object's state does not allow it (running, in use, exists).
    case conflict
    /// Nothing to do (a start of a running container).
    case notModified
    case forbidden
    /// A body over the daemon's limit.
    case tooLarge
    /// A feature this engine does not run here (swarm mode).
    case unavailable
    /// Something the object's configuration does not provide (reading a `none` log).
    case notImplemented
    /// A registry refused the credentials.
    case unauthorized
    /// A service outside Berth failed or could not be reached (a registry).
    case upstream
    case `internal`
}

/// An error that says which kind it is.
public protocol CodedError: Error, CustomStringConvertible {
    var code: ErrorCode { get }
}
