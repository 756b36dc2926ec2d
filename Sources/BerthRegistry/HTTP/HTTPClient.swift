import BerthSystem
import Glibc

/// What a request sends: nothing, bytes, or a slice of a file (a blob upload streams straight
/// from the content store, never through memory).
public enum HTTPBody: Sendable {
    case none
    case bytes([UInt8])
    case file(fd: Int32, offset: Int64, length: Int64)

    var length: Int64 {
        switch self {
        case .none: return 0
        case .bytes(let b): return Int64(b.count)
        case .file(_, _, let n): return n
        }
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: HTTPURL
    public var headers: [(String, String)]
    public var body: HTTPBody
    public var tls: TLSOptions

    public init(_ method: String, _ url: HTTPURL, headers: [(String, String)] = [], body: HTTPBody = .none, tls: TLSOptions = TLSOptions()) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.tls = tls
    }
}

/// A blocking HTTP/1.1 client with keep-alive. Registry traffic is a few long streams (blobs) and
/// small JSON exchanges; each transfer runs on its own thread, so blocking sockets are the
/// simplest correct tool, and they keep kernel-to-file copies free of an event loop's hops.
public final class HTTPClient: @unchecked Sendable {
    let lock = Lock()
    var idle: [String: [HTTPConnection]] = [:]
    var contexts: [TLSOptions: TLSContext] = [:]
    let timeout: Int32

    /// `timeout`: seconds a connect or a stalled read may take before the transfer fails.
    public init(timeout: Int32 = 30) { self.timeout = timeout }

    /// Sends `request`; the caller reads or discards the body (which returns the connection).
    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let key = "\(request.url.scheme)://\(request.url.authority)#\(request.tls.hashValue)"
        // A pooled connection may have been closed by the server; retry once on a fresh one.
        if let pooled = lock.locked({ idle[key]?.popLast() }) {
            if let response = try? exchange(request, on: pooled, key: key) { return response }
            pooled.close()
        }
        return try exchange(request, on: try connect(request, key: key), key: key)
    }

    func connect(_ request: HTTPRequest, key: String) throws -> HTTPConnection {
        let url = request.url
        let fd = try Self.openSocket(host: url.host, port: url.port, timeout: timeout)
        var tls: TLSStream?
        if url.scheme == "https" {
            do {
                let context = try lock.locked { () throws -> TLSContext in
                    if let c = contexts[request.tls] { return c }
                    let c = try TLSContext(request.tls)
                    contexts[request.tls] = c
                    return c
                }
                tls = try TLSStream(fd: fd, host: url.host, context: context, verify: request.tls.verify)
            } catch {
                Glibc.close(fd)
                throw error
            }
        }
        return HTTPConnection(fd: fd, tls: tls, key: key)
    }

    func exchange(_ request: HTTPRequest, on connection: HTTPConnection, key: String) throws -> HTTPResponse {
        var head = "\(request.method) \(request.url.target) HTTP/1.1\r\nHost: \(request.url.authority)\r\nUser-Agent: berth/28.0 (linux)\r\n"
        for (name, value) in request.headers { head += "\(name): \(value)\r\n" }
        if case .none = request.body {
            if ["POST", "PUT", "PATCH"].contains(request.method) { head += "Content-Length: 0\r\n" }
        } else {
            head += "Content-Length: \(request.body.length)\r\n"
        }
        head += "\r\n"
        try connection.write(Array(head.utf8))
        switch request.body {
        case .none: break
        case .bytes(let bytes): try connection.write(bytes)
        case .file(let fd, let offset, let length): try connection.writeFile(fd: fd, offset: offset, length: length)
        }
        let response = try HTTPResponse(connection: connection, method: request.method)
        response.release = { [weak self] conn in
            guard let self else { conn.close(); return }
            lock.locked { idle[key, default: []].append(conn) }
        }
        return response
    }

    /// A connected TCP socket, with `timeout` on the connect and on every read and write.
    static func openSocket(host: String, port: Int, timeout: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw RegistryError.connection("lookup \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no address"
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            node = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { continue }
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                lastError = String(cString: strerror(errno)); Glibc.close(fd); continue
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if poll(&pfd, 1, timeout * 1000) != 1 { lastError = "i/o timeout"; Glibc.close(fd); continue }
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if soError != 0 { lastError = String(cString: strerror(soError)); Glibc.close(fd); continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
            var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        throw RegistryError.connection("dial tcp \(host):\(port): connect: \(lastError.prefix(1).lowercased() + lastError.dropFirst())")
    }
}

/// One TCP (or TLS) connection and its read buffer.
final class HTTPConnection {
    let fd: Int32
    let tls: TLSStream?
    let key: String
    var buffer = [UInt8](repeating: 0, count: 256 << 10)
    var start = 0, end = 0

    init(fd: Int32, tls: TLSStream?, key: String) {
        self.fd = fd
        self.tls = tls
        self.key = key
    }

    deinit { Glibc.close(fd) }

    func close() { tls?.shutdown() }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let tls { return try tls.write(bytes) }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RegistryError.connection("write: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    func writeFile(fd file: Int32, offset: Int64, length: Int64) throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while done < length {
            let want = Int(min(Int64(chunk.count), length - done))
            let n = chunk.withUnsafeMutableBytes { pread(file, $0.baseAddress, want, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RegistryError.connection("reading the upload: \(n == 0 ? "unexpected end of file" : String(cString: strerror(errno)))") }
            try chunk.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            done += Int64(n)
        }
    }

    /// Refills the buffer; false at the peer's end of stream.
    func fill() throws -> Bool {
        if start == end { start = 0; end = 0 }
        if end == buffer.count {
            buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end]); end -= start; start = 0
        }
        while true {
            let n: Int
            if let tls {
                n = try buffer.withUnsafeMutableBytes { try tls.read(UnsafeMutableRawBufferPointer(rebasing: $0[end...])) }
            } else {
                n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + end, $0.count - end, 0) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 {
                    throw RegistryError.connection(errno == EAGAIN ? "read: i/o timeout" : "read: \(String(cString: strerror(errno)))")
                }
            }
            end += n
            return n > 0
        }
    }

    /// One CRLF-terminated line (without the CRLF).
    func readLine() throws -> String {
        while true {
            if let nl = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                var line = buffer[start..<nl]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                start = nl + 1
                return String(decoding: line, as: UTF8.self)
            }
            guard end - start < 64 << 10 else { throw RegistryError.protocolError("response header line too long") }
            guard try fill() else { throw RegistryError.connection("connection closed before the response was complete") }
        }
    }
}

