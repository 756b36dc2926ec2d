import BerthArchive
import BerthSystem
import Glibc

/// overlay2, as Docker lays it out: each layer's files in `<id>/diff`, stored once and shared by
/// every image and container on it; short links in `l/` keep mount options small.
public struct OverlaySnapshotter: StoredSnapshotter {
    public var driver: String { "overlay2" }
    public var extractsIndependently: Bool { true }
    let store: SnapshotDirectory

    public init(root: String) throws {
        store = try SnapshotDirectory(root: root)
        try FileIO.makeDirectories(root + "/l", mode: 0o700)
        store.sweep()
    }

    /// Whether this kernel and file system can run overlay with our options (checked by mounting).
    public static func isSupported(root: String) -> Bool {
        guard let probe = try? FileIO.makeTemporaryDirectory(in: root, prefix: "probe-") else { return false }
        defer { try? FileIO.removeTree(probe) }  // one left behind holds only empty directories
        for dir in ["l1", "l2", "u", "w", "m"] { mkdir(probe + "/" + dir, 0o755) }
        let plan = MountPlan.overlay(lowers: [probe + "/l1", probe + "/l2"], upper: probe + "/u", work: probe + "/w")
        guard (try? plan.mount(at: probe + "/m")) != nil else { return false }  // the failure is the answer
        try? Mounter.unmount(probe + "/m", detach: true)  // detached: cannot fail on a mount just made
        return true
    }

    /// The 26-character link name of a snapshot directory (Docker's length).
    static func shortName(_ key: String) -> String { String(SnapshotDirectory.id(key).prefix(26)) }

    func linkPath(_ key: String) -> String { store.root + "/l/" + Self.shortName(key) }

    /// The short path of a committed layer's files, creating the link if a crash lost it.
    func lowerPath(_ key: String) -> String {
        let link = linkPath(key)
        if !FileIO.exists(link) { symlink("../" + SnapshotDirectory.id(key) + "/diff", link) }
        return link
    }

    public func prepare(key: String, parent: String?) throws -> MountPlan {
        try store.create(SnapshotInfo(key: key, parent: parent, kind: .active)) { dir in
            try sys("mkdir", dir + "/diff") { mkdir(dir + "/diff", 0o755) }
            try sys("mkdir", dir + "/work") { mkdir(dir + "/work", 0o700) }
        }
        return try mounts(key: key)
    }

    public func mounts(key: String) throws -> MountPlan {
        let info = try store.require(key)
        let lowers = try store.chain(info.parent).map(lowerPath)
        let dir = store.path(key)
        switch info.kind {
        case .active:
            if lowers.isEmpty { return .bind(source: dir + "/diff", readOnly: false) }
            return .overlay(lowers: lowers, upper: dir + "/diff", work: dir + "/work")
        case .view, .committed:
            let chain = info.kind == .committed ? [lowerPath(key)] + lowers : lowers
            if chain.count == 1 { return .bind(source: store.path(info.kind == .committed ? key : info.parent!) + "/diff", readOnly: true) }
            return .overlay(lowers: chain, upper: nil, work: nil)
        }
    }

    public func commit(key: String, as name: String) throws {
        try store.commit(key: key, as: name) { dir in try FileIO.removeTree(dir + "/work") }
        unlink(linkPath(key))
        _ = lowerPath(name)
    }

    public func remove(key: String) throws {
        try store.remove(key)
        unlink(linkPath(key))
    }

    public func detachLeaf(key: String) throws -> String {
        let doomed = try store.detach(key, checkChildren: false)
        unlink(linkPath(key))
        return doomed
    }


    public func applyTarget(key: String) throws -> (directory: String, whiteouts: LayerExtractor.Whiteouts) {
        _ = try requireActive(key)
        return (store.path(key) + "/diff", .overlay)
    }

    public func diff(key: String, to writer: TreeSink) throws {
        _ = try requireActive(key)
        try TreeArchiver(mode: .overlayDiff).archive(store.path(key) + "/diff", to: writer)
    }

    public func parentView(key: String) -> ParentView {
        let chain = store.info(key)?.parent.flatMap { try? store.chain($0) } ?? []
        return ParentView(layers: chain.map { store.path($0) + "/diff" }, overlayWhiteouts: true)
    }

    public func usage(key: String) -> Int64 { FileIO.diskUsage(store.path(key) + "/diff") }

    /// Full paths, as dockerd's (the mounts use the short links in `l/`).
    public func driverData(key: String) -> [String: String] {
        guard let info = store.info(key) else { return [:] }
        let dir = store.path(key)
        var data = ["UpperDir": dir + "/diff"]
        if info.kind == .active { data["WorkDir"] = dir + "/work" }
        let lowers = (info.parent.flatMap { try? store.chain($0) } ?? []).map { store.path($0) + "/diff" }  // a broken chain: no LowerDir
        if !lowers.isEmpty { data["LowerDir"] = lowers.joined(separator: ":") }
        return data
    }
}
