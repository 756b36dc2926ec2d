import BerthArchive
import BerthContent
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker load`: reads, in one pass, what `docker save` (before and since 25), `podman save`
/// and skopeo's docker-archive and oci-archive write. Every file goes straight into the content
/// store as it streams by; the small JSON documents are also kept to be read at the end.
public struct ImageLoader {
    public let store: ImageStore

    public init(store: ImageStore) { self.store = store }

    /// What one load produced: Docker prints `Loaded image: name:tag` per tag, or
    /// `Loaded image ID: sha256:…` for an image without one.
    public enum Loaded: Equatable, Sendable, CustomStringConvertible {
        case tagged(String)
        case untagged(Digest)
        public var description: String {
            switch self {
            case .tagged(let t): return "Loaded image: \(t)"
            case .untagged(let d): return "Loaded image ID: \(d)"
            }
        }
    }

    struct Staged {
        var files: [String: Digest] = [:]
        var documents: [String: [UInt8]] = [:]
        var links: [String: String] = [:]

        func resolve(_ path: String) throws -> Digest {
            var current = try TarEntry.clean(path)
            for _ in 0..<16 {
                if let digest = files[current] { return digest }
                guard let target = links[current] else { break }
                current = target
            }
            throw ImageError.invalid("invalid archive: \(path) is listed but not in the archive")
        }

        /// A small JSON file: kept in memory if it is a top-level document, else read from its blob.
        func document(_ path: String, content: ContentStore) throws -> [UInt8] {
            if let bytes = documents[try TarEntry.clean(path)] { return bytes }
            return try content.read(try resolve(path))
        }
    }

    public func load(fd: Int32, progress: @escaping @Sendable (ImageStore.LayerProgress) -> Void = { _ in }) async throws -> [Loaded] {
        let staged = try stage(fd: fd)
        var loaded: [Loaded] = []
        if let manifestJSON = staged.documents["manifest.json"] {
            let items: [LegacyManifestItem]
            do { items = try JSONDecoder().decode([LegacyManifestItem].self, from: Data(manifestJSON)) } catch {
                throw ImageError.invalid("invalid archive: manifest.json: \(error)")
            }
            for item in items {
                let configBytes = try staged.document(item.config, content: store.content)
                let config: ImageConfig
                do { config = try JSONDecoder().decode(ImageConfig.self, from: Data(configBytes)) } catch {
                    throw ImageError.invalid("invalid archive: \(item.config) is not an image config: \(error)")
                }
                let layers = try item.layers.map { path -> (Digest, String, Int64) in
                    let digest = try staged.resolve(path)
                    return (digest, try Self.layerMediaType(store.content, digest), store.content.size(digest) ?? 0)
                }
                guard layers.count == config.rootfs.diffIDs.count else {
                    throw ImageError.invalid("invalid archive: \(item.config) lists \(config.rootfs.diffIDs.count) layers, manifest.json \(layers.count)")
                }
                // The config is stored byte for byte: its digest is the image ID.
                let manifestDigest = try ImageImporter.storeManifest(configBytes: configBytes, layers: layers, in: store.content)
                let tags = try (item.repoTags ?? []).map { try Reference(parsing: $0) }
                let record = try await store.add(manifestDigest: manifestDigest, tags: tags, progress: progress)
                loaded += tags.isEmpty ? [.untagged(record.id)] : tags.map { .tagged($0.withDefaultTag.familiarString) }
            }
        } else if let indexJSON = staged.documents["index.json"] {
            loaded = try await loadLayout(indexJSON, staged: staged, progress: progress)
        } else {
            throw ImageError.invalid("invalid archive: neither manifest.json nor index.json found (is this a `docker save` tar?)")
        }
        return loaded
    }

    /// An OCI layout (skopeo's oci-archive, or the index of a Docker 25+ save without manifest.json).
    func loadLayout(_ indexJSON: [UInt8], staged: Staged, progress: @escaping @Sendable (ImageStore.LayerProgress) -> Void) async throws -> [Loaded] {
        let index: Index
        do { index = try JSONDecoder().decode(Index.self, from: Data(indexJSON)) } catch {
            throw ImageError.invalid("invalid archive: index.json: \(error)")
        }
        var loaded: [Loaded] = []
        for descriptor in index.manifests {
            let manifestDigest = try platformManifest(descriptor, staged: staged)
            let tag = Self.name(descriptor.annotations ?? [:])
            let record = try await store.add(manifestDigest: manifestDigest, tags: tag.map { [$0] } ?? [], progress: progress)
            loaded.append(tag.map { .tagged($0.withDefaultTag.familiarString) } ?? .untagged(record.id))
        }
        return loaded
    }

    /// The image name an index entry carries: containerd's full-name annotation, or an OCI
    /// ref.name that is a whole reference (a bare tag such as `latest` names no repository).
    static func name(_ annotations: [String: String]) -> Reference? {
        if let full = annotations["io.containerd.image.name"] { return try? Reference(parsing: full) }
        guard let ref = annotations["org.opencontainers.image.ref.name"], ref.contains(":") || ref.contains("/") else { return nil }
        return try? Reference(parsing: ref)
    }

    /// A manifest for this machine, descending through an index if there is one.
    func platformManifest(_ descriptor: Descriptor, staged: Staged) throws -> Digest {
        guard store.content.exists(descriptor.digest) else {
            throw ImageError.invalid("invalid archive: blob \(descriptor.digest) is missing")
        }
        guard MediaType.isIndex(descriptor.mediaType) else { return descriptor.digest }
        let bytes = try store.content.read(descriptor.digest)
        let index = try JSONDecoder().decode(Index.self, from: Data(bytes))
        let current = Platform.current
        guard let match = index.manifest(for: current) else {
            throw ImageError.invalid("no image for \(current) in the archive")
        }
        return try platformManifest(match, staged: staged)
    }

    /// Streams every file into the content store, verifying `blobs/<alg>/<hex>` names.
    func stage(fd: Int32) throws -> Staged {
        let content = store.content
        let reader = try TarReader(fd: fd)
        var staged = Staged()
        while let entry = try reader.next() {
            let path = try TarEntry.clean(entry.path)
            switch entry.kind {
            case .file:
                let writer = try content.writer(ref: "load-\(getpid())-\(path)")
                var document: [UInt8]? = Self.documentNames.contains(path) && entry.size <= 16 << 20 ? [] : nil
                do {
                    try reader.forEachBlock { _, block in
                        try writer.write(block)
                        if document != nil { document! += block }
                    }
                } catch {
                    writer.abort()
                    throw error
                }
                let digest = try writer.commit()
                if path.hasPrefix("blobs/sha256/"), digest.hex != String(path.dropFirst(13)) {
                    throw ImageError.invalid("invalid archive: \(path) does not match its digest (\(digest))")
                }
                staged.files[path] = digest
                if let document { staged.documents[path] = document }
            case .symlink, .hardlink:
                guard let target = entry.linkTarget else { continue }
                let base = entry.kind == .symlink ? RootedPath.split("/" + path).0 : "/"
                staged.links[path] = try Self.join(base, target)
            default:
                continue
            }
        }
        return staged
    }

    /// `base/target` with `..` applied (skopeo links `<id>/layer.tar` to `../<digest>.tar`);
    /// climbing above the archive's root is refused.
    static func join(_ base: String, _ target: String) throws -> String {
        var parts: [Substring] = target.hasPrefix("/") ? [] : base.split(separator: "/")
        for part in target.split(separator: "/") where part != "." {
            if part == ".." {
                guard parts.popLast() != nil else { throw ArchiveError.escapes(target) }
            } else {
                parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }

    /// The top-level documents read at the end; everything else is read back from its blob.
    static let documentNames: Set<String> = ["manifest.json", "index.json", "repositories", "oci-layout"]

    /// Media type from the blob's first bytes: gzip and zstd magic, else a plain tar.
    static func layerMediaType(_ content: ContentStore, _ digest: Digest) throws -> String {
        let fd = try content.open(digest)
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = read(fd, &magic, 4)
        if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b { return MediaType.ociLayerGzip }
        if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] { return MediaType.ociLayerZstd }
        return MediaType.ociLayer
    }
}
