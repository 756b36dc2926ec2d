import BerthAPI
import BerthArchive
import BerthContent
import BerthImage
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker push`: what goes out is what `docker push` writes — a Docker schema-2 manifest with
/// gzip-compressed layers (an OCI manifest only when a layer is zstd, which schema 2 cannot
/// name). Layers pulled from a registry go back as the same compressed bytes, and an image whose
/// stored manifest already is such a manifest goes back byte for byte, so its digest is the one
/// it was pulled by; layers stored uncompressed (imported, committed, built) are gzipped.
/// Blobs the registry lacks are mounted from another repository of the same registry when an
/// image we hold came from there, else uploaded (in parallel).
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
        let (held, heldBytes, _) = try await store.completeManifest(record)
        let config = try await store.config(record)
        let sources = await mountSources(domain: ref.domain, except: ref.path)
        let registry = self.registry
        let content = store.content
        let width = maxConcurrentUploads
        let (digest, size) = try await Threads.run { () throws -> (Digest, Int) in
            let (pushedManifest, pushedBytes) = try Self.distributionManifest(held, bytes: heldBytes, content: content)
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
            return (try client.putManifest(ref.tag ?? "latest", bytes: pushedBytes, mediaType: mediaType), pushedBytes.count)
        }
        try await store.addRepoDigest(record.id, "\(ref.name)@\(digest)")
        progress(ProgressMessage(status: "\(ref.tag ?? "latest"): digest: \(digest) size: \(size)"))
        progress(ProgressMessage(progressDetail: .init(), aux: .init(Tag: ref.tag ?? "latest", Digest: digest.description, Size: size)))
    }

    /// The manifest to push for the one we hold (every layer blob present): unchanged when it
    /// already is a consistent Docker or OCI manifest of compressed layers; otherwise schema 2
    /// with each uncompressed layer gzipped into the content store.
    static func distributionManifest(_ held: Manifest, bytes: [UInt8], content: ContentStore) throws -> (Manifest, [UInt8]) {
        var layers = held.layers
        for i in layers.indices where !isCompressed(layers[i].mediaType) {
            layers[i] = try gzipLayer(layers[i], content: content)
        }
        let docker = held.mediaType == MediaType.dockerManifest && held.config.mediaType == MediaType.dockerConfig
            && layers.allSatisfy { $0.mediaType.hasPrefix("application/vnd.docker.") }
        let oci = (held.mediaType ?? MediaType.ociManifest) == MediaType.ociManifest && held.config.mediaType == MediaType.ociConfig
            && layers.allSatisfy { $0.mediaType.hasPrefix("application/vnd.oci.") }
        if layers == held.layers && (docker || oci) { return (held, bytes) }
        let zstd = layers.contains { $0.mediaType == MediaType.ociLayerZstd }
        var out = Manifest(mediaType: zstd ? MediaType.ociManifest : MediaType.dockerManifest,
                           config: Descriptor(mediaType: zstd ? MediaType.ociConfig : MediaType.dockerConfig, digest: held.config.digest, size: held.config.size),
                           layers: layers.map { layer in
                               var l = Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: layer.size)
                               if layer.mediaType.hasSuffix("gzip") { l.mediaType = zstd ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip }
                               return l
                           })
        out.annotations = held.annotations
        return (out, Array(try ImageImporter.canonicalJSON(out)))
    }

    static func isCompressed(_ mediaType: String) -> Bool {
        mediaType.hasSuffix("gzip") || mediaType.hasSuffix("zstd")
    }

    /// The layer gzipped into the content store (deterministic: the same layer, the same blob).
    static func gzipLayer(_ layer: Descriptor, content: ContentStore) throws -> Descriptor {
        let source = try content.open(layer.digest)
        defer { close(source) }
        let writer = try content.writer(ref: "gzip-\(layer.digest.hex)-\(UInt64.random(in: 0...UInt64.max))")
        do {
            try Gzip.compress(fd: source) { try writer.write($0) }
            let size = writer.offset
            return Descriptor(mediaType: MediaType.dockerLayerGzip, digest: try writer.commit(), size: size)
        } catch {
            writer.abort()
            throw error
        }
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
