import BerthEngine
import BerthSystem
import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The streaming server the kubelet is sent to by Exec, Attach and PortForward: the RPC returns
/// `http://<address>/<kind>/<token>` and the client connects there. Served on TCP (the kubelet
/// reaches it as it reaches containerd's, on 127.0.0.1 by default), WebSocket with Kubernetes'
/// channel protocols (`v5.channel.k8s.io`, `v4.channel.k8s.io`, `channel.k8s.io`; port forwarding
/// v4 and unnamed) or SPDY/3.1 (remote command v4 to v1, `portforward.k8s.io`), the protocol the
/// kubelet proxies `kubectl exec`, `attach` and `port-forward` with.
public final class StreamingServer: Sendable {
    let requests = StreamRequests()
    let containers: ContainerService
    let log: Logger
    private let listener = Locked<Channel?>(nil)

    init(containers: ContainerService, log: Logger) {
        self.containers = containers
        self.log = log
    }

    /// The URL prefix the RPCs hand out, once `start` has bound the listener.
    var baseURL: String {
        guard let address = listener.value?.localAddress, let ip = address.ipAddress, let port = address.port else { return "" }
        return "http://" + (ip.contains(":" as Character) ? "[\(ip)]" : ip) + ":\(port)"
    }

    /// Binds `host:port` (port 0: one the kernel picks, as containerd's default).
    public func start(host: String, port: Int, group: EventLoopGroup) async throws {
        let upgrader = NIOWebSocketServerUpgrader(maxFrameSize: 1 << 20, shouldUpgrade: { [self] channel, head in
            channel.eventLoop.makeSucceededFuture(upgradeHeaders(head))
        }, upgradePipelineHandler: { [self] channel, head in
            serve(channel, head)
        })
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                let spdy = SPDYUpgrader(server: self)
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader, spdy], completionHandler: { _ in })).flatMap {
                    channel.pipeline.addHandler(RefusalHandler(requests: self.requests), name: RefusalHandler.name)
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        listener.exchange(channel)
        log.info("CRI streaming server on \(baseURL)")
    }

    /// A URL for `request`.
    func url(for request: StreamRequests.Request) throws -> String {
        let base = baseURL
        guard !base.isEmpty else { throw RPCStatus.unavailable("the CRI streaming server is not running") }
        return base + "/" + request.kind + "/" + (try requests.insert(request))
    }

    static func route(_ uri: String) -> (kind: String, token: String, query: [(String, String)])? {
        let (path, query) = uri.split(separator: "?", maxSplits: 1).map(String.init).pair
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 2, ["exec", "attach", "portforward"].contains(parts[0]) else { return nil }
        let pairs = (query ?? "").split(separator: "&").map { item -> (String, String) in
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            return (kv.first ?? "", kv.count > 1 ? kv[1] : "")
        }
        return (parts[0], parts[1], pairs)
    }

    /// Ports one WebSocket forwards at most: each takes two channels, numbered in one byte.
    static let maxPorts = 64

    /// The `port` values of a port-forward URL (the kubelet's `?port=80&port=443`), as the
    /// kubelet reads them: each a number from 1 to 65535, or the request is refused with why.
    static func forwardedPorts(_ query: [(String, String)]) -> Result<[UInt16], RefusalReason> {
        var ports: [UInt16] = []
        for (name, value) in query where name == "port" {
            guard let port = UInt16(value) else { return .failure(RefusalReason("unable to parse \"\(value)\" as a port")) }
            guard port > 0 else { return .failure(RefusalReason("port \"\(value)\" must be > 0")) }
            ports.append(port)
        }
        guard ports.count <= maxPorts else { return .failure(RefusalReason("at most \(maxPorts) ports are forwarded at once")) }
        return .success(ports)
    }

    struct RefusalReason: Error { let message: String; init(_ message: String) { self.message = message } }

    static func supported(_ kind: String) -> [ChannelProtocol] {
        kind == "portforward" ? [.v4, .unnamed] : [.v5, .v4, .v1, .unnamed]
    }

    /// The response's extra headers if the request may become a WebSocket: a known token and
    /// a protocol both sides speak. Otherwise the request goes on to `RefusalHandler`.
    private func upgradeHeaders(_ head: HTTPRequestHead) -> HTTPHeaders? {
        guard let route = Self.route(head.uri), requests.contains(route.token, kind: route.kind),
              let proto = ChannelProtocol.negotiate(head.headers["Sec-WebSocket-Protocol"], supported: Self.supported(route.kind)),
              route.kind != "portforward" || (try? Self.forwardedPorts(route.query).get()) != nil
        else { return nil }
        return proto == .unnamed ? HTTPHeaders() : HTTPHeaders([("Sec-WebSocket-Protocol", proto.rawValue)])
    }

    private func serve(_ channel: Channel, _ head: HTTPRequestHead) -> EventLoopFuture<Void> {
        guard let route = Self.route(head.uri), let request = requests.take(route.token, kind: route.kind),
              let proto = ChannelProtocol.negotiate(head.headers["Sec-WebSocket-Protocol"], supported: Self.supported(route.kind))
        else { return channel.close() }
        // the HTTP side's last handler goes first: it takes only HTTP parts
        return channel.pipeline.removeHandler(name: RefusalHandler.name).flatMap { [self] in
            serveWebSocket(channel, request, proto: proto, query: route.query)
        }
    }

    private func serveWebSocket(_ channel: Channel, _ request: StreamRequests.Request, proto: ChannelProtocol, query: [(String, String)]) -> EventLoopFuture<Void> {
        let aggregator = NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 20)
        switch request {
        case .exec(_, _, _, let stdin, _, _), .attach(_, _, let stdin, _, _):
            let stream = ProcessStream(proto: proto, stdin: stdin, command: request.command, log: log)
            stream.bridge.takesInput(from: channel)
            return channel.eventLoop.makeCompletedFuture { [self] in
                try channel.pipeline.syncOperations.addHandlers([aggregator, stream.webSocketHandler()])
                launch(request, stream, on: channel, announce: true)
            }
        case .portForward(_, let netns, let ports):
            let asked = (try? Self.forwardedPorts(query).get()) ?? []  // checked before the upgrade
            let stream = PortForwardStream(ports: asked.isEmpty ? ports : asked, netns: netns, log: log)
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers([aggregator, stream.handler()])
                stream.start(channel)
            }
        }
    }

    /// An upgraded SPDY connection (`SPDYUpgrader` checked the token and the protocol).
    func serveSPDY(_ channel: Channel, _ head: HTTPRequestHead) -> EventLoopFuture<Void> {
        guard let route = Self.route(head.uri), let request = requests.take(route.token, kind: route.kind),
              let chosen = SPDYProtocol.negotiate(head.headers["X-Stream-Protocol-Version"], kind: route.kind)
        else { return channel.close() }
        return channel.pipeline.removeHandler(name: RefusalHandler.name).flatMapThrowing { [self] () -> SPDYSession in
            switch request {
            case .portForward(_, let netns, _):
                return try SPDYSession(channel: channel, delegate: SPDYPortForward(netns: netns, log: log))
            case .exec(_, _, let tty, let stdin, let stdout, let stderr), .attach(_, let tty, let stdin, let stdout, let stderr):
                let stream = ProcessStream(proto: chosen == "v4.channel.k8s.io" ? .v4 : .v1, stdin: stdin, command: request.command, log: log)
                stream.bridge.takesInput(from: channel)
                let command = SPDYRemoteCommand(stream: stream, stdin: stdin, stdout: stdout, stderr: stderr, tty: tty,
                                                resize: chosen == "v4.channel.k8s.io" || chosen == "v3.channel.k8s.io") { [self] in
                    launch(request, stream, on: channel, announce: false)
                }
                channel.eventLoop.scheduleTask(in: SPDYRemoteCommand.streamsDeadline) { [log] in
                    if !command.isStarted {
                        log.info("CRI stream: the client did not open its streams in time")
                        channel.close(promise: nil)
                    }
                }
                return try SPDYSession(channel: channel, delegate: command, farewell: stream.farewell)
            }
        }.flatMap { session in channel.pipeline.addHandler(session) }
    }

    /// Starts an exec or attach once its client's streams are open.
    private func launch(_ request: StreamRequests.Request, _ stream: ProcessStream, on channel: Channel, announce: Bool) {
        switch request {
        case .exec(let id, let command, let tty, let stdin, let stdout, let stderr):
            stream.open(channel, stdout: stdout, stderr: stderr && !tty, announce: announce)
            Task { await exec(stream, id, command: command, tty: tty, stdin: stdin, on: channel.eventLoop) }
        case .attach(let id, let tty, let stdin, let stdout, let stderr):
            stream.endsWell()
            stream.open(channel, stdout: stdout, stderr: stderr && !tty, announce: announce)
            Task { await attach(stream, id, stdin: stdin, stdout: stdout, stderr: stderr && !tty, on: channel.eventLoop) }
        case .portForward:
            break
        }
    }

    private func exec(_ stream: ProcessStream, _ id: String, command: [String], tty: Bool, stdin: Bool, on loop: EventLoop) async {
        do {
            let launch = try containers.launchExec(id, command: command, tty: tty, stdin: stdin)
            let (fd, _) = try await launch.task.exec(launch.request)
            let execID = launch.request.execID
            stream.resizes { width, height in try await launch.task.resize(width: width, height: height, execID: execID) }
            stream.bridge.connectShim(fd: fd, on: loop)
        } catch {
            log.info("CRI exec in \(id) failed: \(error)")
            stream.finish(.internalError("\(error)"))
        }
    }

    private func attach(_ stream: ProcessStream, _ id: String, stdin: Bool, stdout: Bool, stderr: Bool, on loop: EventLoop) async {
        do {
            let bridge = stream.bridge
            _ = try await containers.attach(id, .init(stdin: stdin, stdout: stdout, stderr: stderr) { result in
                switch result {
                case .success(let fd): bridge.connectShim(fd: fd, on: loop)
                case .failure: bridge.shimClosed()
                }
            })
            let containers = containers
            stream.resizes { width, height in try await containers.resize(id, height: height, width: width) }
        } catch {
            log.info("CRI attach to \(id) failed: \(error)")
            stream.finish(.internalError("\(error)"))
        }
    }
}

