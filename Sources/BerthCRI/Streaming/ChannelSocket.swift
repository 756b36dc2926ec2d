import BerthSystem
import FoundationEssentials
import NIOCore
import NIOWebSocket

/// Kubernetes' channel protocols on a WebSocket (`k8s.io/apimachinery`'s wsstream): every
/// binary message starts with its channel's number. For exec and attach, 0 is stdin, 1 stdout,
/// 2 stderr, 3 the error channel (v4 on: the final status as JSON) and 4 terminal resizes; v5
/// adds a message on channel 255 that closes one channel (`[255, 0]`: stdin is over). For port
/// forwarding, port `i` has the data channel `2i` and the error channel `2i+1`.
enum ChannelProtocol: String, Sendable, CaseIterable {
    case v5 = "v5.channel.k8s.io"
    case v4 = "v4.channel.k8s.io"
    case v1 = "channel.k8s.io"
    /// A client that names no protocol gets v1's framing, as the kubelet gives it.
    case unnamed = ""

    /// The first of the client's offer (in its order) that `supported` has, as the kubelet's
    /// handshake chooses; a client that offers none gets `.unnamed`.
    static func negotiate(_ offered: [String], supported: [ChannelProtocol]) -> ChannelProtocol? {
        let names = offers(offered)
        if names.isEmpty { return supported.contains(.unnamed) ? .unnamed : nil }
        return names.lazy.compactMap { ChannelProtocol(rawValue: $0) }.first { $0 != .unnamed && supported.contains($0) }
    }

    /// The protocol names of a header's values, each possibly a comma-separated list.
    static func offers(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { String($0).trimmed }.filter { !$0.isEmpty }
    }

    /// Whether the error channel carries a JSON status at the end (v1 writes only an error's text).
    var writesStatus: Bool { self == .v4 || self == .v5 }

    static let stdin: UInt8 = 0, stdout: UInt8 = 1, stderr: UInt8 = 2, error: UInt8 = 3, resize: UInt8 = 4, close: UInt8 = 255
}

/// The WebSocket end of a stream: turns client messages into (channel, bytes) and each chunk
/// written to the channel (its first byte the channel's number) into one binary message. Ending
/// the output (`close(mode: .output)`, as `ShimBridge` ends a stream) writes the farewell (the
/// final status, if any), then a close frame, then closes the connection once both are sent.
final class ChannelSocketHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    /// A client message: its channel and the bytes after the channel's number.
    let onMessage: @Sendable (UInt8, ByteBuffer) -> Void
    /// The client closed the WebSocket or went away.
    let onEnd: @Sendable () -> Void
    /// The connection can take more output again (port forwarding resumes its reads).
    let onWritable: @Sendable () -> Void
    /// The last message before the close frame (the error channel's status), set by the session.
    let farewell: Locked<[UInt8]?>
    private var closing = false
    private var ended = false

    init(farewell: Locked<[UInt8]?> = Locked(nil), onMessage: @escaping @Sendable (UInt8, ByteBuffer) -> Void,
         onEnd: @escaping @Sendable () -> Void, onWritable: @escaping @Sendable () -> Void = {}) {
        self.farewell = farewell
        self.onMessage = onMessage
        self.onEnd = onEnd
        self.onWritable = onWritable
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { onWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            var payload = frame.unmaskedData
            guard let channel = payload.readInteger(as: UInt8.self) else { return }  // an empty message says nothing
            onMessage(channel, payload)
        case .ping where context.channel.isWritable:
            // only while the client takes what it is sent: a pinging client that reads nothing
            // must not queue pongs here (RFC 6455 lets a pong answer the latest ping only)
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            end()
            if closing { return context.close(promise: nil) }
            closing = true
            var code = context.channel.allocator.buffer(capacity: 2)
            code.write(webSocketErrorCode: .normalClosure)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))).whenComplete { _ in
                channel.close(promise: nil)
            }
        default:
            break  // text (the base64 protocols, not offered), pong
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    private func end() {
        guard !ended else { return }
        ended = true
        onEnd()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = WebSocketFrame(fin: true, opcode: .binary, data: unwrapOutboundIn(data))
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output, !closing else { return context.close(mode: mode == .output ? .all : mode, promise: promise) }
        closing = true
        if let last = farewell.exchange(nil) {
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: context.channel.allocator.buffer(bytes: last))), promise: nil)
        }
        var code = context.channel.allocator.buffer(capacity: 2)
        code.write(webSocketErrorCode: .normalClosure)
        // the client answers the close frame and closes; a client that does not is closed by
        // the bridge's timer
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)), promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
