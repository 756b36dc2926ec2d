import BerthAPI
import BerthEngine
import BerthSystem
import Glibc
import NIOCore
import NIOHTTP1

/// One API request, fully received (bodies of uploads are spooled to a file, not held in memory).
public struct APIRequest: Sendable {
    public var method: HTTPMethod
    /// Path without the `/v1.xx` prefix.
    public var path: String
    public var query: [String: [String]]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// An upload's spool file (load, import, archive); the route removes it.
    public var bodyFile: String?
    public var apiVersion: String?

    /// The path as the client sent it, version prefix included (what dockerd's log shows).
    public var loggedPath: String { apiVersion.map { "/v\($0)\(path)" } ?? path }

    /// Whether the client asked for an API older than `version` (a path without a version
    /// means the server's own, as dockerd takes it).
    public func versionPrecedes(_ version: String) -> Bool {
        apiVersion.map { APIVersion.precedes($0, version) } ?? false
    }

    /// The first value, as Go's `FormValue` takes (docker-py sends a tuple as two values).
    public func query(_ name: String) -> String? { query[name]?.first }
    /// A boolean parameter as Go's strconv.ParseBool reads it (the SDK sends `False`).
    public func flag(_ name: String, default value: Bool = false) -> Bool {
        guard let v = query(name)?.lowercased(), !v.isEmpty else { return value }
        return v == "1" || v == "true" || v == "t" || v == "yes"
    }
    public func int(_ name: String) -> Int? { query(name).flatMap { Int($0) } }
    /// A terminal's height or width (`h`, `w`), held to what a tty can be.
    public func dimension(_ name: String) -> UInt16 { UInt16(clamping: int(name) ?? (name == "h" ? 24 : 80)) }

    /// An event filter's `since`/`until`: Unix seconds (fractions allowed) or an RFC 3339 time,
    /// bounded so that nothing downstream overflows: in nanoseconds it must fit an Int64 (up to
    /// about 9.2e9 s, the year 2262; 9.7e9 s once trapped berthd, found by the fuzzer).
    public static func eventTime(_ text: String) throws -> Int64 {
        if let seconds = Double(text) ?? Timestamp.parse(text), seconds.isFinite, abs(seconds) < 9e9 { return Int64(seconds * 1e9) }
        throw EngineError.invalid("invalid timestamp \(text)")
    }

    /// The JSON body as dockerd reads it (Go's rules, see `WireDecoder`); an empty body is `{}`.
    public func decodeBody<T: Decodable>(_ type: T.Type) throws(WireDecodingError) -> T {
        try WireDecoder.decode(type, from: body.isEmpty ? Array("{}".utf8) : body)
    }
}

