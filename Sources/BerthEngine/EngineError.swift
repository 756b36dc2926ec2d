import BerthSystem

/// The engine's errors: a kind (`ErrorCode`, which the API edges map to an HTTP status or a gRPC
/// code), the words a client sees (Docker's), and the lower error that caused it, which only the
/// daemon's log shows: a client reads "Could not find the file", the operator also reads that the
/// open failed with EACCES.
public struct EngineError: CodedError, Equatable, Sendable {
    public let code: ErrorCode
    public let message: String
    public let cause: (any Error)?

    public init(_ code: ErrorCode, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func notFound(_ m: String, cause: (any Error)? = nil) -> EngineError { .init(.notFound, m, cause: cause) }
    public static func conflict(_ m: String, cause: (any Error)? = nil) -> EngineError { .init(.conflict, m, cause: cause) }
    public static func invalid(_ m: String, cause: (any Error)? = nil) -> EngineError { .init(.invalid, m, cause: cause) }
    public static func forbidden(_ m: String) -> EngineError { .init(.forbidden, m) }
    /// A request body over the daemon's limit (413).
    public static func tooLarge(_ m: String) -> EngineError { .init(.tooLarge, m) }
    /// A feature this engine does not run (swarm mode): 503, as dockerd answers outside a swarm.
    public static func unavailable(_ m: String) -> EngineError { .init(.unavailable, m) }
    /// Something the container's configuration does not provide (reading a `none` log): 501.
    public static func notImplemented(_ m: String) -> EngineError { .init(.notImplemented, m) }
    public static func internalError(_ m: String, cause: (any Error)? = nil) -> EngineError { .init(.internal, m, cause: cause) }
    /// Nothing to do (304): a start of a running container, a stop of a stopped one.
    public static let notModified = EngineError(.notModified, "")

    /// Equal when a client would see the same error: the cause is the operator's.
    public static func == (a: EngineError, b: EngineError) -> Bool { a.code == b.code && a.message == b.message }

    static func noSuchContainer(_ id: String) -> EngineError { .notFound("No such container: \(id)") }
}
