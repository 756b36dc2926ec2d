import BerthArchive
import BerthOCI
import BerthSnapshot
import BerthSystem
import Glibc

/// Turns one layer stream into a committed snapshot keyed by its chainID. Load, import and pull
/// share it: the stream is read once, extracted in the kernel-confined root and hashed as it
/// passes, and the snapshot is committed only if the hash is the diffID the config promised.
public struct LayerUnpacker: Sendable {
    public let snapshotter: any Snapshotter

    public init(snapshotter: any Snapshotter) { self.snapshotter = snapshotter }

    /// Staging keys start with it; `repair()` clears leftovers after a crash.
    public static let stagingPrefix = "extract-"

    public static func stagingKey(_ chain: Digest) -> String {
        "\(stagingPrefix)\(getpid())-\(chain.hex)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Extracts the (possibly compressed) tar readable from `fd` into a new active snapshot on
    /// `parent`, verifying `diffID`. Returns the staging key and the bytes extracted; the caller
    /// commits with `commit` (or removes the key on its own failure). `read` hears how much of
    /// the input has been consumed.
    public func extract(fd: Int32, diffID: Digest, chain: Digest, parent: Digest?,
                        read: ((Int64) -> Void)? = nil) throws -> (key: String, bytes: Int64) {
        let key = Self.stagingKey(chain)
        _ = try snapshotter.prepare(key: key, parent: parent?.description)
        do {
            let (directory, whiteouts) = try snapshotter.applyTarget(key: key)
            let reader = try TarReader(fd: fd)
            reader.stream.onRead = read
            let bytes = try LayerExtractor(root: directory, whiteouts: whiteouts).extract(reader)
            let actual = try reader.stream.finish()
            guard actual == diffID else {
                throw ImageError.invalid("layer \(chain.shortID): uncompressed digest \(actual) does not match diff_id \(diffID)")
            }
            return (key, bytes)
        } catch {
            try? snapshotter.remove(key: key)  // else an interrupted unpack, which the next start's repair removes
            throw error
        }
    }

    /// Publishes a staged layer as snapshot `chain` on `parent`. If another unpack got there first
    /// (the same layer in two pulls), the staged copy is dropped.
    public func commit(key: String, chain: Digest, parent: Digest?) throws {
        do {
            if snapshotter.info(key: key)?.parent != parent?.description { try snapshotter.rebase(key: key, onto: parent?.description) }
            if snapshotter.info(key: chain.description) != nil { try snapshotter.remove(key: key); return }
            try snapshotter.commit(key: key, as: chain.description)
        } catch {
            try? snapshotter.remove(key: key)  // else an interrupted unpack, which the next start's repair removes
            throw error
        }
    }
}
