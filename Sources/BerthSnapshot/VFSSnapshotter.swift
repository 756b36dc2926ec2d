import BerthArchive
import BerthSystem
import Glibc

/// vfs: every snapshot is a full copy of its parent. Slow and large, but needs nothing from the
/// kernel or file system, so it is the fallback where overlay cannot run (nested, odd fs).
public struct VFSSnapshotter: StoredSnapshotter {
    public var driver: String { "vfs" }
    public var extractsIndependently: Bool { false }
    let store: SnapshotDirectory

    public init(root: String) throws {
        store = try SnapshotDirectory(root: root)
        store.sweep()
    }

    func files(_ key: String) -> String { store.path(key) + "/fs" }

    public func prepare(key: String, parent: String?) throws -> MountPlan {
        try store.create(SnapshotInfo(key: key, parent: parent, kind: .active)) { dir in
            try sys("mkdir", dir + "/fs") { mkdir(dir + "/fs", 0o755) }
            if let parent { try LayerExtractor(root: dir + "/fs", whiteouts: .apply).copy(tree: files(parent)) }
        }
        return try mounts(key: key)
    }

    public func mounts(key: String) throws -> MountPlan {
        let info = try store.require(key)
        switch info.kind {
        case .active: return .bind(source: files(key), readOnly: false)
        case .committed: return .bind(source: files(key), readOnly: true)
        case .view: return .bind(source: files(info.parent!), readOnly: true)
        }
    }

    public func commit(key: String, as name: String) throws {
        try store.commit(key: key, as: name) { _ in }
    }

    public func remove(key: String) throws { try store.remove(key) }
    public func detachLeaf(key: String) throws -> String { try store.detach(key, checkChildren: false) }
    /// dockerd's vfs shows none: each snapshot is a whole copy in one directory.
    public func driverData(key: String) -> [String: String] { [:] }

    public func applyTarget(key: String) throws -> (directory: String, whiteouts: LayerExtractor.Whiteouts) {
        _ = try requireActive(key)
        return (files(key), .apply)
    }

    /// A vfs parent is a full copy: its own directory is the whole view.
    public func parentView(key: String) -> ParentView {
        ParentView(layers: store.info(key)?.parent.map { [files($0)] } ?? [], overlayWhiteouts: false)
    }

    public func diff(key: String, to writer: TreeSink) throws {
        let info = try requireActive(key)
        guard let parent = info.parent else { return try TreeArchiver(mode: .plain).archive(files(key), to: writer) }
        try TreeArchiver(mode: .plain).archiveChanges(from: files(parent), to: files(key), writer: writer)
    }

    public func usage(key: String) -> Int64 { FileIO.diskUsage(files(key)) }
}
