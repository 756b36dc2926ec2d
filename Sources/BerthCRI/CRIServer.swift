import BerthSystem
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOPosix

/// The kubelet's door into berthd: CRI v1 over gRPC on a UNIX socket of its own, beside the Engine
/// API and over the same image store and containers (what the kubelet pulls, `berth images` lists).
/// An RPC without a handler here is answered UNIMPLEMENTED by the server, as containerd 1.6
/// answers the ones it lacks.
public final class CRIServer: Sendable {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let socket: String
    let log: Logger

    /// Binds `socket` now (mode 0660, a stale file replaced), so the kubelet can connect as soon
    /// as berthd says it is up; requests are served once `run` is called.
    public init(socket: String, runtime: CRIRuntime, images: CRIImages, group: MultiThreadedEventLoopGroup, log: Logger) throws {
        let fd = try UnixSocket.listen(socket, mode: 0o660, backlog: 128)
        var router = RPCRouter<HTTP2ServerTransport.Posix>()
        runtime.register(&router)
        images.register(&router)
        self.server = GRPCServer(transport: .http2NIOPosix(listeningSocketDescriptor: Int(fd), transportSecurity: .plaintext,
                                                           eventLoopGroup: group),
                                 router: router)
        self.socket = socket
        self.log = log
    }

    public func run() {
        Task { [server, socket, log] in
            do { try await server.serve() } catch { log.error("CRI server on \(socket) stopped: \(error)") }
        }
    }
}
