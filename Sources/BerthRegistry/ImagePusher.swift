import BerthAPI
import BerthContent
import BerthImage
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker push`: blobs the registry lacks are mounted from another repository of the same
/// registry when an image we hold came from there, else uploaded (in parallel); then the
/// manifest, byte for byte as stored, so the pushed digest is the one `images --digests` shows.
public struct ImagePusher: Sendable {
    public let store: ImageStore
    public let registry: Registry
    public var maxConcurrentUploads: Int

    public init(store: ImageStore, registry: Registry, maxConcurrentUploads: Int = 5) {
        self.store = store
        self.registry = registry
        self.maxConcurrentUploads = maxConcurrentUploads
    }

    /// The tags a push of `name` (with `tag`, or all of the repository's) covers; checked before
    /// the stream starts, so a missing image is an HTTP 404 as with Docker.
    public func tags(_ name: Reference, tag: String?) async throws -> [Reference] {
        if let tag, !tag.isEmpty {
            var ref = name
            ref.tag = tag
            guard (try? await store.resolve(ref.description)) != nil else {
                throw ImageError.notFound("An image does not exist locally with the tag: \(ref.familiarString)")
            }
            return [ref]
        }
        var out: [Reference] = []
        for record in await store.records() {
            out += await store.tags(of: record.id).filter { $0.name == name.name }
        }
        guard !out.isEmpty else { throw ImageError.notFound("An image does not exist locally with the tag: \(name.familiarName)") }
        return out.sorted { ($0.tag ?? "") < ($1.tag ?? "") }
    }

    public func push(_ ref: Reference, credentials: RegistryCredentials?, progress: @escaping @Sendable (ProgressMessage) -> Void) async throws {
        let record = try await store.resolve(ref.description)
        let (pushedManifest, pushedBytes, _) = try await store.completeManifest(record)
        let config = try await store.config(record)
        let sources = await mountSources(domain: ref.domain, except: ref.path)
        let registry = self.registry
        let content = store.content
        let width = maxConcurrentUploads
        let digest = try await Threads.run { () throws -> Digest in
            let (client, _) = try registry.open(domain: ref.domain, repository: ref.path, credentials: credentials, push: true) { _ in () }
            // Docker lists the top layer first.
            let layers = Array(zip(pushedManifest.layers, config.rootfs.diffIDs).reversed())
            for (_, diffID) in layers { progress(.layer(diffID.shortID, "Preparing")) }
            for (_, diffID) in layers.dropFirst(width) { progress(.layer(diffID.shortID, "Waiting")) }
            try Threads.parallel(count: layers.count, width: width) { i in
                let (layer, diffID) = layers[i]
                let status = try Self.pushBlob(layer, client: client, content: content, sources: sources[layer.digest] ?? []) { sent in
                    progress(.layer(diffID.shortID, "Pushing", current: sent, total: layer.size))
                }
                progress(.layer(diffID.shortID, status))
            }
            _ = try Self.pushBlob(pushedManifest.config, client: client, content: content, sources: []) { _ in }
            let mediaType = pushedManifest.mediaType ?? MediaType.ociManifest
            return try client.putManifest(ref.tag ?? "latest", bytes: pushedBytes, mediaType: mediaType)
        }
        try await store.addRepoDigest(record.id, "\(ref.name)@\(digest)")
        progress(ProgressMessage(status: "\(ref.tag ?? "latest"): digest: \(digest) size: \(pushedBytes.count)"))
        progress(ProgressMessage(progressDetail: .init(), aux: .init(Tag: ref.tag ?? "latest", Digest: digest.description, Size: pushedBytes.count)))
    }

    /// Repositories on `domain` known to hold each blob: those our images were pulled from or
    /// pushed to (their RepoDigests).
    func mountSources(domain: String, except repository: String) async -> [Digest: [String]] {
        var out: [Digest: [String]] = [:]
        for record in await store.records() {
            let repos = record.repoDigests.compactMap { try? Reference(parsing: $0) }
                .filter { $0.domain == domain && $0.path != repository }.map(\.path)
            guard !repos.isEmpty, let manifest = try? await store.manifest(record) else { continue }
            for layer in manifest.layers { out[layer.digest, default: []] += repos }
        }
        return out
    }

    /// One blob: already there, mounted from a sibling repository, or uploaded. Returns Docker's word for it.
    static func pushBlob(_ blob: Descriptor, client: RegistryClient, content: ContentStore, sources: [String],
                         progress: (Int64) -> Void) throws -> String {
        if try client.blobExists(blob.digest) { return "Layer already exists" }
        for source in Set(sources) where try client.mount(blob.digest, from: source) {
            return "Mounted from \(source)"
        }
        let fd = try content.open(blob.digest)
        defer { close(fd) }
        let size = content.size(blob.digest) ?? blob.size
        try client.upload(blob.digest, fd: fd, size: size, progress: progress)
        return "Pushed"
    }
}
