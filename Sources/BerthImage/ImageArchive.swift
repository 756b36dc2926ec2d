import BerthArchive
import BerthContent
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker save`'s file: an OCI image layout (`oci-layout`, `index.json`, `blobs/`) plus Docker's
/// `manifest.json` and `repositories`, as Docker 25+ writes it, so docker, podman and skopeo
/// all read it.
public struct ImageSaver {
    public let store: ImageStore

    public init(store: ImageStore) { self.store = store }

    /// Writes the images named by `names` to `fd`, each with the tags its name selects.
    public func save(_ names: [String], to fd: Int32) async throws {
        var images: [(ImageRecord, [Reference])] = []
        func add(_ record: ImageRecord, _ tags: [Reference]) {
            if let i = images.firstIndex(where: { $0.0.id == record.id }) {
                images[i].1 = Array(Set(images[i].1 + tags)).sorted { $0.description < $1.description }
            } else {
                images.append((record, tags))
            }
        }
        for name in names {
            for (record, tags) in try await selection(name) { add(record, tags) }
        }
        try await write(images, to: fd)
    }

    /// moby's `parseNames`: an ID saves the image with no tags; a repository name saves every
    /// tag of that repository; a tag saves that tag; a name with no tags is looked up as an ID.
    func selection(_ name: String) async throws -> [(ImageRecord, [Reference])] {
        let hex = name.hasPrefix("sha256:") ? String(name.dropFirst(7)) : name
        if name.hasPrefix("sha256:") || (hex.utf8.count == 64 && hex.utf8.allSatisfy(Digest.isLowerHex)) {
            return [(try await store.resolve(name), [])]
        }
        let reference = try Reference(parsing: name)
        if reference.tag == nil && reference.digest == nil {
            let tagged = await store.tags(inRepository: reference.name)
            if tagged.isEmpty { return [(try await store.resolve(name), [])] }
            return tagged.map { ($0.1, [$0.0]) }
        }
        let record = try await store.resolve(name)
        return [(record, reference.digest == nil ? [reference.withDefaultTag] : [])]
    }

    func write(_ images: [(ImageRecord, [Reference])], to fd: Int32) async throws {
        let content = store.content
        let writer = try TarWriter(fd: fd)
        var written = Set<Digest>()
        var indexEntries: [Descriptor] = []
        var manifestItems: [LegacyManifestItem] = []
        var repositories: [String: [String: String]] = [:]
        try addDirectory("blobs", writer)
        try addDirectory("blobs/sha256", writer)
        for (record, tags) in images {
            let (manifest, manifestBytes, manifestDigest) = try await store.completeManifest(record)
            for digest in [manifestDigest, manifest.config.digest] + manifest.layers.map(\.digest) where written.insert(digest).inserted {
                try addBlob(digest, content: content, writer: writer)
            }
            let manifestDescriptor = Descriptor(mediaType: manifest.mediaType ?? MediaType.ociManifest, digest: manifestDigest,
                                                size: Int64(manifestBytes.count))
            if tags.isEmpty { indexEntries.append(manifestDescriptor) }
            for tag in tags {
                var entry = manifestDescriptor
                entry.annotations = ["io.containerd.image.name": tag.description, "org.opencontainers.image.ref.name": tag.tag ?? "latest"]
                indexEntries.append(entry)
                repositories[tag.familiarName, default: [:]][tag.tag ?? "latest"] = manifest.layers.last?.digest.hex ?? ""
            }
            manifestItems.append(LegacyManifestItem(config: "blobs/sha256/" + manifest.config.digest.hex,
                                                    repoTags: tags.isEmpty ? nil : tags.map(\.familiarString),
                                                    layers: manifest.layers.map { "blobs/sha256/" + $0.digest.hex }))
        }
        let index = Index(mediaType: MediaType.ociIndex, manifests: indexEntries)
        try addFile("index.json", try ImageImporter.canonicalJSON(index), writer)
        try addFile("manifest.json", try ImageImporter.canonicalJSON(manifestItems), writer)
        try addFile("oci-layout", Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), writer)
        if !repositories.isEmpty { try addFile("repositories", try ImageImporter.canonicalJSON(repositories), writer) }
        _ = try writer.finish()
    }

    func addDirectory(_ path: String, _ writer: TarWriter) throws {
        try writer.add(TarEntry(path: path, kind: .directory, mode: 0o755))
    }

    func addFile(_ path: String, _ data: Data, _ writer: TarWriter) throws {
        try writer.add(TarEntry(path: path, kind: .file, mode: 0o644, size: Int64(data.count)))
        try data.withUnsafeBytes { try writer.write($0) }
    }

    func addBlob(_ digest: Digest, content: ContentStore, writer: TarWriter) throws {
        let fd = try content.open(digest)
        defer { close(fd) }
        let size = content.size(digest) ?? 0
        try writer.add(TarEntry(path: "blobs/sha256/" + digest.hex, kind: .file, mode: 0o644, size: size), source: fd)
    }
}

/// One element of Docker's `manifest.json`.
struct LegacyManifestItem: Codable {
    var config: String
    var repoTags: [String]?
    var layers: [String]
    enum CodingKeys: String, CodingKey { case config = "Config", repoTags = "RepoTags", layers = "Layers" }
}
