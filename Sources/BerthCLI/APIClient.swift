import BerthAPI
import BerthSystem
import FoundationEssentials
import Glibc
import Synchronization

/// The Engine API over a unix socket, one connection per request: HTTP/1.1 by hand (the CLI is
/// a short-lived single-threaded process; an event loop would only cost start-up time).
public struct APIClient: Sendable {
    public let socket: String
    private let negotiation: Negotiation

    public init(socket: String) {
        self.socket = socket
        negotiation = Negotiation(fixed: getenv("DOCKER_API_VERSION").map { String(cString: $0) })
    }

    /// The version every path names: this client's own, or `DOCKER_API_VERSION`'s as the
    /// docker CLI takes it, or the daemon's once it turns out older (dockerd 20.10 serves 1.41).
    /// The docker CLI pings before its first request; berth asks in its own version and settles
    /// only when refused, so a newer daemon (berthd) costs no extra round trip.
    final class Negotiation: Sendable {
        let state: Mutex<(version: String, settled: Bool)>
        init(fixed: String?) { state = Mutex((fixed ?? APIVersion.current, fixed != nil)) }
        var version: String { state.withLock { $0.version } }
        var settled: Bool { state.withLock { $0.settled } }
        func settle(_ daemon: String?) {
            state.withLock {
                if let daemon, APIVersion.precedes(daemon, $0.version) {
                    $0.version = daemon
                }
                $0.settled = true
            }
        }
    }

    /// The version this client's requests name (after negotiation, when there was one).
    public var apiVersion: String { negotiation.version }

    /// Asks the daemon its API version (`/_ping`'s `Api-Version`) and speaks the lower of the two.
    func negotiate() throws {
        guard !negotiation.settled else { return }
        let response = try send("GET", "/_ping", versioned: false, query: [], body: nil, contentType: "", upgrade: false, headers: [], stream: nil)
        negotiation.settle(response.headers["api-version"])
    }

    public struct Failure: Error, CustomStringConvertible {
        public let status: Int
        public let message: String
        public var description: String { message }
    }

    /// A response whose body is read as it arrives (logs, events, stats, pulls).
    public final class Response {
        public let status: Int
        public let headers: [String: String]
        let reader: Reader
        var remaining: Int?
        let chunked: Bool
        var done = false

        init(status: Int, headers: [String: String], reader: Reader) {
            self.status = status
            self.headers = headers
            self.reader = reader
            chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
            remaining = headers["content-length"].flatMap { Int($0) }
        }

        deinit { close(reader.fd) }

        /// The next piece of the body, nil at its end.
        public func next() throws -> [UInt8]? {
            if done { return nil }
            if chunked {
                guard let line = try reader.line(), let size = Int(line.split(separator: ";").first ?? "", radix: 16) else {
                    done = true
                    return nil
                }
                if size == 0 { done = true; _ = try reader.line(); return nil }
                let data = try reader.exactly(size)
                _ = try reader.line()
                return data
            }
            if let left = remaining {
                if left == 0 { done = true; return nil }
                let data = try reader.some(max: left)
                if data.isEmpty { done = true; return nil }
                remaining = left - data.count
                return data
            }
            let data = try reader.some(max: 1 << 16)
            if data.isEmpty { done = true; return nil }
            return data
        }

        public func body() throws -> [UInt8] {
            var all: [UInt8] = []
            while let piece = try next() { all += piece }
            return all
        }

