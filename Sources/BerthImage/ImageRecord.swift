import BerthContent
import BerthOCI

/// What the store keeps about one image besides its blobs. The image ID is the config digest.
public struct ImageRecord: Codable, Equatable, Sendable {
    public var id: Digest
    /// The manifest blob in the content store (written by us for imports and loads, kept as
    /// pulled for registry images so its digest matches the registry's).
    public var manifest: Digest
    /// Uncompressed size of each layer's files, in order (what `docker images` adds up).
    public var layerSizes: [Int64]
    /// `name@sha256:…` for images that came from a registry.
    public var repoDigests: [String]
    /// When the image was stored, RFC 3339.
    public var added: String
    /// The image this one was committed on (build steps, commit): an untagged image with a child
    /// is an intermediate, hidden by `images` as Docker hides it.
    public var parent: Digest?

    public init(id: Digest, manifest: Digest, layerSizes: [Int64], repoDigests: [String] = [], added: String) {
        self.id = id; self.manifest = manifest; self.layerSizes = layerSizes; self.repoDigests = repoDigests; self.added = added
    }

    public var size: Int64 { layerSizes.reduce(0, +) }
}

/// chainID (image-spec config.md "Layer ChainID"): the snapshot key of a layer stack.
public enum ChainID {
    public static func of(_ diffIDs: [Digest]) -> [Digest] {
        var out: [Digest] = []
        for diffID in diffIDs {
            guard let previous = out.last else { out.append(diffID); continue }
            out.append(SHA256.digest(Array((previous.description + " " + diffID.description).utf8)))
        }
        return out
    }
}
