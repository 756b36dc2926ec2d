import BerthSystem
import FoundationEssentials
import GRPCCore

/// What an Exec, Attach or PortForward RPC asked for, waiting for its client to connect to the
/// URL the RPC returned. As in the kubelet's streaming cache: each token is used once, lives a
/// minute (a client connects at once or not at all), and at most `capacity` wait, so RPCs that
/// are never followed by a connection cannot grow berthd.
final class StreamRequests: Sendable {
    enum Request: Sendable, Equatable {
        case exec(containerID: String, command: [String], tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool)
        case attach(containerID: String, tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool)
        case portForward(podID: String, netns: String, ports: [UInt16])

        /// The command of an exec.
        var command: [String]? {
            if case .exec(_, let command, _, _, _, _) = self { return command }
            return nil
        }

        /// The URL path's first segment for this kind of request.
        var kind: String {
            switch self {
            case .exec: return "exec"
            case .attach: return "attach"
            case .portForward: return "portforward"
            }
        }
    }

    static let lifetime = 60.0
    static let capacity = 1000
    private let waiting = Locked<[String: (request: Request, expires: Double)]>([:])

    /// Keeps `request` and returns its token.
    func insert(_ request: Request, now: Double = Timestamp.epochNow()) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<12).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16).leftPadded(2) }.joined()
        try waiting.mutate { table in
            table = table.filter { $0.value.expires > now }
            guard table.count < Self.capacity else {
                throw RPCError(code: .resourceExhausted, message: "maximum number of in-flight stream requests (\(Self.capacity)) reached")
            }
            table[token] = (request, now + Self.lifetime)
        }
        return token
    }

    /// The request behind `token` for a URL of `kind`, if it is still valid; it is then gone.
    func take(_ token: String, kind: String, now: Double = Timestamp.epochNow()) -> Request? {
        waiting.mutate { table in
            guard let entry = table[token], entry.request.kind == kind else { return nil }
            table[token] = nil
            return entry.expires > now ? entry.request : nil
        }
    }

    /// Whether `take` would find it (the upgrade is decided before the request is taken).
    func contains(_ token: String, kind: String, now: Double = Timestamp.epochNow()) -> Bool {
        waiting.value[token].map { $0.request.kind == kind && $0.expires > now } ?? false
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
