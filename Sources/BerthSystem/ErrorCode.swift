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
    /// The lower error this one was made from, for the operator's log.
    var cause: (any Error)? { get }
}

extension CodedError {
    /// None unless a type keeps one.
    public var cause: (any Error)? { nil }
}

extension ErrorCode {
    /// The kind of any error (nil when its type does not say), to catch by kind whatever the type:
    /// `catch let error where ErrorCode.of(error) == .conflict`.
    public static func of(_ error: any Error) -> ErrorCode? { (error as? CodedError)?.code }
}

/// The error with the chain of causes under it, for the daemon's log: each cause is added unless
/// the words above it already quote it (most wrapping messages end with the lower error's text).
public func describeWithCauses(_ error: any Error) -> String {
    var text = "\(error)"
    var next = (error as? CodedError)?.cause
    var depth = 0
    while let cause = next, depth < 8 {
        let words = "\(cause)"
        if !text.contains(words) { text += " (cause: \(words))" }
        next = (cause as? CodedError)?.cause
        depth += 1
    }
    return text
}