/// Reads HTTP/1.1 requests and hands each to the router; keeps the connection for the next one.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: Router
    let spoolDirectory: String
    /// Runs this connection's requests on its event loop (made with the first request).
    var loopExecutor: EventLoopExecutor?
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var spool: UploadSpool?
    /// Set once an oversized body was answered with 413: the rest of the request is dropped.
    var rejected = false
    /// A request's handler is running (the connection reads nothing meanwhile).
    var inFlight = false
    /// Requests read while one was being answered (a client that pipelines, or bytes read before
    /// the pause took hold): answered one at a time, in order, as HTTP/1.1 requires. Two at once
    /// would interleave their responses, and the first one's end would close the connection
    /// under the second after a half-close.
    var queued: [(HTTPRequestHead, APIRequest)] = []
    /// The client half-closed (allowed so that an attach's client can end its stdin and still
    /// read the output). Any other connection ends then: left open it would sit in CLOSE-WAIT,
    /// a descriptor lost per client that closes first (thousands under a test suite).
    var inputClosed = false
    /// JSON bodies are decoded in memory: bounded so that no client can make the daemon hold
    /// more per connection (uploads are spooled and bounded by the disk instead).
    static let bodyLimit = 16 << 20

    init(router: Router, spoolDirectory: String) {
        self.router = router
        self.spoolDirectory = spoolDirectory
    }

    /// Routes whose bodies are image or file tars: spooled to disk as they arrive.
    static func isUpload(_ method: HTTPMethod, _ path: String) -> Bool {
        method == .POST && (path.hasSuffix("/images/load") || path.hasSuffix("/images/create") || path.hasSuffix("/build"))
            || method == .PUT && path.hasSuffix("/archive")
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            context.triggerUserOutboundEvent(HeadDeadline.Event.headReceived, promise: nil)
            head = h
            body = []
            rejected = false
            let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
            if Self.isUpload(h.method, path) { spool = UploadSpool(in: spoolDirectory) }
        case .body(var buffer):
            if spool != nil {
                buffer.withUnsafeReadableBytes { spool?.write($0) }
            } else if body.count + buffer.readableBytes <= Self.bodyLimit {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            } else if !rejected, let head {
                rejected = true
                body = []
                Responder(channel: context.channel, keepAlive: false, head: head)
                    .fail(EngineError.tooLarge("request body larger than \(Self.bodyLimit >> 20) MiB"))
            }
        case .end:
            guard let head, !rejected else { return }
            self.head = nil
            context.triggerUserOutboundEvent(HeadDeadline.Event.requestReceived, promise: nil)
            var bodyFile: String?
            if var upload = spool {
                spool = nil
                switch upload.finish() {
                case .success(let path): bodyFile = path
                case .failure(let error):
                    // the path only, as the router logs it: a build's query can carry its build args
                    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                    Router.log.error("Handler for \(head.method) \(path) returned error: \(describeWithCauses(error))")
                    return Responder(channel: context.channel, keepAlive: false, head: head).fail(error)
                }
            }
            let request = Router.parse(head, body: body, bodyFile: bodyFile)
            body = []
            if inFlight {
                queued.append((head, request))
            } else {
                dispatch(head, request, on: context.channel)
            }
        }
    }

    /// Hands one request to the router; reading pauses until it is answered.
    func dispatch(_ head: HTTPRequestHead, _ request: APIRequest, on channel: Channel) {
        inFlight = true
        channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
        let router = self.router
        let executor = loopExecutor ?? EventLoopExecutor(channel.eventLoop)
        loopExecutor = executor
        Task(executorPreference: executor) {
            let responder = Responder(channel: channel, keepAlive: head.isKeepAlive, head: head)
            await router.handle(request, responder)
            if !responder.hijacked {
                channel.eventLoop.execute { handler.value.answered(channel) }
            }
        }
    }

    /// The response is out: the next request read meanwhile goes next; otherwise reading
    /// resumes, unless the client has gone.
    func answered(_ channel: Channel) {
        inFlight = false
        if !queued.isEmpty {
            let (head, request) = queued.removeFirst()
            return dispatch(head, request, on: channel)
        }
        if inputClosed { channel.close(promise: nil) } else { channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let e = event as? ChannelEvent, e == .inputClosed else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        if !inFlight { context.close(promise: nil) }
    }

    /// A hijack removes this handler: a half-close it saw before goes on to the raw stream. So
    /// does the connection's end, which drops an upload cut short (its descriptor and file).
    func handlerRemoved(context: ChannelHandlerContext) {
        spool?.discard()
        spool = nil
        if inputClosed && inFlight { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// Closes a connection whose request head does not arrive within `limit` of its first byte
/// (slowloris): idle keep-alive connections and streams after the head are not timed.
final class HeadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Any

    /// Sent outbound by `HTTPHandler`: the clock stops at a head and may start again once the
    /// whole request has been read.
    enum Event { case headReceived, requestReceived }

    static let limit = TimeAmount.seconds(15)
    var waitingForHead = true
    var timer: Scheduled<Void>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waitingForHead && timer == nil {
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: Self.limit) { channel.close(promise: nil) }
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? Event else { return context.triggerUserOutboundEvent(event, promise: promise) }
        timer?.cancel()
        timer = nil
        waitingForHead = event == .requestReceived
        promise?.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }
}