/// Every request that did not become a WebSocket: a token that is unknown or used, or a
/// protocol berthd does not serve.
private final class RefusalHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    static let name = "refusal"
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let requests: StreamRequests
    init(requests: StreamRequests) { self.requests = requests }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (status, message) = Self.refusal(head, requests: requests)
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(message.utf8.count + 1)),
                                   ("Connection", "close")])
        headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: message + "\n")))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    static func refusal(_ head: HTTPRequestHead, requests: StreamRequests) -> (HTTPResponseStatus, String) {
        guard let route = StreamingServer.route(head.uri), requests.contains(route.token, kind: route.kind) else {
            return (.notFound, "stream request not found or expired")
        }
        let upgrade = head.headers["Upgrade"].first?.lowercased() ?? ""
        if route.kind == "portforward", !upgrade.hasPrefix("spdy"), case .failure(let reason) = StreamingServer.forwardedPorts(route.query) {
            return (.badRequest, reason.message)
        }
        if upgrade.hasPrefix("spdy") {
            let offered = head.headers["X-Stream-Protocol-Version"].joined(separator: ", ")
            let served = route.kind == "portforward" ? SPDYProtocol.portForward : SPDYProtocol.remoteCommand
            return (.forbidden, "unable to upgrade: unable to negotiate protocol: client supports [\(offered)], server accepts [\(served.joined(separator: ", "))]")
        }
        if upgrade != "websocket" { return (.badRequest, "a WebSocket or SPDY/3.1 upgrade is required") }
        let offered = head.headers["Sec-WebSocket-Protocol"].joined(separator: ", ")
        return (.badRequest, "none of the offered protocols (\(offered)) is served; supported: "
                + StreamingServer.supported(route.kind).map(\.rawValue).filter { !$0.isEmpty }.joined(separator: ", "))
    }
}

private extension Array where Element == String {
    var pair: (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}
