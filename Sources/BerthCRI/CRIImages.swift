import BerthCRIProto
import BerthEngine
import BerthImage
import BerthOCI
import BerthRegistry
import BerthSystem
import FoundationEssentials
import GRPCCore
import Logging

/// CRI's ImageService over Berth's image store. Shapes follow containerd's CRI plugin, which the
/// kubelet is tested against: full normalized names (`docker.io/library/busybox:latest`), the
/// config digest as the image ID, a missing image answered with an empty status rather than an
/// error, and removal that is idempotent.
public struct CRIImages: Sendable {
    let store: ImageStore
    let containers: ContainerService
    let registry: Registry
    let maxConcurrentDownloads: Int
    /// Where layers live: the filesystem the kubelet's image garbage collection watches.
    let layerRoot: String
    let log: Logger

    public init(store: ImageStore, containers: ContainerService, registry: Registry, maxConcurrentDownloads: Int, layerRoot: String, log: Logger) {
        self.store = store; self.containers = containers; self.registry = registry
        self.maxConcurrentDownloads = maxConcurrentDownloads; self.layerRoot = layerRoot; self.log = log
    }

    typealias Service = Runtime_V1_ImageService.Method

    func register<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.ListImages.descriptor, log: log) { try await list($0) }
        router.unary(Service.ImageStatus.descriptor, log: log) { try await status($0) }
        router.unary(Service.PullImage.descriptor, log: log) { try await pull($0) }
        router.unary(Service.RemoveImage.descriptor, log: log) { try await remove($0) }
        router.unary(Service.ImageFsInfo.descriptor, log: log) { (_: Runtime_V1_ImageFsInfoRequest) in try await filesystemInfo() }
    }

    func list(_ request: Runtime_V1_ListImagesRequest) async throws -> Runtime_V1_ListImagesResponse {
        var records = await store.records()
        let wanted = request.filter.image.image
        if !wanted.isEmpty {
            let match = try await lookup(wanted)
            records = records.filter { $0.id == match?.id }
        }
        var response = Runtime_V1_ListImagesResponse()
        for record in records.sorted(by: { $0.id.description < $1.id.description }) {
            response.images.append(try await image(record))
        }
        return response
    }

    func status(_ request: Runtime_V1_ImageStatusRequest) async throws -> Runtime_V1_ImageStatusResponse {
        var response = Runtime_V1_ImageStatusResponse()
        guard let record = try await lookup(request.image.image) else { return response }
        response.image = try await image(record)
        if request.verbose {
            // containerd's verbose info: the top layer's chain ID and the image's OCI config.
            struct Info: Encodable { let chainID: String; let imageSpec: ImageConfig }
            let info = Info(chainID: try await store.topChain(record) ?? "", imageSpec: try await store.config(record))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            response.info["info"] = String(decoding: try encoder.encode(info), as: UTF8.self)
        }
        return response
    }

    func pull(_ request: Runtime_V1_PullImageRequest) async throws -> Runtime_V1_PullImageResponse {
        let reference = try Reference(parsing: request.image.image)
        let credentials = Self.credentials(request.auth)
        let puller = ImagePuller(store: store, registry: registry, maxConcurrentDownloads: maxConcurrentDownloads)
        let resolved = try await Threads.run { try puller.resolve(reference, platform: nil, credentials: credentials) }
        let (record, _) = try await puller.fetch(resolved) { _ in }
        let name = resolved.reference.familiarString
        containers.events.publish("image", "pull", id: name, attributes: ["name": name])
        log.info("CRI pulled \(resolved.reference.description) as \(record.id)")
        var response = Runtime_V1_PullImageResponse()
        response.imageRef = record.id.description
        return response
    }

    /// Every name of the image goes, as in containerd; the image itself stays while a container
    /// still uses it, and one that is running refuses (FailedPrecondition).
    func remove(_ request: Runtime_V1_RemoveImageRequest) async throws -> Runtime_V1_RemoveImageResponse {
        guard let record = try await lookup(request.image.image) else { return Runtime_V1_RemoveImageResponse() }
        let id = record.id.description
        let users = containers.users(ofImage: id)
        for action in try await store.remove(id, force: true, users: users, inUse: containers.imagesInUse()) {
            if case .deleted(let digest) = action { containers.events.publish("image", "delete", id: digest.description) }
        }
        return Runtime_V1_RemoveImageResponse()
    }

    func filesystemInfo() async throws -> Runtime_V1_ImageFsInfoResponse {
        let root = layerRoot
        let usage = try await Threads.run { FileIO.treeUsage(root) }
        var filesystem = Runtime_V1_FilesystemUsage()
        filesystem.timestamp = Int64(Timestamp.epochNow() * 1e9)
        filesystem.fsID.mountpoint = root
        filesystem.usedBytes.value = UInt64(max(usage.bytes, 0))
        filesystem.inodesUsed.value = UInt64(max(usage.inodes, 0))
        var response = Runtime_V1_ImageFsInfoResponse()
        response.imageFilesystems = [filesystem]
        return response
    }

    /// The image a CRI reference names (tag, digest or ID), or nil when there is none: a name
    /// that cannot be parsed is still an error.
    func lookup(_ text: String) async throws -> ImageRecord? {
        do { return try await store.resolve(text) } catch ImageError.notFound(_) { return nil }
    }

    func image(_ record: ImageRecord) async throws -> Runtime_V1_Image {
        var image = Runtime_V1_Image()
        image.id = record.id.description
        image.repoTags = await store.tags(of: record.id).map(\.description).sorted()
        image.repoDigests = record.repoDigests.sorted()
        image.size = UInt64(max(record.size, 0))
        image.spec.image = record.id.description
        let (uid, username) = Self.user(try await store.config(record).config?.user ?? "")
        if let uid { image.uid.value = uid }
        image.username = username
        return image
    }

    /// The image's USER as the kubelet reads it (for `runAsNonRoot`): a number before any `:group`
    /// is a UID, anything else a user name.
    static func user(_ text: String) -> (uid: Int64?, username: String) {
        guard !text.isEmpty else { return (nil, "") }
        let user = String(text.prefix { $0 != ":" })
        if let uid = Int64(user) { return (uid, "") }
        return (nil, user)
    }

    static func credentials(_ auth: Runtime_V1_AuthConfig) -> RegistryCredentials? {
        RegistryCredentials.given(username: auth.username, password: auth.password, auth: auth.auth,
                                  identityToken: auth.identityToken, registryToken: auth.registryToken)
    }
}
