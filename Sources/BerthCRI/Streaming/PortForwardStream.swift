import BerthNetwork
import BerthSystem
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Port forwarding on a WebSocket, as the kubelet serves it: for port `i` of the request, the
/// data channel `2i` and the error channel `2i+1`, each opened with the port number (two bytes,
/// little-endian); the data goes to a TCP connection to 127.0.0.1 made inside the pod's network
/// namespace (the socket is opened there on a short-lived thread and keeps that namespace). The
/// WebSocket ends when every port's connection has.
///
/// Each direction stops reading while the other side cannot take more, so a slow end costs a
/// bounded amount here.
final class PortForwardStream: @unchecked Sendable {
    let ports: [UInt16]
    let netns: String
    let log: Logger
    private let lock = NIOLock()
    private var socket: Channel?
    private var connections: [Channel?]
    /// Client bytes for a port whose connection is not made yet.
    private var pending: [[ByteBuffer]]
    private var open: Int

    init(ports: [UInt16], netns: String, log: Logger) {
        self.ports = ports
        self.netns = netns
        self.log = log
        connections = Array(repeating: nil, count: ports.count)
        pending = Array(repeating: [], count: ports.count)
        open = ports.count
    }

    func handler() -> ChannelSocketHandler {
        ChannelSocketHandler(onMessage: { [self] channel, buffer in received(channel, buffer) },
                             onEnd: { [self] in clientGone() },
                             onWritable: { [self] in
                                 for connection in lock.withLock({ connections }) { connection?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
                             })
    }

    /// Opens every port's channels and connects each port.
    func start(_ channel: Channel) {
        lock.withLock { socket = channel }
        for (index, port) in ports.enumerated() {
            let number = [UInt8(port & 0xff), UInt8(port >> 8)]
            channel.write(channel.allocator.buffer(bytes: [UInt8(2 * index)] + number), promise: nil)
            channel.write(channel.allocator.buffer(bytes: [UInt8(2 * index + 1)] + number), promise: nil)
        }
        channel.flush()
        for index in ports.indices { connect(index, on: channel.eventLoop) }
    }

    private func connect(_ index: Int, on loop: EventLoop) {
        let port = ports[index], netns = netns
        Task {
            do {
                let fd = try await Threads.run { try Self.dial(port: port, inNamespace: netns) }
                let relay = RelayHandler(stream: self, index: index)
                ClientBootstrap(group: loop)
                    .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(relay) } }
                    .withConnectedSocket(descriptor: fd)
                    .whenComplete { [self] result in
                        switch result {
                        case .success(let channel): connected(index, channel)
                        case .failure(let error): failed(index, "\(error)")
                        }
                    }
            } catch {
                failed(index, "failed to connect to localhost:\(port) inside the pod's network namespace: \(error)")
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

    private func connected(_ index: Int, _ channel: Channel) {
        let (early, gone) = lock.withLock { () -> ([ByteBuffer], Bool) in
            connections[index] = channel
            defer { pending[index] = [] }
            return (pending[index], socket == nil)
        }
        if gone { return channel.close(promise: nil) }
        for buffer in early { channel.write(buffer, promise: nil) }
        channel.flush()
    }

    private func failed(_ index: Int, _ message: String) {
        log.info("CRI port forward to port \(ports[index]): \(message)")
        if let socket = lock.withLock({ socket }) {
            socket.writeAndFlush(socket.allocator.buffer(bytes: [UInt8(2 * index + 1)] + Array(message.utf8)), promise: nil)
        }
        portClosed(index)
    }

    private func received(_ channel: UInt8, _ buffer: ByteBuffer) {
        guard channel % 2 == 0, Int(channel / 2) < ports.count else { return }  // error channels are the server's
        let index = Int(channel / 2)
        let target = lock.withLock { () -> Channel? in
            if connections[index] == nil { pending[index].append(buffer) }
            return connections[index]
        }
        guard let target else { return }
        target.writeAndFlush(buffer, promise: nil)
        if !target.isWritable { lock.withLock { socket }?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    /// Output of port `index`'s connection for the client.
    fileprivate func output(_ index: Int, _ buffer: ByteBuffer, from connection: Channel) {
        guard let socket = lock.withLock({ socket }) else { return }
        var message = socket.allocator.buffer(capacity: buffer.readableBytes + 1)
        message.writeInteger(UInt8(2 * index))
        message.writeImmutableBuffer(buffer)
        socket.writeAndFlush(message, promise: nil)
        if !socket.isWritable { connection.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    fileprivate func writable() {
        lock.withLock { socket }?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
    }

    /// Port `index`'s connection is over; the last one ends the WebSocket.
    fileprivate func portClosed(_ index: Int) {
        let (last, socket) = lock.withLock { () -> (Bool, Channel?) in
            guard open > 0 else { return (false, nil) }
            open -= 1
            return (open == 0, self.socket)
        }
        if last, let socket { socket.close(mode: .output, promise: nil) }
    }

    private func clientGone() {
        let all = lock.withLock { () -> [Channel?] in
            socket = nil
            return connections
        }
        for connection in all { connection?.close(promise: nil) }
    }
}

/// One forwarded port's TCP connection.
private final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let stream: PortForwardStream
    let index: Int
    private var closed = false
    init(stream: PortForwardStream, index: Int) { self.stream = stream; self.index = index }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        stream.output(index, unwrapInboundIn(data), from: context.channel)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { stream.writable() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !closed else { return }
        closed = true
        stream.portClosed(index)
    }
}
