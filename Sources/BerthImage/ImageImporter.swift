import BerthArchive
import BerthContent
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker import`: a flat rootfs tar (plain, gzip, xz, zstd) becomes a one-layer image.
public struct ImageImporter {
    public let store: ImageStore

    public init(store: ImageStore) { self.store = store }

    /// Imports from `fd`; `source` is what the history says it came from ("-" for stdin).
    public func importTar(fd: Int32, source: String, reference: Reference?, changes: [String], message: String?) async throws -> ImageRecord {
        var containerConfig = ImageConfig.ContainerConfig()
        try ConfigChange.apply(changes, to: &containerConfig)
        let content = store.content
        // The layer is stored uncompressed, so its blob digest is its diffID.
        let stream = try DecompressedStream(fd: fd)
        let writer = try content.writer(ref: "import-\(getpid())-\(Timestamp.now())")
        do {
            while let block = try stream.nextBlock() { try writer.write(block) }
        } catch {
            writer.abort()
            throw error
        }
        let diffID = try writer.commit()
        try Self.checkIsTar(content: content, digest: diffID)
        let created = Timestamp.now()
        let config = ImageConfig(created: created, architecture: Platform.current.architecture, os: "linux",
                                 config: containerConfig, rootfs: .init(diffIDs: [diffID]),
                                 history: [.init(created: created, comment: message ?? "Imported from \(source)")])
        let manifestDigest = try Self.storeManifest(configBytes: Array(try Self.canonicalJSON(config)),
                                                    layers: [(diffID, MediaType.ociLayer, stream.count)], in: content)
        return try await store.add(manifestDigest: manifestDigest, tags: reference.map { [$0] } ?? [])
    }

    /// A rootfs must at least be a readable tar; anything else is refused before it is named.
    static func checkIsTar(content: ContentStore, digest: Digest) throws {
        let fd = try content.open(digest)
        defer { close(fd) }
        let reader = try TarReader(fd: fd)
        while try reader.next() != nil {}
    }

    /// Writes config (byte for byte: its digest is the image ID) and manifest blobs; returns the
    /// manifest's digest.
    static func storeManifest(configBytes: [UInt8], layers: [(Digest, String, Int64)], in content: ContentStore) throws -> Digest {
        if let problem = Manifest.depthProblem(layers: layers.count) { throw ImageError.invalid(problem) }
        let (configDigest, configSize) = try content.put(configBytes)
        let manifest = Manifest(mediaType: MediaType.ociManifest,
                                config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: configSize),
                                layers: layers.map { Descriptor(mediaType: $0.1, digest: $0.0, size: $0.2) })
        return try content.put(Array(try canonicalJSON(manifest))).digest
    }

    /// Sorted keys, no escaped slashes: the same document always hashes the same.
    public static func canonicalJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}

extension Platform {
    /// This machine, in OCI's GOARCH spelling.
    public static var current: Platform {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let arch = ["x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"][machine] ?? machine
        return Platform(architecture: arch, os: "linux")
    }
}

extension Platform {
    /// `os/arch[/variant]`, as `--platform` takes it.
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts.contains(where: \.isEmpty) else {
            throw ImageError.invalid("invalid platform \"\(text)\": use os/arch[/variant]")
        }
        if parts.count == 1 {  // an architecture alone, as containerd accepts
            self.init(architecture: parts[0], os: "linux")
        } else {
            self.init(architecture: parts[1], os: parts[0])
            variant = parts.count == 3 ? parts[2] : nil
        }
    }
}

extension Index {
    /// The entry for `platform` (the variant must match when one is asked for); an entry without
    /// a platform when none matches.
    public func manifest(for platform: Platform) -> Descriptor? {
        manifests.first(where: { entry in
            guard let p = entry.platform else { return false }
            return p.os == platform.os && p.architecture == platform.architecture && (platform.variant == nil || p.variant == platform.variant)
        }) ?? manifests.first(where: { $0.platform == nil })
    }
}
