import BerthAPI
import BerthEngine
import BerthImage
import BerthSystem
import Logging
import NIOCore
import NIOHTTP1

/// Maps method and path to a handler. Paths may carry a `/v1.xx` prefix (stripped) or none.
public final class Router: Sendable {
    public typealias Handler = @Sendable (APIRequest, [String], Responder) async throws -> Void

    struct Route: Sendable {
        let method: HTTPMethod
        let pattern: [String]
        let handler: Handler
    }

    private let routes: [Route]

    public init(_ table: [(HTTPMethod, String, Handler)]) {
        routes = table.map { Route(method: $0.0, pattern: $0.1.split(separator: "/").map(String.init), handler: $0.2) }
    }

    /// A request head as the handlers see it: the version prefix split off, the query decoded.
    public static func parse(_ head: HTTPRequestHead, body: [UInt8], bodyFile: String?) -> APIRequest {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var path = String(parts.first ?? "")
        var version: String?
        if path.hasPrefix("/v"), let slash = path.dropFirst().firstIndex(of: "/") {
            let candidate = path[path.index(path.startIndex, offsetBy: 2)..<slash]
            if !candidate.isEmpty, candidate.allSatisfy({ $0.isNumber || $0 == "." }) {
                version = String(candidate)
                path = String(path[slash...])
            }
        }
        var query: [String: [String]] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = percentDecode(String(kv[0]))
                query[key, default: []].append(kv.count > 1 ? percentDecode(String(kv[1])) : "")
            }
        }
        return APIRequest(method: head.method, path: path, query: query, headers: head.headers, body: body, bodyFile: bodyFile, apiVersion: version)
    }

    static func percentDecode(_ s: String) -> String {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let c = bytes.popFirst() {
            if c == 37, bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(c == 43 ? 32 : c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Matches path segments; `{x}` takes one segment, `{x...}` one or more (image names have slashes).
    public static func match(_ pattern: [String], _ segments: [String]) -> [String]? {
        guard let greedy = pattern.firstIndex(where: { $0.hasSuffix("...}") }) else {
            guard pattern.count == segments.count else { return nil }
            var params: [String] = []
            for (p, s) in zip(pattern, segments) {
                if p.hasPrefix("{") { params.append(percentDecode(s)) } else if p != s { return nil }
            }
            return params
        }
        let after = pattern.count - greedy - 1
        guard segments.count >= pattern.count else { return nil }
        guard let head = match(Array(pattern[..<greedy]), Array(segments[..<greedy])),
              let tail = match(Array(pattern[(greedy + 1)...]), Array(segments[(segments.count - after)...])) else { return nil }
        let middle = segments[greedy..<(segments.count - after)].map(percentDecode).joined(separator: "/")
        return head + [middle] + tail
    }

    static let log = Logger(label: "berth.api")

    func handle(_ request: APIRequest, _ responder: Responder) async {
        Self.log.debug("Calling \(request.method) \(request.loggedPath)")
        let segments = request.path.split(separator: "/").map(String.init)
        var methodMismatch = false
        for route in routes {
            guard let params = Self.match(route.pattern, segments) else { continue }
            guard route.method == request.method || (route.method == .GET && request.method == .HEAD) else { methodMismatch = true; continue }
            do {
                try APIVersion.check(request.apiVersion)
                try await route.handler(request, params, responder)
            } catch {
                // as dockerd: a server's failure is an error for the operator, a client's is debug
                let (code, _) = Responder.describe(error)
                let line: Logger.Message = "Handler for \(request.method) \(request.loggedPath) returned error: \(describeWithCauses(error))"
                if code >= 500 { Self.log.error(line) } else { Self.log.debug(line) }
                responder.fail(error, plain: request.versionPrecedes("1.24"))
            }
            return
        }
        if methodMismatch {
            responder.json(ErrorResponse(message: "method not allowed"), status: .methodNotAllowed)
        } else {
            responder.json(ErrorResponse(message: "page not found"), status: .notFound)
        }
    }
}

