import BerthAPI
import BerthEngine
import BerthImage
import BerthOCI
import BerthRegistry
import BerthSystem
import FoundationEssentials
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Writes one response: whole JSON, a stream of chunks, or a hijacked raw connection.
public final class Responder: @unchecked Sendable {
    let channel: Channel
    let keepAlive: Bool
    let head: HTTPRequestHead
    private(set) var hijacked = false
    /// Sent with the response head (e.g. the archive endpoints' path stat).
    var extraHeaders: [(String, String)] = []

    init(channel: Channel, keepAlive: Bool, head: HTTPRequestHead) {
        self.channel = channel
        self.keepAlive = keepAlive
        self.head = head
    }

    func headers(_ contentType: String?, length: Int?) -> HTTPHeaders {
        var h = HTTPHeaders()
        h.add(name: "Api-Version", value: APIVersion.current)
        h.add(name: "Docker-Experimental", value: "false")
        h.add(name: "Ostype", value: "linux")
        h.add(name: "Server", value: "Berth/0.1 (linux)")
        if let contentType { h.add(name: "Content-Type", value: contentType) }
        if let length { h.add(name: "Content-Length", value: String(length)) }
        if !keepAlive { h.add(name: "Connection", value: "close") }
        for (name, value) in extraHeaders { h.add(name: name, value: value) }
        return h
    }

    public func send(_ status: HTTPResponseStatus, bytes: [UInt8], contentType: String? = "application/json") {
        let isHead = head.method == .HEAD
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status,
                                                                   headers: headers(bytes.isEmpty && contentType == nil ? nil : contentType, length: bytes.count))), promise: nil)
        if !bytes.isEmpty && !isHead {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: bytes))), promise: nil)
        }
        let close = keepAlive ? nil : channel
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in close?.close(promise: nil) }
    }

    public func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) {
        send(status, bytes: Self.jsonLine(value) ?? Array("{}\n".utf8))
    }

    /// One value as a JSON line: a Go-marshalled model (`GoEncodable`) by the wire encoder, which
    /// writes as it goes (reading the 256 past events took 3.9 ms through Foundation's, 1.8
    /// through it), anything else by Foundation's, with slashes left as they are, as Go leaves
    /// them. Nil if it cannot encode.
    static func jsonLine<T: Encodable>(_ value: T) -> [UInt8]? {
        if value is GoEncodable, let bytes = try? WireEncoder.encode(value) { return bytes + [10] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { Array($0) + [10] }
    }

    public func status(_ status: HTTPResponseStatus) { send(status, bytes: [], contentType: nil) }

    public func text(_ text: String, status: HTTPResponseStatus = .ok) { send(status, bytes: Array(text.utf8), contentType: "text/plain; charset=utf-8") }

    /// Docker's error body and status for whatever went wrong; `plain` for a client of an API
    /// before JSON errors (1.23 and older), which dockerd answers in text.
    public func fail(_ error: Error, plain: Bool = false) {
        let (code, message) = Self.describe(error)
        if code == 304 { return status(.notModified) }
        if plain { return text(message + "\n", status: HTTPResponseStatus(statusCode: code)) }
        json(ErrorResponse(message: message), status: HTTPResponseStatus(statusCode: code))
    }

    static func describe(_ error: Error) -> (Int, String) {
        guard let coded = error as? CodedError else { return (500, "\(error)") }
        return (coded.code.httpStatus, coded.description)
    }

    // MARK: streams

    /// Starts a chunked response.
    public func beginStream(_ status: HTTPResponseStatus = .ok, contentType: String) {
        channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers(contentType, length: nil))), promise: nil)
    }

    /// Writes a chunk and waits until it is flushed (backpressure for big streams).
    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: bytes)))).get()
    }

    public func writeJSONLine<T: Encodable>(_ value: T) async throws {
        try await write(Self.jsonLine(value) ?? [10])
    }

    /// Queues one JSON line without waiting (progress reported from transfer threads).
    public func post<T: Encodable>(_ value: T) {
        let bytes = Self.jsonLine(value) ?? [10]
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: bytes))), promise: nil)
    }

    public func end() {
        let close = keepAlive ? nil : channel
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in close?.close(promise: nil) }
    }

    public var isActive: Bool { channel.isActive }

    /// Takes the connection over for a raw stream (`attach`, `exec start`): answers `101 UPGRADED`
    /// when the client asked to upgrade (200 otherwise), then drops the HTTP codec so bytes flow
    /// both ways untouched. Returns the channel, now carrying ByteBuffers.
    public func hijack(contentType: String, inbound: @escaping @Sendable (ByteBuffer?) -> Void) async throws -> Channel {
        hijacked = true
        let upgrade = head.headers["Upgrade"].first?.lowercased() == "tcp"
        var text = upgrade ? "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" : "HTTP/1.1 200 OK\r\n"
        text += "Content-Type: \(contentType)\r\nApi-Version: \(APIVersion.current)\r\n\r\n"
        let channel = self.channel
        try await channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            // Each removal completes at once on the event loop, in this order; the decoder forwards
            // bytes it already read past the request to the raw handler.
            try pipeline.addHandler(RawStreamHandler(inbound: inbound))
            _ = pipeline.removeHandler(name: "api")
            _ = pipeline.removeHandler(name: "deadline")  // a raw stream has no request heads to time
            _ = pipeline.removeHandler(name: "encoder")
            channel.writeAndFlush(channel.allocator.buffer(string: text), promise: nil)
            _ = pipeline.removeHandler(name: "decoder")
        }.get()
        _ = try? await channel.setOption(ChannelOptions.autoRead, value: true).get()  // fails only on a closed channel, which the stream then finds
        return channel
    }
}

/// After a hijack: every inbound ByteBuffer (and the client's half-close, as nil) to a callback.
final class RawStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let inbound: @Sendable (ByteBuffer?) -> Void
    init(inbound: @escaping @Sendable (ByteBuffer?) -> Void) { self.inbound = inbound }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbound(unwrapInboundIn(data)) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { inbound(nil) }
    }

    func channelInactive(context: ChannelHandlerContext) { inbound(nil) }
}

extension ErrorCode {
    /// The status dockerd answers each kind of failure with: the API's one mapping.
    var httpStatus: Int {
        switch self {
        case .invalid: return 400
        case .notFound: return 404
        case .conflict: return 409
        case .notModified: return 304
        case .forbidden: return 403
        case .tooLarge: return 413
        case .unavailable: return 503
        case .notImplemented: return 501
        // a 401 would make the docker CLI prompt for a login; dockerd answers a refused pull with 500
        case .unauthorized, .upstream, .internal: return 500
        }
    }
}
