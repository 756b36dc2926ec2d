import BerthSystem
import NIOCore
import NIOHTTP1

/// What runs on one SPDY connection (a remote command, or port forwarding), told of the streams
/// the client opens and what arrives on them. Called on the connection's event loop.
protocol SPDYSessionDelegate: AnyObject, Sendable {
    /// A stream the client opens, with its headers (names lowercase); false refuses it.
    func opened(_ stream: UInt32, headers: [String: String], session: SPDYSession) -> Bool
    func received(_ stream: UInt32, _ data: ByteBuffer, session: SPDYSession)
    /// The client will send no more on `stream` (FIN, or reset).
    func finished(_ stream: UInt32, session: SPDYSession)
    /// The connection is gone.
    func ended(session: SPDYSession)
}

/// One SPDY/3.1 connection of the streaming server. Chunks written to the channel (as
/// `ShimBridge` writes them: the channel's number, then data) go out as data frames on the stream
/// mapped to that channel; ending the output (`close(mode: .output)`) sends the farewell (the final
/// status) on its stream, a FIN on every open stream and a GOAWAY, then closes. A peer that breaks
/// the framing, or opens more than `maxStreams` streams, ends its own session.
final class SPDYSession: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maxStreams = 64
    let channel: Channel
    let delegate: any SPDYSessionDelegate
    /// The stream each outgoing channel goes to.
    let channels = Locked<[UInt8: UInt32]>([:])
    let farewell: Locked<[UInt8]?>
    private let codec: SPDYHeaderCodec
    private var context: ChannelHandlerContext?
    private var pending = ByteBuffer()
    /// Streams the client opened on which berthd has not sent its FIN (event loop only).
    private var open: Set<UInt32> = []
    private var opened = 0
    private var closing = false

    init(channel: Channel, delegate: any SPDYSessionDelegate, farewell: Locked<[UInt8]?> = Locked(nil)) throws {
        self.channel = channel
        self.delegate = delegate
        self.farewell = farewell
        self.codec = try SPDYHeaderCodec()
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        do {
            for frame in try SPDY.frames(&pending) { try handle(frame, context) }
        } catch {
            abort(context)
        }
    }

    private func handle(_ frame: SPDY.Frame, _ context: ChannelHandlerContext) throws {
        switch frame {
        case .data(let stream, let flags, let payload):
            if payload.readableBytes > 0 {
                delegate.received(stream, payload, session: self)
                if context.channel.isWritable { windowUpdate(stream, payload.readableBytes, context) }
            }
            if flags & SPDY.finFlag != 0 { delegate.finished(stream, session: self) }
        case .control(let type, let flags, var payload):
            switch SPDY.Control(rawValue: type) {
            case .synStream:
                guard let id = payload.readInteger(as: UInt32.self).map({ $0 & 0x7fff_ffff }), payload.readableBytes >= 6 else { return abort(context) }
                payload.moveReaderIndex(forwardBy: 6)  // associated stream, priority, slot
                let headers = Dictionary(try codec.decode(payload).map { ($0.0.lowercased(), $0.1) }) { first, _ in first }
                opened += 1
                guard opened <= Self.maxStreams, !open.contains(id), delegate.opened(id, headers: headers, session: self) else {
                    return control(.rstStream, bytes(id) + bytes(3), context)  // REFUSED_STREAM
                }
                open.insert(id)
                control(.synReply, bytes(id) + codec.encode([]), context)
                if flags & SPDY.finFlag != 0 { delegate.finished(id, session: self) }
            case .synReply, .headers:
                _ = payload.readInteger(as: UInt32.self)
                _ = try codec.decode(payload)  // the shared zlib stream must see every block
            case .rstStream:
                guard let id = payload.readInteger(as: UInt32.self).map({ $0 & 0x7fff_ffff }) else { return abort(context) }
                open.remove(id)
                delegate.finished(id, session: self)
            case .ping:
                // answered only while the client takes what it is sent, so pings never queue here
                if context.channel.isWritable { control(.ping, Array(payload.readableBytesView), context) }
            case .goAway:
                context.close(promise: nil)
            default:
                break  // SETTINGS, WINDOW_UPDATE (flow control is not enforced on this side)
            }
        }
    }

    /// Gives the client back the window `count` bytes took, for a client that enforces flow control
    /// (held back while the client reads nothing: its own sending then waits, as it should).
    private func windowUpdate(_ stream: UInt32, _ count: Int, _ context: ChannelHandlerContext) {
        control(.windowUpdate, bytes(stream) + bytes(UInt32(count)), context)
    }

    private func control(_ type: SPDY.Control, _ payload: [UInt8], _ context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: payload.count + 8)
        SPDY.control(type, payload, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func bytes(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }

    private func abort(_ context: ChannelHandlerContext) {
        control(.goAway, bytes(0) + bytes(1), context)  // PROTOCOL_ERROR
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        delegate.ended(session: self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: output

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var chunk = unwrapOutboundIn(data)
        guard let channel = chunk.readInteger(as: UInt8.self), let stream = channels.value[channel], open.contains(stream) else {
            promise?.succeed(())
            return
        }
        frame(stream, chunk, fin: false, context, promise: promise)
    }

    private func frame(_ stream: UInt32, _ payload: ByteBuffer, fin: Bool, _ context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        var buffer = context.channel.allocator.buffer(capacity: payload.readableBytes + 8)
        SPDY.data(stream: stream, fin: fin, payload, into: &buffer)
        if fin { open.remove(stream) }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    /// Data for the client on `stream`, from any thread; `fin` ends berthd's side of it.
    func send(_ stream: UInt32, _ payload: ByteBuffer, fin: Bool = false) {
        channel.eventLoop.execute { [self] in
            guard let context, open.contains(stream) else { return }
            frame(stream, payload, fin: fin, context, promise: nil)
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output, !closing else { return context.close(mode: mode == .output ? .all : mode, promise: promise) }
        closing = true
        if var last = farewell.exchange(nil).map({ context.channel.allocator.buffer(bytes: $0) }), let channel = last.readInteger(as: UInt8.self),
           let stream = channels.value[channel], open.contains(stream) {
            frame(stream, last, fin: false, context, promise: nil)
        }
        for stream in open.sorted() { frame(stream, context.channel.allocator.buffer(capacity: 0), fin: true, context, promise: nil) }
        var goAway = context.channel.allocator.buffer(capacity: 16)
        SPDY.control(.goAway, bytes(0) + bytes(0), into: &goAway)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(goAway)).whenComplete { _ in channel.close(promise: promise) }
    }
}
