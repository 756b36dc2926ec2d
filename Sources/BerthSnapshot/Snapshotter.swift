import BerthArchive
import BerthSystem
import Glibc

/// containerd's snapshot model: a committed snapshot is an immutable layer keyed by its chainID;
/// an active snapshot is a writable layer on top of a parent chain (a container, or a layer being
/// unpacked); a view is a read-only mount of a chain. Drivers differ only in how they store and
/// mount these; one conformance suite runs against every driver.
public protocol Snapshotter: Sendable {
    var driver: String { get }
    /// A new writable snapshot on `parent` (nil: empty).
    func prepare(key: String, parent: String?) throws -> MountPlan
    /// A read-only snapshot of `parent`.
    func view(key: String, parent: String) throws -> MountPlan
    /// How to mount an existing active snapshot or view.
    func mounts(key: String) throws -> MountPlan
    /// Freezes active snapshot `key` into committed snapshot `name`; `key` is gone afterwards.
    func commit(key: String, as name: String) throws
    /// Removes a snapshot that has no children.
    func remove(key: String) throws
    /// Takes a snapshot its caller knows nothing was made on (a container's own layers) out of
    /// the store at once, without looking for children (that reads every snapshot's info:
    /// removing one container cost as much as there were containers), and returns the directory
    /// it leaves for the caller to delete, off a request's path if it likes.
    func detachLeaf(key: String) throws -> String
    func info(key: String) -> SnapshotInfo?
    func list() -> [SnapshotInfo]
    /// Where a layer is extracted into an active snapshot, and the whiteout form the driver needs.
    func applyTarget(key: String) throws -> (directory: String, whiteouts: LayerExtractor.Whiteouts)
    /// Sends the active snapshot's changes against its parent as layer entries (OCI whiteouts).
    func diff(key: String, to writer: TreeSink) throws
    /// The parent chain of `key` as a lookup, resolved once: tells an added file from a modified
    /// one, and lets a layer be filled without mounting its parents.
    func parentView(key: String) -> ParentView
    /// Bytes the snapshot's own directory uses (its layer, not its parents').
    func usage(key: String) -> Int64
    /// Whether a layer can be extracted without its parents in place (overlay keeps whiteouts
    /// as marks; vfs applies them to a copy of the parent). When true, a pull extracts layers in
    /// parallel and `rebase`s each onto its parent before committing.
    var extractsIndependently: Bool { get }
    /// Gives active snapshot `key` a new parent (which must be committed).
    func rebase(key: String, onto parent: String?) throws
    /// The driver's directories of `key` as dockerd's `GraphDriver.Data` names them (overlay2:
    /// `LowerDir`, `UpperDir`, and an active snapshot's `WorkDir`): people read a container's
    /// changes from its `UpperDir`.
    func driverData(key: String) -> [String: String]
}

extension Snapshotter {
    /// `detachLeaf` and the delete, in one step.
    public func removeLeaf(key: String) throws { try FileIO.removeTree(try detachLeaf(key: key)) }
}

public enum SnapshotError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case exists(String)
    case notActive(String)
    case hasChildren(String)
    case tooManyLayers(Int)
    case idmapUnsupported(String)

    public var description: String {
        switch self {
        case .notFound(let k): return "snapshot \(k) does not exist"
        case .exists(let k): return "snapshot \(k) already exists"
        case .notActive(let k): return "snapshot \(k) is not active"
        case .hasChildren(let k): return "snapshot \(k) is in use by other snapshots"
        case .tooManyLayers(let n): return "cannot mount \(n) layers: the overlay options exceed one page on this kernel (needs 6.8+ for more)"
        case .idmapUnsupported(let why): return "--userns-remap needs idmapped mounts of the data root's file system and overlay layers given as file descriptors (Linux 6.8+): \(why)"
        }
    }
}

/// What a snapshot's parents show at a path, without mounting them: the topmost layer directory
/// holding the name decides (for overlay, a 0/0 character device there is a whiteout).
public struct ParentView: Sendable {
    /// Layer directories, topmost first.
    let layers: [String]
    let overlayWhiteouts: Bool

    /// The file type (`S_IFDIR`, `S_IFLNK`…) at `path`, nil when absent.
    public func type(of path: String) -> mode_t? {
        for layer in layers {
            var st = stat()
            guard lstat(layer + "/" + path, &st) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            return overlayWhiteouts && type == S_IFCHR && st.st_rdev == 0 ? nil : type
        }
        return nil
    }
}
