import BerthArchive
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker commit` (and, later, each build step): one new layer, written by the caller straight
/// into the content store, on top of a parent image, with a new config and history entry.
public struct ImageCommitter {
    public let store: ImageStore

    public init(store: ImageStore) { self.store = store }

    /// What the new image says about itself.
    public struct Details: Sendable {
        public var config: ImageConfig.ContainerConfig
        public var createdBy: String
        public var author: String?
        public var comment: String?
        /// A step that changed only the config (ENV, CMD…): no layer, an `empty_layer` history entry.
        public var emptyLayer: Bool

        public init(config: ImageConfig.ContainerConfig, createdBy: String, author: String? = nil, comment: String? = nil, emptyLayer: Bool = false) {
            self.config = config; self.createdBy = createdBy; self.author = author; self.comment = comment; self.emptyLayer = emptyLayer
        }
    }

    /// `writeLayer` sends the layer's entries (nothing is called for an empty layer), on the
    /// blocking pool: it walks a tree and hashes it. The layer is stored uncompressed, so its
    /// blob digest is its diffID.
    public func commit(parent: ImageRecord?, details: Details, tags: [Reference],
                       writeLayer: @escaping @Sendable (TreeSink) throws -> Void) async throws -> ImageRecord {
        let content = store.content
        var layers: [(Digest, String, Int64)] = []
        var diffIDs: [Digest] = []
        var history: [ImageConfig.History] = []
        var base: ImageConfig?
        if let parent {
            let manifest = try await store.manifest(parent)
            let config = try await store.config(parent)
            layers = manifest.layers.map { ($0.digest, $0.mediaType, $0.size) }
            diffIDs = config.rootfs.diffIDs
            history = config.history ?? []
            base = config
        }
        if !details.emptyLayer {
            let (digest, size) = try await Threads.run {
                let writer = try content.writer(ref: "commit-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
                do {
                    let tar = try TarWriter { try writer.write($0) }
                    try writeLayer(tar)
                    let size = try tar.finish()
                    return (try writer.commit(), size)
                } catch {
                    writer.abort()
                    throw error
                }
            }
            layers.append((digest, MediaType.ociLayer, size))
            diffIDs.append(digest)
        }
        let created = Timestamp.now()
        history.append(.init(created: created, createdBy: details.createdBy, author: details.author,
                             comment: details.comment, emptyLayer: details.emptyLayer ? true : nil))
        let platform = Platform.current
        var config = ImageConfig(created: created, author: details.author, architecture: base?.architecture ?? platform.architecture,
                                 os: base?.os ?? "linux", config: details.config, rootfs: .init(diffIDs: diffIDs), history: history)
        config.variant = base?.variant
        let manifestDigest = try ImageImporter.storeManifest(configBytes: Array(try ImageImporter.canonicalJSON(config)),
                                                             layers: layers, in: content)
        return try await store.add(manifestDigest: manifestDigest, tags: tags, parent: parent?.id)
    }
}
