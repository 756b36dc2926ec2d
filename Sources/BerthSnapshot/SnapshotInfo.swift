import BerthContent
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc

public struct SnapshotInfo: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case active, committed, view }
    public var key: String
    public var parent: String?
    public var kind: Kind
}

/// The on-disk bookkeeping both drivers share: one directory per snapshot, named by a digest of
/// its key (so lookups need no index that a crash could leave stale), holding `info.json`.
/// A snapshot exists once its directory has been renamed into place with its info written.
struct SnapshotDirectory: Sendable {
    let root: String

    init(root: String) throws {
        self.root = root
        try FileIO.makeDirectories(root, mode: 0o700)
        // Each snapshot's tree is unrelated to its neighbours', as home directories are: marked
        // as a top directory, ext4 places each new snapshot in a block group of its own (Orlov)
        // instead of beside the parent's. Without it, a pull right after an `rmi` allocated its
        // inodes in the group the removed layers had just freed, and on an ext4 without a journal
        // every allocation scans past each recently deleted inode first: a pull of five layers
        // after an `rmi` took 0.40–0.59 s here, 0.34–0.36 s marked (three interleaved runs of 10
        // each; berthd's CPU 0.61–0.98 → 0.51–0.53 s). Only a placement hint: a file system
        // without the flag (ENOTTY, EOPNOTSUPP) works the same, so a refusal is not an error.
        _ = berth_mark_top_directory(root)
    }

    static func id(_ key: String) -> String { SHA256.digest(Array(key.utf8)).hex }

    func path(_ key: String) -> String { root + "/" + Self.id(key) }

    func info(_ key: String) -> SnapshotInfo? {
        guard let bytes = try? FileIO.read(path(key) + "/info.json") else { return nil }
        return try? JSONDecoder().decode(SnapshotInfo.self, from: Data(bytes))
    }

    func require(_ key: String) throws -> SnapshotInfo {
        guard let info = info(key) else { throw SnapshotError.notFound(key) }
        return info
    }

    /// Snapshots whose directory is named by their key: a commit cut between writing its info
    /// and its rename is not one yet (`sweep` finishes it).
    func list() -> [SnapshotInfo] {
        stored().compactMap { name, info in name == Self.id(info.key) ? info : nil }
    }

    /// Every directory with an info, by directory name.
    private func stored() -> [(String, SnapshotInfo)] {
        ((try? FileIO.listDirectory(root)) ?? []).compactMap { name in
            guard name.utf8.count == 64, let bytes = try? FileIO.read(root + "/" + name + "/info.json"),
                  let info = try? JSONDecoder().decode(SnapshotInfo.self, from: Data(bytes)) else { return nil }
            return (name, info)
        }
    }

    /// Parents from nearest to base.
    func chain(_ key: String?) throws -> [String] {
        var out: [String] = []
        var next = key
        while let k = next {
            let info = try require(k)
            out.append(k)
            next = info.parent
        }
        return out
    }

    /// Builds a new snapshot in a staging directory (`populate` fills it), then renames it into
    /// place: a crash leaves either nothing or a complete snapshot, plus staging that `sweep` clears.
    func create(_ info: SnapshotInfo, populate: (String) throws -> Void) throws {
        if self.info(info.key) != nil { throw SnapshotError.exists(info.key) }
        if let parent = info.parent {
            let p = try require(parent)
            guard p.kind == .committed else { throw SnapshotError.notFound(parent) }
        }
        let staging = try FileIO.makeTemporaryDirectory(in: root, prefix: "staging-")
        do {
            try populate(staging)
            try write(info, in: staging)
            try sys("rename", path(info.key)) { rename(staging, path(info.key)) }
        } catch {
            try? FileIO.removeTree(staging)  // else swept at the next open
            throw error
        }
    }

    /// Only committed snapshots (image layers) are synced: an active one is a container's
    /// writable layer or an unpack that a crash restarts.
    func write(_ info: SnapshotInfo, in directory: String) throws {
        try AtomicFile.write(directory + "/info.json", Array(try JSONEncoder().encode(info)), mode: 0o600,
                             durable: info.kind == .committed)
    }

    /// Commit: the active directory is renamed to the committed key's and its info rewritten.
    func commit(key: String, as name: String, finish: (String) throws -> Void) throws {
        var info = try require(key)
        guard info.kind == .active else { throw SnapshotError.notActive(key) }
        if self.info(name) != nil { throw SnapshotError.exists(name) }
        info.key = name
        info.kind = .committed
        try finish(path(key))
        try write(info, in: path(key))
        try sys("rename", path(name)) { rename(path(key), path(name)) }
        AtomicFile.syncDirectory(root)
    }

    func remove(_ key: String, checkChildren: Bool = true) throws {
        try FileIO.removeTree(try detach(key, checkChildren: checkChildren))
    }

    /// Renames the snapshot out of the store and returns where it went, for the caller to
    /// delete: a crash mid-delete never leaves a half snapshot under a live name, and one before
    /// the delete leaves a `removing-` directory that `sweep` clears.
    func detach(_ key: String, checkChildren: Bool = true) throws -> String {
        _ = try require(key)
        if checkChildren, list().contains(where: { $0.parent == key }) { throw SnapshotError.hasChildren(key) }
        let dir = path(key)
        let doomed = root + "/removing-" + Self.id(key)
        try sys("rename", dir) { rename(dir, doomed) }
        return doomed
    }

    /// Clears what a crash left: staging and half-removed directories, and finishes a commit cut
    /// between its info (already naming the committed key, its content complete) and its rename,
    /// which would otherwise be listed under a key that nothing can look up or remove.
    func sweep() {
        for name in (try? FileIO.listDirectory(root)) ?? [] where name.hasPrefix("staging-") || name.hasPrefix("removing-") {
            try? FileIO.removeTree(root + "/" + name)  // tried again at the next open; nothing lists these
        }
        for (name, info) in stored() where name != Self.id(info.key) {
            if FileIO.exists(path(info.key)) {
                try? FileIO.removeTree(root + "/" + name)  // tried again at the next open
            } else {
                rename(root + "/" + name, path(info.key))
            }
        }
    }
}

/// The parts of a driver that are only bookkeeping, shared by every driver kept in a SnapshotDirectory.
protocol StoredSnapshotter: Snapshotter {
    var store: SnapshotDirectory { get }
}

extension StoredSnapshotter {
    public func view(key: String, parent: String) throws -> MountPlan {
        try store.create(SnapshotInfo(key: key, parent: parent, kind: .view)) { _ in }
        return try mounts(key: key)
    }

    public func info(key: String) -> SnapshotInfo? { store.info(key) }
    public func list() -> [SnapshotInfo] { store.list() }

    public func rebase(key: String, onto parent: String?) throws {
        var info = try requireActive(key)
        if let parent {
            guard store.info(parent)?.kind == .committed else { throw SnapshotError.notFound(parent) }
        }
        info.parent = parent
        try store.write(info, in: store.path(key))
    }

    func requireActive(_ key: String) throws -> SnapshotInfo {
        let info = try store.require(key)
        guard info.kind == .active else { throw SnapshotError.notActive(key) }
        return info
    }
}
