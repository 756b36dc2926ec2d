import BerthNetwork
import BerthSystem
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One forwarded connection: TCP to 127.0.0.1:`port` from a socket opened inside the pod's
/// network namespace (on a short-lived thread; the socket keeps that namespace), joined to one
/// stream of the client's. Reads from the pod pause while the client cannot take more, and the
/// client's side pauses (`input` returns false) while the pod's socket cannot.
final class PortRelay: @unchecked Sendable {
    let port: UInt16
    /// The client's connection, whose reads pause while the pod's socket is full.
    private let client: Channel
    private let log: Logger
    /// Output from the pod, for the client.
    private let deliver: @Sendable (ByteBuffer) -> Void
    /// The connection is over: nil when it ran, else why it never came.
    private let ended: @Sendable (String?) -> Void
    private let lock = NIOLock()
    private var connection: Channel?
    private var pending: [ByteBuffer] = []
    private var inputClosed = false
    private var stopped = false
    private var over = false

    init(port: UInt16, client: Channel, log: Logger, deliver: @escaping @Sendable (ByteBuffer) -> Void, ended: @escaping @Sendable (String?) -> Void) {
        self.port = port
        self.client = client
        self.log = log
        self.deliver = deliver
        self.ended = ended
    }

    func start(netns: String, on loop: EventLoop) {
        let port = port
        Task {
            do {
                let fd = try await Threads.run { try Self.dial(port: port, inNamespace: netns) }
                ClientBootstrap(group: loop)
                    .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    .channelInitializer { [self] channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RelayHandler(relay: self)) }
                    }
                    .withConnectedSocket(fd)
                    .whenComplete { [self] result in
                        switch result {
                        case .success(let channel): connected(channel)
                        case .failure(let error): finish("\(error)")
                        }
                    }
            } catch {
                finish("failed to connect to localhost:\(port) inside the pod's network namespace: \(error)")
            }
        }
    }

    /// A TCP connection to 127.0.0.1:`port` from inside the namespace pinned at `path`.
    static func dial(port: UInt16, inNamespace path: String) throws -> Int32 {
        try NetworkNamespace.within(path) { () throws(NetworkError) -> Int32 in
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .system("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw .system("dial tcp4 127.0.0.1:\(port): connect: \(reason)")
            }
            return fd
        }
    }

    private func connected(_ channel: Channel) {
        let (early, closeInput, gone) = lock.withLock { () -> ([ByteBuffer], Bool, Bool) in
            connection = channel
            defer { pending = [] }
            return (pending, inputClosed, stopped)
        }
        if gone { return channel.close(promise: nil) }
        for buffer in early { channel.write(buffer, promise: nil) }
        channel.flush()
        if closeInput { channel.close(mode: .output, promise: nil) }
    }

    /// Client bytes for the pod; the client's reads pause while the pod's socket is full.
    func input(_ buffer: ByteBuffer) {
        let target = lock.withLock { () -> Channel? in
            if connection == nil { pending.append(buffer) }
            return connection
        }
        guard let target else { return }
        target.writeAndFlush(buffer, promise: nil)
        if !target.isWritable { client.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    /// The client will send no more: the pod's socket is half-closed.
    func inputEnded() {
        let target = lock.withLock { () -> Channel? in
            inputClosed = true
            return connection
        }
        target?.close(mode: .output, promise: nil)
    }

    /// The client can take output again.
    func resume() { lock.withLock { connection }?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }

    /// The pod's socket can take more again.
    fileprivate func resumeClient() { client.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }

    /// The client is gone: the pod's connection closes.
    func stop() {
        let target = lock.withLock { () -> Channel? in
            stopped = true
            return connection
        }
        target?.close(promise: nil)
    }

    fileprivate func fromPod(_ buffer: ByteBuffer, on channel: Channel) {
        deliver(buffer)
        if !client.isWritable { channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    fileprivate func finish(_ failure: String?) {
        let first = lock.withLock { () -> Bool in
            defer { over = true }
            return !over
        }
        guard first else { return }
        if let failure { log.info("CRI port forward to port \(port): \(failure)") }
        ended(failure)
    }
}

/// The pod side of one relay.
private final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let relay: PortRelay
    init(relay: PortRelay) { self.relay = relay }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.fromPod(unwrapInboundIn(data), on: context.channel)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { relay.resumeClient() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) { relay.finish(nil) }
}

/// Port forwarding on a WebSocket, as the kubelet serves it: for port `i` of the request, the
/// data channel `2i` and the error channel `2i+1`, each opened with the port number (two bytes,
/// little-endian). The WebSocket ends when every port's connection has.
final class PortForwardStream: @unchecked Sendable {
    let netns: String
    let log: Logger
    private let lock = NIOLock()
    private var socket: Channel?
    private var relays: [PortRelay] = []
    private let ports: [UInt16]
    private var open: Int

    init(ports: [UInt16], netns: String, log: Logger) {
        self.ports = ports
        self.netns = netns
        self.log = log
        open = ports.count
    }

    func handler() -> ChannelSocketHandler {
        ChannelSocketHandler(onMessage: { [self] channel, buffer in received(channel, buffer) },
                             onEnd: { [self] in clientGone() },
                             onWritable: { [self] in for relay in lock.withLock({ relays }) { relay.resume() } })
    }

    /// Opens every port's channels and connects each port.
    func start(_ channel: Channel) {
        let made = ports.enumerated().map { index, port in
            PortRelay(port: port, client: channel, log: log, deliver: { buffer in
                var message = channel.allocator.buffer(capacity: buffer.readableBytes + 1)
                message.writeInteger(UInt8(2 * index))
                message.writeImmutableBuffer(buffer)
                channel.writeAndFlush(message, promise: nil)
            }, ended: { [self] failure in
                if let failure { channel.writeAndFlush(channel.allocator.buffer(bytes: [UInt8(2 * index + 1)] + Array(failure.utf8)), promise: nil) }
                portClosed()
            })
        }
        lock.withLock {
            socket = channel
            relays = made
        }
        for (index, port) in ports.enumerated() {
            let number = [UInt8(port & 0xff), UInt8(port >> 8)]
            channel.write(channel.allocator.buffer(bytes: [UInt8(2 * index)] + number), promise: nil)
            channel.write(channel.allocator.buffer(bytes: [UInt8(2 * index + 1)] + number), promise: nil)
        }
        channel.flush()
        for relay in made { relay.start(netns: netns, on: channel.eventLoop) }
    }

    private func received(_ channel: UInt8, _ buffer: ByteBuffer) {
        // the error channels are the server's
        let relay = lock.withLock { channel % 2 == 0 && Int(channel / 2) < relays.count ? relays[Int(channel / 2)] : nil }
        relay?.input(buffer)
    }

    /// A port's connection is over; the last one ends the WebSocket.
    private func portClosed() {
        let (last, socket) = lock.withLock { () -> (Bool, Channel?) in
            guard open > 0 else { return (false, nil) }
            open -= 1
            return (open == 0, self.socket)
        }
        if last, let socket { socket.close(mode: .output, promise: nil) }
    }

    private func clientGone() {
        let all = lock.withLock { () -> [PortRelay] in
            socket = nil
            return relays
        }
        for relay in all { relay.stop() }
    }
}