        /// Newline-separated JSON messages (events, stats, progress).
        public func lines(_ body: (String) throws -> Bool) throws {
            var pending: [UInt8] = []
            while let piece = try next() {
                pending += piece
                while let nl = pending.firstIndex(of: 0x0a) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    if !line.isEmpty, try !body(line) { return }
                }
            }
            if !pending.isEmpty { _ = try body(String(decoding: pending, as: UTF8.self)) }
        }
    }

    /// Buffered reads from the connection.
    final class Reader {
        let fd: Int32
        var buffer: [UInt8] = []
        init(fd: Int32) { self.fd = fd }

        func fill() throws -> Bool {
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw SystemError("read", "daemon connection") }
                if n == 0 { return false }
                buffer += chunk[0..<n]
                return true
            }
        }

        func line() throws -> String? {
            while true {
                if let nl = buffer.firstIndex(of: 0x0a) {
                    var line = Array(buffer[..<nl])
                    buffer.removeSubrange(...nl)
                    if line.last == 0x0d { line.removeLast() }
                    return String(decoding: line, as: UTF8.self)
                }
                if try !fill() { return nil }
            }
        }

        func exactly(_ count: Int) throws -> [UInt8] {
            while buffer.count < count { if try !fill() { break } }
            let n = min(count, buffer.count)
            defer { buffer.removeFirst(n) }
            return Array(buffer[..<n])
        }

        func some(max: Int) throws -> [UInt8] {
            if buffer.isEmpty { _ = try fill() }
            let n = min(max, buffer.count)
            defer { buffer.removeFirst(n) }
            return Array(buffer[..<n])
        }
    }

    func path(_ path: String, versioned: Bool, _ query: [(String, String)]) -> String {
        let prefixed = versioned ? "/v" + negotiation.version + path : path
        guard !query.isEmpty else { return prefixed }
        return prefixed + "?" + query.map { Self.escape($0.0) + "=" + Self.escape($0.1) }.joined(separator: "&")
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let safe = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || "-_.~".utf8.contains(b)
            out += safe ? String(UnicodeScalar(b)) : "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
        }
        return out
    }

    /// A request body sent while it is produced, in HTTP chunks: a build context as it is
    /// archived (no spool file, and the daemon unpacks while the client still reads the tree),
    /// an upload as it is read.
    public final class ChunkedBody {
        let fd: Int32
        /// Bytes sent so far.
        public private(set) var count: Int64 = 0
        /// Told the count after each write (an upload's progress line).
        public var onWrite: ((Int64) -> Void)?

        init(fd: Int32) { self.fd = fd }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard bytes.count > 0 else { return }
            var chunk = Array((String(bytes.count, radix: 16) + "\r\n").utf8)
            chunk.reserveCapacity(chunk.count + bytes.count + 2)
            chunk.append(contentsOf: bytes)
            chunk += [0x0d, 0x0a]
            try FileIO.writeAll(fd, chunk)
            count += Int64(bytes.count)
            onWrite?(count)
        }

        /// What `source` holds to its end.
        public func copy(from source: Int32) throws { try FileIO.forEachBlock(source, path: "input", write) }
    }

    /// Sends a request and reads the response head; the body is left to the caller. `stream`
    /// produces a chunked body.
    public func open(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
                     contentType: String = "application/json", upgrade: Bool = false,
                     headers extra: [(String, String)] = [], stream: ((ChunkedBody) throws -> Void)? = nil) throws -> Response {
        // a body sent as it is produced cannot be sent again: settle the version before it
        if stream != nil { try negotiate() }
        do {
            return try send(method, path, versioned: true, query: query, body: body, contentType: contentType, upgrade: upgrade, headers: extra, stream: stream)
        } catch let refused as Failure where refused.status == 400 && refused.message.hasPrefix("client version ") && !negotiation.settled {
            try negotiate()
            guard negotiation.version != APIVersion.current else { throw refused }
            return try send(method, path, versioned: true, query: query, body: body, contentType: contentType, upgrade: upgrade, headers: extra, stream: stream)
        }
    }

    func send(_ method: String, _ path: String, versioned: Bool, query: [(String, String)], body: [UInt8]?, contentType: String,
              upgrade: Bool, headers extra: [(String, String)], stream: ((ChunkedBody) throws -> Void)?) throws -> Response {
        let fd: Int32
        do { fd = try UnixSocket.connect(socket) } catch {
            throw Failure(status: 0, message: "Cannot connect to the Berth daemon at unix://\(socket). Is the berth daemon running?")
        }
        var head = "\(method) \(self.path(path, versioned: versioned, query)) HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli\r\n"
        if upgrade { head += "Connection: Upgrade\r\nUpgrade: tcp\r\n" }
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        if stream != nil { head += "Content-Type: \(contentType)\r\nTransfer-Encoding: chunked\r\n" }
        head += "\r\n"
        do {
            try FileIO.writeAll(fd, Array(head.utf8) + (body ?? []))
            if let stream {
                try stream(ChunkedBody(fd: fd))
                try FileIO.writeAll(fd, Array("0\r\n\r\n".utf8))
            }
        } catch {
            close(fd)
            throw error
        }
        let reader = Reader(fd: fd)
        guard let statusLine = try reader.line() else {
            close(fd)
            throw Failure(status: 0, message: "the daemon closed the connection")
        }
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        while let line = try reader.line(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmingSpaces
        }
        let response = Response(status: status, headers: headers, reader: reader)
        if status == 204 || status == 304 || method == "HEAD" { response.done = true }
        if status >= 400 {
            let bytes = try response.body()
            let message = (try? JSONValue.parse(bytes))?["message"]?.string ?? String(decoding: bytes, as: UTF8.self)
            throw Failure(status: status, message: message)
        }
        return response
    }

    /// A whole request: the body parsed as JSON (null when empty).
    @discardableResult
    public func call(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil) throws -> JSONValue {
        let bytes = try open(method, path, query: query, body: body).body()
        return bytes.isEmpty ? .null : try JSONValue.parse(bytes)
    }

    public func call<T: Encodable>(_ method: String, _ path: String, query: [(String, String)] = [], json: T) throws -> JSONValue {
        try call(method, path, query: query, body: Array(try JSONEncoder().encode(json)))
    }
}

extension String {
    /// Leading spaces and tabs, trailing spaces, tabs and CRs, by bytes: the grapheme-wise
    /// `reversed()` form cost a tenth of a short command's CPU time.
    var trimmingSpaces: String {
        var bytes = Substring(self).utf8
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes.removeFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 || last == 0x0d { bytes.removeLast() }
        return String(Substring(bytes))
    }
}
