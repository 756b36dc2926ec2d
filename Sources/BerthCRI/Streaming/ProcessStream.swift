import BerthEngine
import BerthStreams
import BerthSystem
import FoundationEssentials
import Logging
import NIOCore

/// One exec or attach, on a WebSocket or SPDY: the container's streams through a `ShimBridge`
/// (the same bounded, lossless path as `docker attach`), stdin and resizes from the client's
/// channels, and the final status on the error channel before the close.
final class ProcessStream: Sendable {
    let proto: ChannelProtocol
    let wantsStdin: Bool
    let bridge: ShimBridge
    /// Where resizes go once the process runs, the latest size not yet applied, and whether one
    /// is being applied: a client may send resizes faster than the shim applies them, and only
    /// the latest matters, so at most one waits and one runs.
    private let resizer = Locked<Resizes>(Resizes())
    struct Resizes {
        var target: (@Sendable (UInt16, UInt16) async throws -> Void)?
        var pending: (UInt16, UInt16)?
        var running = false
    }
    /// The error channel's last message, which the connection's handler sends before it closes.
    let farewell = Locked<[UInt8]?>(nil)
    let log: Logger

    init(proto: ChannelProtocol, stdin: Bool, command: [String]?, log: Logger) {
        self.proto = proto
        self.wantsStdin = stdin
        self.log = log
        let farewell = self.farewell
        // An exec's exit decides its status; an attach ends well when the container's output does.
        self.bridge = ShimBridge(framing: .channelPrefixed, detachKeys: nil) { status in
            let end: StreamStatus = status.exitCode == 0 ? .success : .exited(code: status.exitCode, command: command ?? [])
            farewell.exchange(end.message(for: proto))
        }
    }

    /// The pipeline's handler for a WebSocket client.
    func webSocketHandler() -> ChannelSocketHandler {
        ChannelSocketHandler(farewell: farewell, onMessage: { [self] channel, buffer in received(channel, buffer) },
                             onEnd: { [self] in clientEnded() })
    }

    /// The client's sending side is over (or the client is gone).
    func clientEnded() { bridge.fromClient(nil) }

    /// A message on one of the client's channels (stdin, resize, v5's close).
    func received(_ channel: UInt8, _ buffer: ByteBuffer) {
        switch channel {
        case ChannelProtocol.stdin where wantsStdin:
            bridge.fromClient(buffer)
        case ChannelProtocol.resize:
            struct Size: Decodable { var Width: UInt16; var Height: UInt16 }
            guard let size = try? JSONDecoder().decode(Size.self, from: Data(buffer.readableBytesView)) else {
                return log.debug("CRI stream: a resize that is not {\"Width\",\"Height\"} was ignored")
            }
            resizer.mutate { $0.pending = (size.Width, size.Height) }
            applyResizes()
        case ChannelProtocol.close where proto == .v5:
            if buffer.readableBytesView.first == ChannelProtocol.stdin { bridge.fromClient(nil) }
        default:
            break
        }
    }

    /// The process runs: resizes go to `target` from now on, the last early one first.
    func resizes(to target: @escaping @Sendable (UInt16, UInt16) async throws -> Void) {
        resizer.mutate { $0.target = target }
        applyResizes()
    }

    /// Applies the latest waiting size, then any that came meanwhile, unless that is under way.
    private func applyResizes() {
        let target = resizer.mutate { state -> (@Sendable (UInt16, UInt16) async throws -> Void)? in
            guard let target = state.target, state.pending != nil, !state.running else { return nil }
            state.running = true
            return target
        }
        guard let target else { return }
        let (resizer, log) = (resizer, log)
        Task {
            while let (width, height) = resizer.mutate({ state -> (UInt16, UInt16)? in
                defer { state.pending = nil }
                if state.pending == nil { state.running = false }
                return state.pending
            }) {
                do { try await target(width, height) } catch { log.debug("CRI stream: resize to \(width)x\(height) failed: \(error)") }
            }
        }
    }

    /// Tells a WebSocket client the streams are open (the kubelet's empty message on the first
    /// output channel it serves; over SPDY the client opened them), then hands the connection to
    /// the bridge.
    func open(_ channel: Channel, stdout: Bool, stderr: Bool, announce: Bool) {
        if announce {
            let first = stdout ? ChannelProtocol.stdout : stderr ? ChannelProtocol.stderr : ChannelProtocol.error
            channel.writeAndFlush(channel.allocator.buffer(bytes: [first]), promise: nil)
        }
        bridge.attachClient(channel)
    }

    /// Ends the stream with `status` (the process never ran).
    func finish(_ status: StreamStatus) {
        farewell.exchange(status.message(for: proto))
        bridge.shimClosed()
    }

    /// An attach's status when its stream ends: the kubelet reports success.
    func endsWell() {
        farewell.exchange(StreamStatus.success.message(for: proto))
    }
}
