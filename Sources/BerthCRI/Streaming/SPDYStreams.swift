import BerthSystem
import FoundationEssentials
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The SPDY protocols the streaming server speaks, named in `X-Stream-Protocol-Version`.
enum SPDYProtocol {
    /// Remote command (exec, attach): v4 ends with a JSON status, v3 added the resize stream;
    /// the older ones end with an error's text.
    static let remoteCommand = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]
    static let portForward = ["portforward.k8s.io"]

    /// The first of the client's offer (in its order) that the server speaks, as the kubelet's
    /// handshake chooses.
    static func negotiate(_ offered: [String], kind: String) -> String? {
        let served = kind == "portforward" ? portForward : remoteCommand
        return ChannelProtocol.offers(offered).first { served.contains($0) }
    }
}

/// Exec or attach over SPDY: the client opens an error stream and one stream per standard stream
/// it wants (and a resize stream for a terminal, from v3), each named by its `streamtype` header;
/// the process starts once all are open, as the kubelet starts it. A client that has not opened
/// them within `streamsDeadline` is closed.
final class SPDYRemoteCommand: SPDYSessionDelegate, @unchecked Sendable {
    static let streamsDeadline = TimeAmount.seconds(30)
    let stream: ProcessStream
    let expected: Set<String>
    private let start: @Sendable () -> Void
    private let lock = NIOLock()
    private var kinds: [UInt32: String] = [:]
    private var started = false

    init(stream: ProcessStream, stdin: Bool, stdout: Bool, stderr: Bool, tty: Bool, resize: Bool, start: @escaping @Sendable () -> Void) {
        self.stream = stream
        var expected: Set<String> = ["error"]
        if stdin { expected.insert("stdin") }
        if stdout { expected.insert("stdout") }
        if stderr && !tty { expected.insert("stderr") }
        if tty && resize { expected.insert("resize") }
        self.expected = expected
        self.start = start
    }

    static let outputChannels: [String: UInt8] = ["stdout": ChannelProtocol.stdout, "stderr": ChannelProtocol.stderr, "error": ChannelProtocol.error]

    func opened(_ id: UInt32, headers: [String: String], session: SPDYSession) -> Bool {
        guard let kind = headers["streamtype"], expected.contains(kind) else { return false }
        let ready = lock.withLock { () -> Bool? in
            guard !kinds.values.contains(kind) else { return nil }
            kinds[id] = kind
            guard kinds.count == expected.count, !started else { return false }
            started = true
            return true
        }
        guard let ready else { return false }  // a second stream of one kind
        if let channel = Self.outputChannels[kind] { session.channels.mutate { $0[channel] = id } }
        if ready { start() }
        return true
    }

    func received(_ id: UInt32, _ data: ByteBuffer, session: SPDYSession) {
        switch lock.withLock({ kinds[id] }) {
        case "stdin": stream.received(ChannelProtocol.stdin, data)
        case "resize":
            // kubectl writes one JSON object per resize; several may share a frame
            for object in Self.objects(in: data) { stream.received(ChannelProtocol.resize, object) }
        default: break
        }
    }

    func finished(_ id: UInt32, session: SPDYSession) {
        if lock.withLock({ kinds[id] }) == "stdin" { stream.clientEnded() }
    }

    func ended(session: SPDYSession) { stream.clientEnded() }

    /// Whether all the streams came in time.
    var isStarted: Bool { lock.withLock { started } }

    /// The top-level JSON objects of `data`, split at their closing braces (a resize has no
    /// nested object or brace in a string).
    static func objects(in data: ByteBuffer) -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        var start = data.readerIndex, depth = 0
        for (offset, byte) in data.readableBytesView.enumerated() {
            if byte == UInt8(ascii: "{") { depth += 1 }
            if byte == UInt8(ascii: "}"), depth > 0 {
                depth -= 1
                let end = data.readerIndex + offset + 1
                if depth == 0, let slice = data.getSlice(at: start, length: end - start) { out.append(slice); start = end }
            }
        }
        return out
    }
}

