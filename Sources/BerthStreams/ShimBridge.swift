import BerthAPI
import BerthShimProtocol
import FoundationEssentials
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Joins a client connection to a shim stream (attach or exec): the shim's frames go out in the
/// client's framing, the client's bytes go in as stdin, and either side closing ends the other.
public final class ShimBridge: @unchecked Sendable {
    /// How each chunk of output is framed on the client's connection.
    public enum Framing: Sendable {
        /// Docker's multiplexed stream: an 8-byte header (stream, size) before each chunk.
        case multiplexed
        /// The bytes alone (Docker's tty stream).
        case raw
        /// Kubernetes' channel protocols: the stream's number (1 stdout, 2 stderr) before each
        /// chunk; the connection's own handler makes each chunk one message.
        case channelPrefixed
    }

    let framing: Framing
    let onExit: (@Sendable (ExitStatus) async -> Void)?
    /// Records the exit before the client's connection closes: a client inspects the exec as
    /// soon as its stream ends and must find the exit code there.
    private var exitRecorded: Task<Void, Never>?
    /// The detach sequence (ctrl-p ctrl-q by default) ends a tty attach without stopping the
    /// container; nil where Docker applies none (no tty, no stdin).
    private var detachScanner: DetachKeyScanner?
    private let lock = NIOLock()
    private var client: Channel?
    private var shim: Channel?
    private var pendingInput: [ByteBuffer] = []
    /// Output that arrived before the client's connection was handed over.
    private var pendingOutput: [[UInt8]] = []
    private var clientClosedInput = false
    /// Output written to the client and not yet taken by its socket. Past `highWater` berthd
    /// stops reading the shim until the client is down to `lowWater`: a slow client costs a
    /// bounded amount here and loses nothing. The shim then holds the container's output back
    /// (as Docker slows a container for a slow attach) and drops a client that takes nothing at
    /// all, whose output stays in the log.
    private var backlog = 0
    /// The shim connection while its reads are paused.
    private var pausedShim: Channel?
    static let highWater = 1 << 20
    static let lowWater = 256 << 10
    /// The client typed the detach sequence: nothing more of its input goes through, and its
    /// connection closes as soon as it is handed over (the keys may arrive before that).
    private var detached = false
    /// The connection the client's input comes on: its reads pause while the shim's socket is
    /// full (or, before the shim is connected, past `highWater` of waiting input), so a client
    /// that writes faster than the container reads is held back instead of growing berthd.
    private var inputSource: Channel?
    private var inputPaused = false
    private var pendingInputBytes = 0

    public init(framing: Framing, detachKeys: DetachKeys?, onExit: (@Sendable (ExitStatus) async -> Void)?) {
        self.framing = framing
        self.detachScanner = detachKeys.map(DetachKeyScanner.init)
        self.onExit = onExit
    }

    /// Where the client's input comes from, for the bound on what waits of it.
    public func takesInput(from channel: Channel) { lock.withLock { inputSource = channel } }

    /// Bytes from the client (nil: it closed its sending side or went away).
    public func fromClient(_ buffer: ByteBuffer?) {
        guard var buffer else {
            let (target, peer, shimGone) = lock.withLock { () -> (Channel?, Channel?, Bool) in
                clientClosedInput = true
                return (shim, client, shimDone)
            }
            if shimGone { peer?.close(promise: nil) }  // both directions are over
            target?.close(mode: .output, promise: nil)
            // A client gone altogether ends the stream. One not handed over yet (`attach
            // --no-stdin` half-closes at once, possibly before `attachClient`) is not gone: its
            // own close, if it comes, closes the shim through `attachClient`'s close handler.
            if let peer, !peer.isActive { target?.close(promise: nil) }
            return
        }
        let (target, peer, detachedNow) = lock.withLock { () -> (Channel?, Channel?, Bool) in
            if detached { buffer.clear(); return (nil, nil, false) }
            if var scanner = detachScanner {
                let result = scanner.scan(buffer.readableBytesView)
                detachScanner = scanner
                buffer = ByteBuffer(bytes: result.forward)
                detached = result.detached
            }
            if shim == nil, buffer.readableBytes > 0 {
                pendingInput.append(buffer)
                pendingInputBytes += buffer.readableBytes
                if pendingInputBytes > Self.highWater { pauseInput() }
            }
            return (shim, client, detached)
        }
        if let target, buffer.readableBytes > 0 {
            target.writeAndFlush(buffer, promise: nil)
            if !target.isWritable { lock.withLock { pauseInput() } }
        }
        if detachedNow {
            // Docker closes the client's connection; the container and its stdin stay as they are.
            peer?.close(promise: nil)
            target?.close(promise: nil)
        }
    }

    /// How long output waits behind the response head for a client that reads the head through
    /// a buffered reader and then takes the raw socket, losing whatever arrived with the head
    /// (docker-py, and compose on it): its first read of the head comes well within this. Output
    /// ready before the hand-over, and a `logs=1` replay (`ContainerRoutes.replay`), wait for
    /// every client.
    public static let headStart = TimeAmount.milliseconds(50)

