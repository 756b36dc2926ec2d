import BerthEngine
import BerthImage
import BerthRegistry
import BerthSystem
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

/// The Engine API over HTTP/1.1 on unix sockets and loopback TCP.
public final class HTTPServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let router: Router
    let spool: String

    public init(containers: ContainerService, images: ImageStore, registry: Registry, buildCache: BuildCache, dataRoot: String, spool: String,
                maxConcurrentDownloads: Int = 3, maxConcurrentUploads: Int = 5) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.spool = spool
        let registryRoutes = RegistryRoutes(store: images, registry: registry, events: containers.events,
                                            maxConcurrentDownloads: maxConcurrentDownloads, maxConcurrentUploads: maxConcurrentUploads)
        let table = SystemRoutes(containers: containers, store: images, dataRoot: dataRoot).table
            + ContainerRoutes(service: containers, spool: spool).table
            + ImageRoutes(store: images, containers: containers, spool: spool, registry: registryRoutes).table
            + registryRoutes.table
            + NetworkRoutes(containers: containers).table
            + VolumeRoutes(containers: containers).table
            + BuildRoutes(containers: containers, registry: registryRoutes, cache: buildCache, spool: spool).table
        router = Router(table)
    }

    func bootstrap() -> ServerBootstrap {
        let router = self.router, spool = self.spool
        return ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HeadDeadline(), name: "deadline")
                    try sync.addHandler(HTTPResponseEncoder(), name: "encoder")
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: "decoder")
                    try sync.addHandler(HTTPHandler(router: router, spoolDirectory: spool), name: "api")
                }
            }
    }

    /// Listens on `unix:///path` (mode 0660) or `tcp://127.0.0.1:port` addresses.
    public func listen(_ addresses: [String]) async throws {
        for address in addresses {
            if address.hasPrefix("unix://") {
                let path = String(address.dropFirst(7))
                try FileIO.makeDirectories(AtomicFile.parentDirectory(of: path), mode: 0o755)
                _ = try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                // root:berth 0660, as dockerd's root:docker: members of the group may use the API.
                if let group = getgrnam("berth") { chown(path, 0, group.pointee.gr_gid) }
                chmod(path, 0o660)
            } else if address.hasPrefix("tcp://") {
                let hostPort = address.dropFirst(6).split(separator: ":")
                guard hostPort.count == 2, let port = Int(hostPort[1]) else { throw EngineError.invalid("invalid listen address \(address)") }
                // The API is root on this host: without TLS client certificates (not served yet),
                // only loopback may reach it.
                guard ["127.0.0.1", "localhost", "::1", "[::1]"].contains(String(hostPort[0])) else {
                    throw EngineError.invalid("refusing to listen on \(address): a TCP listener off loopback needs TLS client certificates (--tlsverify), which berthd does not serve yet; use 127.0.0.1 or the unix socket")
                }
                _ = try await bootstrap().bind(host: String(hostPort[0]), port: port).get()
            } else {
                throw EngineError.invalid("invalid listen address \(address): use unix:///path or tcp://host:port")
            }
        }
    }
}