/// Port forwarding over SPDY: the client opens an error and a data stream per connection it
/// wants, both with the `port` and the same `requestID`; each complete pair gets a `PortRelay`.
/// The session lasts until the client ends it.
final class SPDYPortForward: SPDYSessionDelegate, @unchecked Sendable {
    static let maxPairs = 32
    let netns: String
    let log: Logger
    private let lock = NIOLock()
    private struct Pair { var port: UInt16; var error: UInt32?; var data: UInt32?; var relay: PortRelay? }
    private var pairs: [String: Pair] = [:]
    private var requests: [UInt32: String] = [:]

    init(netns: String, log: Logger) {
        self.netns = netns
        self.log = log
    }

    func opened(_ id: UInt32, headers: [String: String], session: SPDYSession) -> Bool {
        guard let type = headers["streamtype"], type == "error" || type == "data", let port = headers["port"].flatMap(UInt16.init), port > 0
        else { return false }
        let request = headers["requestid"] ?? ""
        let complete = lock.withLock { () -> Pair? in
            var pair = pairs[request] ?? Pair(port: port)
            guard pair.port == port, (type == "error" ? pair.error : pair.data) == nil, pairs.count < Self.maxPairs || pairs[request] != nil else { return nil }
            if type == "error" { pair.error = id } else { pair.data = id }
            pairs[request] = pair
            requests[id] = request
            return pair
        }
        guard let complete else { return false }
        if let error = complete.error, let data = complete.data { connect(request, port: port, error: error, data: data, session: session) }
        return true
    }

    private func connect(_ request: String, port: UInt16, error: UInt32, data: UInt32, session: SPDYSession) {
        let channel = session.channel
        let relay = PortRelay(port: port, client: channel, log: log, deliver: { buffer in session.send(data, buffer) }, ended: { [self] failure in
            if let failure { session.send(error, channel.allocator.buffer(string: "error forwarding port \(port) to the pod: \(failure)")) }
            session.send(data, channel.allocator.buffer(capacity: 0), fin: true)
            session.send(error, channel.allocator.buffer(capacity: 0), fin: true)
            lock.withLock {
                pairs[request] = nil
                requests[data] = nil
                requests[error] = nil
            }
        })
        lock.withLock { pairs[request]?.relay = relay }
        relay.start(netns: netns, on: channel.eventLoop)
    }

    func received(_ id: UInt32, _ data: ByteBuffer, session: SPDYSession) {
        let relay = lock.withLock { requests[id].flatMap { pairs[$0] }.flatMap { $0.data == id ? $0.relay : nil } }
        relay?.input(data)
    }

    func finished(_ id: UInt32, session: SPDYSession) {
        let relay = lock.withLock { requests[id].flatMap { pairs[$0] }.flatMap { $0.data == id ? $0.relay : nil } }
        relay?.inputEnded()
    }

    func ended(session: SPDYSession) {
        let relays = lock.withLock { () -> [PortRelay] in
            defer { pairs = [:]; requests = [:] }
            return pairs.values.compactMap(\.relay)
        }
        for relay in relays { relay.stop() }
    }
}

/// The SPDY/3.1 upgrade of a streaming URL: accepted for a valid token with a protocol both sides
/// speak (`X-Stream-Protocol-Version` in the 101), refused otherwise (the request then reaches
/// the refusal handler, which says why).
struct SPDYUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "SPDY/3.1"
    let requiredUpgradeHeaders: [String] = []
    let server: StreamingServer

    struct Refused: Error {}

    func buildUpgradeResponse(channel: Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        guard let route = StreamingServer.route(upgradeRequest.uri), server.requests.contains(route.token, kind: route.kind),
              let chosen = SPDYProtocol.negotiate(upgradeRequest.headers["X-Stream-Protocol-Version"], kind: route.kind)
        else { return channel.eventLoop.makeFailedFuture(Refused()) }
        var headers = initialResponseHeaders
        headers.add(name: "X-Stream-Protocol-Version", value: chosen)
        return channel.eventLoop.makeSucceededFuture(headers)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        server.serveSPDY(context.channel, upgradeRequest)
    }
}