/// A response whose head has been read; the body streams from the connection.
public final class HTTPResponse {
    public let status: Int
    public let headers: [(String, String)]
    let connection: HTTPConnection
    var release: ((HTTPConnection) -> Void)?
    enum Framing { case length(Int64), chunked, untilClose }
    var framing: Framing
    var consumed = false

    init(connection: HTTPConnection, method: String) throws {
        self.connection = connection
        var statusLine = try connection.readLine()
        // 1xx interim responses (100 Continue) precede the real one.
        var lines: [(String, String)] = []
        while true {
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
                throw RegistryError.protocolError("malformed status line \"\(statusLine.prefix(80))\"")
            }
            lines = []
            while true {
                let line = try connection.readLine()
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: ":") else { continue }
                lines.append((String(line[..<colon]).lowercased(), String(line[line.index(after: colon)...]).trimmed))
                guard lines.count < 200 else { throw RegistryError.protocolError("too many response headers") }
            }
            if code >= 100 && code < 200 { statusLine = try connection.readLine(); continue }
            status = code
            break
        }
        headers = lines
        if method == "HEAD" || status == 204 || status == 304 {
            framing = .length(0)
        } else if lines.contains(where: { $0.0 == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            framing = .chunked
        } else if let length = lines.first(where: { $0.0 == "content-length" }).flatMap({ Int64($0.1) }) {
            framing = .length(length)
        } else {
            framing = .untilClose
        }
    }

    deinit { if !consumed { connection.close() } }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.0 == lower })?.1
    }

    public func headerValues(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.0 == lower }.map(\.1)
    }

    public var contentLength: Int64? {
        if case .length(let n) = framing { return n }
        return nil
    }

    /// Streams the body to `sink` in blocks; the connection goes back to the pool at the end.
    public func read(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !consumed else { return }
        consumed = true
        let c = connection
        func pass(_ count: Int64) throws {
            var left = count
            while left > 0 {
                if c.start == c.end { guard try c.fill() else { throw RegistryError.connection("connection closed with \(left) bytes of the body missing") } }
                let n = Int(min(Int64(c.end - c.start), left))
                try c.buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[c.start..<(c.start + n)])) }
                c.start += n
                left -= Int64(n)
            }
        }
        switch framing {
        case .length(let n):
            try pass(n)
            release?(c)
        case .chunked:
            while true {
                let sizeLine = try c.readLine()
                guard let size = Int64(sizeLine.split(separator: ";").first.map { String($0).trimmed } ?? "", radix: 16), size >= 0 else {
                    throw RegistryError.protocolError("malformed chunk size")
                }
                if size == 0 {
                    while try !c.readLine().isEmpty {}
                    break
                }
                try pass(size)
                _ = try c.readLine()
            }
            release?(c)
        case .untilClose:
            while true {
                if c.start == c.end { guard try c.fill() else { break } }
                try c.buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[c.start..<c.end])) }
                c.start = c.end
            }
        }
    }

    /// The whole body, refusing one larger than `limit` (manifests, tokens, error documents).
    public func bytes(limit: Int = 8 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        if let n = contentLength, n > Int64(limit) { throw RegistryError.protocolError("response of \(n) bytes exceeds the \(limit)-byte limit") }
        try read { block in
            guard out.count + block.count <= limit else { throw RegistryError.protocolError("response exceeds the \(limit)-byte limit") }
            out.append(contentsOf: block)
        }
        return out
    }

    /// Reads and drops a small body so the connection can be reused; a large one closes it.
    public func discard() {
        if let n = contentLength, n > 1 << 20 { consumed = true; connection.close(); return }
        _ = try? bytes(limit: 1 << 20)
    }
}
