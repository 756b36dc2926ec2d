import BerthEngine
import BerthImage
import BerthRegistry
import BerthSystem
import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

/// The Engine API over HTTP/1.1 on unix sockets and TCP (TLS with client certificates off loopback).
public final class HTTPServer: Sendable {
    /// Shared with the CRI server: two event loops serve both APIs.
    public let group: MultiThreadedEventLoopGroup
    let router: Router
    let spool: String

    public init(containers: ContainerService, images: ImageStore, registry: Registry, buildCache: BuildCache, dataRoot: String, spool: String,
                maxConcurrentDownloads: Int = 3, maxConcurrentUploads: Int = 5) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.spool = spool
        let registryRoutes = RegistryRoutes(store: images, registry: registry, events: containers.events,
                                            maxConcurrentDownloads: maxConcurrentDownloads, maxConcurrentUploads: maxConcurrentUploads)
        let table = SystemRoutes(containers: containers, store: images, buildCache: buildCache, registry: registry.hosts, dataRoot: dataRoot).table
            + ContainerRoutes(service: containers, spool: spool).table
            + ImageRoutes(store: images, containers: containers, spool: spool, registry: registryRoutes).table
            + registryRoutes.table
            + NetworkRoutes(containers: containers).table
            + VolumeRoutes(containers: containers).table
            + BuildRoutes(containers: containers, registry: registryRoutes, cache: buildCache, spool: spool).table
            + SwarmRoutes.table
        router = Router(table)
    }

    func bootstrap(tls: TLSServerContext? = nil) -> ServerBootstrap {
        let router = self.router, spool = self.spool
        return ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HeadDeadline(), name: "deadline")  // first: a handshake is timed too
                    if let tls { try sync.addHandler(TLSServerHandler(context: tls), name: "tls") }
                    try sync.addHandler(HTTPResponseEncoder(), name: "encoder")
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: "decoder")
                    try sync.addHandler(HTTPHandler(router: router, spoolDirectory: spool), name: "api")
                }
            }
    }

    /// Listens on `unix:///path` (mode 0660) or `tcp://host:port` addresses; TCP speaks TLS when
    /// `tls` is given, and off loopback only with client certificates verified.
    /// The sockets systemd passed (`LISTEN_PID`, `LISTEN_FDS`, from descriptor 3 on): all of them
    /// for `fd://`, one for `fd://N`. Dockerd's words when there are none.
    static func activatedSockets(_ address: String) throws -> [Int32] {
        let env = ProcessInfo.processInfo.environment
        guard env["LISTEN_PID"].flatMap({ Int32($0) }) == getpid(), let count = env["LISTEN_FDS"].flatMap({ Int32($0) }), count > 0 else {
            throw EngineError.invalid("no sockets found via socket activation: make sure the service was started by systemd")
        }
        let passed = Array(3..<(3 + count))
        for fd in passed { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // not for the shims berthd starts
        let wanted = address.dropFirst(5)
        guard !wanted.isEmpty else { return passed }
        guard let fd = Int32(wanted), passed.contains(fd) else {
            throw EngineError.invalid("too few socket activated files passed in by systemd: \(address) is not among descriptors \(passed)")
        }
        return [fd]
    }

    public func listen(_ addresses: [String], tls: TLSServerOptions? = nil) async throws {
        let context = try tls.map(TLSServerContext.init)
        for address in addresses {
            if address.hasPrefix("unix://") {
                let path = String(address.dropFirst(7))
                try FileIO.makeDirectories(AtomicFile.parentDirectory(of: path), mode: 0o755)
                _ = try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                // root:berth 0660, as dockerd's root:docker: members of the group may use the API.
                if let group = getgrnam("berth") { chown(path, 0, group.pointee.gr_gid) }
                chmod(path, 0o660)
            } else if address.hasPrefix("tcp://") {
                guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), address.index(after: colon) > address.index(address.startIndex, offsetBy: 6) else {
                    throw EngineError.invalid("invalid listen address \(address): use tcp://host:port")
                }
                var host = String(address[address.index(address.startIndex, offsetBy: 6)..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                if host.isEmpty { host = "0.0.0.0" }
                // The API is root on this host: whoever can reach it off loopback must prove who they are.
                guard ["127.0.0.1", "localhost", "::1"].contains(host) || tls?.verify == true else {
                    throw EngineError.invalid("refusing to listen on \(address): a TCP listener off loopback needs TLS client certificates; "
                                              + "start berthd with --tlsverify --tlscacert=ca.pem --tlscert=server-cert.pem --tlskey=server-key.pem, or listen on 127.0.0.1")
                }
                _ = try await bootstrap(tls: context).bind(host: host, port: port).get()
            } else if address.hasPrefix("fd://") {
                // systemd socket activation (berth.socket), as dockerd's `-H fd://`
                for fd in try Self.activatedSockets(address) { _ = try await bootstrap(tls: context).withBoundSocket(fd).get() }
            } else {
                throw EngineError.invalid("invalid listen address \(address): use unix:///path, tcp://host:port or fd://")
            }
        }
    }
}