    /// docker-py's User-Agent (compose 1.x sends `docker-compose/… docker-py/…`).
    public static func readsHeadBuffered(userAgent: String?) -> Bool {
        guard let userAgent else { return false }
        return userAgent.hasPrefix("docker-sdk-python/") || userAgent.contains("docker-py/")
    }

    public func attachClient(_ channel: Channel, holdOutput: Bool = false) {
        if holdOutput || lock.withLock({ !pendingOutput.isEmpty }) {
            channel.eventLoop.scheduleTask(in: Self.headStart) { [self] in handOver(channel) }
        } else {
            handOver(channel)
        }
    }

    private func handOver(_ channel: Channel) {
        let (early, shimGone, gone) = lock.withLock { () -> ([[UInt8]], Bool, Bool) in
            client = channel
            defer { pendingOutput = [] }
            return (pendingOutput, shimDone, detached)
        }
        if gone { return channel.close(promise: nil) }
        for bytes in early {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { [self] _ in written(bytes.count) }
            channel.write(channel.allocator.buffer(bytes: bytes), promise: promise)
        }
        channel.flush()
        if shimGone { closeClient(channel) }
        channel.closeFuture.whenComplete { [self] _ in lock.withLock { shim }?.close(promise: nil) }
    }

    /// Wraps the connected shim socket and starts moving bytes.
    public func connectShim(fd: Int32, on loop: EventLoop) {
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ShimFrameHandler(bridge: self)) }
            }
        bootstrap.withConnectedSocket(fd).whenSuccess { [self] channel in
            let (input, closed, gone) = lock.withLock { () -> ([ByteBuffer], Bool, Bool) in
                shim = channel
                defer { pendingInput = [] }
                return (pendingInput, clientClosedInput, detached)
            }
            if gone { return channel.close(promise: nil) }  // as a detach after the shim joined does
            for buffer in input { channel.write(buffer, promise: nil) }
            channel.flush()
            lock.withLock { pendingInputBytes = 0 }
            if channel.isWritable { shimWritable() }
            if closed { channel.close(mode: .output, promise: nil) }
        }
    }

    /// Under the lock.
    private func pauseInput() {
        guard !inputPaused, let source = inputSource else { return }
        inputPaused = true
        source.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
    }

    /// The shim's socket can take more: the client's input flows again.
    func shimWritable() {
        let source = lock.withLock { () -> Channel? in
            guard inputPaused else { return nil }
            inputPaused = false
            return inputSource
        }
        source?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
    }

    /// Output for the client: from the shim, read on `source`'s event loop, or (no source) a
    /// message of berthd's own.
    public func toClient(_ stream: UInt8, _ payload: [UInt8], from source: Channel? = nil) {
        if stream == Frame.exit {
            if let status = try? JSONDecoder().decode(ExitStatus.self, from: Data(payload)), let onExit {
                lock.withLock { exitRecorded = Task { await onExit(status) } }
            }
            return
        }
        let bytes: [UInt8]
        switch framing {
        case .multiplexed: bytes = Frame.header(stream: stream, length: payload.count) + payload
        case .raw: bytes = payload
        case .channelPrefixed: bytes = [stream] + payload
        }
        let (target, pause) = lock.withLock { () -> (Channel?, Bool) in
            backlog += bytes.count
            if client == nil { pendingOutput.append(bytes) }
            let pause = backlog > Self.highWater && pausedShim == nil && source != nil
            if pause { pausedShim = source }
            return (client, pause)
        }
        // on the shim's own loop, so this lands before any resume, which is queued behind it
        if pause { source?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
        guard let target else { return }
        let promise = target.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [self] _ in written(bytes.count) }
        target.writeAndFlush(target.allocator.buffer(bytes: bytes), promise: promise)
    }

    /// The client's socket took `count` bytes (or the write failed and they are gone).
    private func written(_ count: Int) {
        let resume = lock.withLock { () -> Channel? in
            backlog -= count
            guard backlog < Self.lowWater, let paused = pausedShim else { return nil }
            pausedShim = nil
            return paused
        }
        resume?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
    }

    private var shimDone = false

    /// The shim stream ended, or never came (the container failed to start: Docker just closes
    /// the attach; the error reaches the client through the start request).
    public func shimClosed() {
        let target = lock.withLock { () -> Channel? in
            shimDone = true
            return client
        }
        if let target { closeClient(target) }
    }

    /// Ends the client's stream with a FIN, not a close: closing a socket that still holds unread
    /// client bytes (a tty's late keystrokes) sends a reset, which the docker CLI reports as an
    /// error instead of the exit code. The client closes its side on EOF; a timer makes sure.
    private func closeClient(_ channel: Channel) {
        let finish: @Sendable () -> Void = {
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        }
        guard let recording = lock.withLock({ exitRecorded }) else { return finish() }
        Task {
            await recording.value
            finish()
        }
    }
}

/// Splits the shim's byte stream into frames.
final class ShimFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let bridge: ShimBridge
    var pending: [UInt8] = []
    init(bridge: ShimBridge) { self.bridge = bridge }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
        for (stream, payload) in Frame.parse(&pending) { bridge.toClient(stream, payload, from: context.channel) }
    }

    func channelInactive(context: ChannelHandlerContext) { bridge.shimClosed() }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { bridge.shimWritable() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { context.close(promise: nil) }
    }
}
