/// OCI image-spec (and Docker schema2, field-compatible) documents. Unknown fields are dropped
/// on decode; what Berth writes validates against the OCI JSON schemas.
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType; self.digest = digest; self.size = size
        self.annotations = annotations; self.platform = platform
    }
}

public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public init(architecture: String, os: String, variant: String? = nil) {
        self.architecture = architecture; self.os = os; self.variant = variant
    }
    /// `os/arch[/variant]`, as `--platform` spells it.
    public var description: String { os + "/" + architecture + (variant.map { "/" + $0 } ?? "") }
}

/// image-manifest; also Docker's manifest v2 schema 2 (same fields, different media types).
public struct Manifest: Codable, Equatable, Sendable {
    public var schemaVersion: Int = 2
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociManifest, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil) {
        self.mediaType = mediaType; self.config = config; self.layers = layers; self.annotations = annotations
    }

    /// Docker's limit (moby's maxLayerDepth): overlayfs stacks at most 500 lower layers and the
    /// mount options of a deep stack outgrow a page, so an image this deep could never run; it
    /// is refused when it arrives, before any of its layers is fetched or unpacked.
    public static let maxLayers = 125

    /// Why an image of `count` layers is refused, or nil.
    public static func depthProblem(layers count: Int) -> String? {
        count > maxLayers ? "max depth exceeded: the image has \(count) layers, at most \(maxLayers) are supported" : nil
    }
}

/// image-index; also Docker's manifest list.
public struct Index: Codable, Equatable, Sendable {
    public var schemaVersion: Int = 2
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.mediaType = mediaType; self.manifests = manifests; self.annotations = annotations
    }
}

/// An empty JSON object: the value type of `ExposedPorts` and `Volumes` sets.
public struct EmptyObject: Codable, Hashable, Sendable {
    public init() {}
}

/// image config (config.md); the image ID is the digest of its bytes, as in Docker.
public struct ImageConfig: Codable, Equatable, Sendable {
    public var created: String?
    public var author: String?
    public var architecture: String
    public var os: String
    public var variant: String?
    public var config: ContainerConfig?
    public var rootfs: RootFS
    public var history: [History]?

    public init(created: String? = nil, author: String? = nil, architecture: String, os: String = "linux",
                config: ContainerConfig? = nil, rootfs: RootFS, history: [History]? = nil) {
        self.created = created; self.author = author; self.architecture = architecture; self.os = os
        self.config = config; self.rootfs = rootfs; self.history = history
    }

    public struct RootFS: Codable, Equatable, Sendable {
        public var type: String = "layers"
        public var diffIDs: [Digest]
        enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
        public init(diffIDs: [Digest]) { self.diffIDs = diffIDs }
    }

    public struct History: Codable, Equatable, Sendable {
        public var created: String?
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        public var emptyLayer: Bool?
        enum CodingKeys: String, CodingKey {
            case created, author, comment, createdBy = "created_by", emptyLayer = "empty_layer"
        }
        public init(created: String? = nil, createdBy: String? = nil, author: String? = nil, comment: String? = nil, emptyLayer: Bool? = nil) {
            self.created = created; self.createdBy = createdBy; self.author = author; self.comment = comment
            self.emptyLayer = emptyLayer
        }
    }

    /// The execution parameters (`config` in image-spec; Docker's `Config`).
    public struct ContainerConfig: Codable, Equatable, Sendable {
        public var user: String?
        public var exposedPorts: [String: EmptyObject]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var volumes: [String: EmptyObject]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?
        public var argsEscaped: Bool?
        public var onBuild: [String]?
        public var shell: [String]?
        public var healthcheck: Healthcheck?

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
            case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
            case argsEscaped = "ArgsEscaped", onBuild = "OnBuild", shell = "Shell", healthcheck = "Healthcheck"
        }
        public init() {}
    }

    public struct Healthcheck: Codable, Equatable, Sendable {
        public var test: [String]?
        public var interval: Int64?
        public var timeout: Int64?
        public var startPeriod: Int64?
        public var startInterval: Int64?
        public var retries: Int?
        enum CodingKeys: String, CodingKey {
            case test = "Test", interval = "Interval", timeout = "Timeout", startPeriod = "StartPeriod", startInterval = "StartInterval", retries = "Retries"
        }
        public init() {}
    }
}
