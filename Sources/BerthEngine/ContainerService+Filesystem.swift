import BerthDiagnostics
import BerthAPI
import BerthArchive
import BerthImage
import BerthOCI
import BerthSnapshot
import BerthSystem
import FoundationEssentials
import Glibc

/// What reads or writes a container's files: export, diff, cp and commit. The long file work runs
/// on the blocking pool; only counting the rootfs' users takes the container's actor, so one big
/// export holds up nothing else.
extension ContainerService {
    // MARK: the rootfs mount

    /// The container's file system mounted at its bundle's rootfs, as it is while the container
    /// runs; each user releases it with `releaseRootfs`. The mount and the count of users change
    /// together under the container's rootfs gate; the syscalls (and the read of mountinfo,
    /// long with a thousand containers) run on the blocking pool.
    func acquireRootfs(_ id: String) async throws -> String {
        let rootfs = bundlePath(id) + "/rootfs"
        let snapshotter = images.snapshotter
        let container = try container(id)
        try await container.holding(.rootfs) {
            try await Threads.run {
                if !Self.isMounted(rootfs) {
                    try FileIO.makeDirectories(rootfs, mode: 0o711)
                    try snapshotter.mounts(key: id).mount(at: rootfs)
                }
            }
            await container.run { $0.rootfsUsers += 1 }
        }
        return rootfs
    }

    func releaseRootfs(_ id: String) async {
        await containers.actor(id)?.run { $0.rootfsUsers -= 1 }
        await unmountIdle(id)
    }

    /// Unmounts the rootfs unless the container runs or an operation still uses it.
    func unmountIdle(_ id: String) async {
        guard let container = containers.actor(id) else { return }
        let rootfs = bundlePath(id) + "/rootfs"
        await log.attempt("unmounting the rootfs of container \(id)") {
            try await container.holding(.rootfs) {
                guard await container.rootfsUsers == 0, containers[id]?.state.Running != true else { return }
                try await Threads.run { if Self.isMounted(rootfs) { try Mounter.unmount(rootfs, detach: true) } }
            }
        }
    }

    /// The maps the mounted rootfs shows owners through: a running remapped container's is
    /// idmapped; otherwise it shows them as stored.
    func mountedIDMap(_ record: ContainerRecord) -> IDMap? { record.state.Running ? idmap(for: record) : nil }

    func ownerShift(_ record: ContainerRecord) -> OwnerShift {
        mountedIDMap(record).map { OwnerShift(uid: $0.uid, gid: $0.gid) } ?? .none
    }

    /// Runs `body` with the mounted rootfs on the blocking pool: a tree walk waits on the disk.
    func withRootfs<T: Sendable>(_ ref: String, _ body: @escaping @Sendable (String, ContainerRecord) throws -> T) async throws -> T {
        let record = try find(ref)
        let root = try await acquireRootfs(record.id)
        do {
            let result = try await Threads.run { try body(root, record) }
            await releaseRootfs(record.id)
            return result
        } catch {
            await releaseRootfs(record.id)
            throw error
        }
    }

    // MARK: export and diff

    /// `docker export`: the container's whole filesystem as one tar, written to `fd`.
    public func export(_ ref: String, to fd: Int32) async throws {
        try await withRootfs(ref) { root, record in
            let writer = try TarWriter(fd: fd)
            try TreeArchiver(mode: .plain, owners: self.ownerShift(record)).archive(root, to: writer)
            _ = try writer.finish()
        }
    }

    /// `docker diff`: the writable layer against the image (and its init layer).
    public func changes(_ ref: String) async throws -> [ChangeItem] {
        let id = try find(ref).id
        let snapshotter = images.snapshotter
        return try await Threads.run {
            let collector = ChangeCollector(parent: snapshotter.parentView(key: id))
            try snapshotter.diff(key: id, to: collector)
            return collector.items
        }
    }

    // MARK: cp

    /// `HEAD /containers/{id}/archive`.
    public func statPath(_ ref: String, path: String) async throws -> PathStat {
        try await withRootfs(ref) { root, record in
            let item = try self.archiveItem(root, record, path)
            defer { close(item.directory) }
            return item.stat
        }
    }

    /// `GET /containers/{id}/archive`: the resource as a tar whose top entry is named as the path's
    /// last component, as `docker cp` expects.
    public func archive(_ ref: String, path: String, to fd: Int32) async throws -> PathStat {
        try await withRootfs(ref) { root, record in
            let item = try self.archiveItem(root, record, path)
            defer { close(item.directory) }
            let writer = try TarWriter(fd: fd)
            try TreeArchiver(mode: .plain, owners: self.ownerShift(record)).archive(item: item.entryName, in: item.directory, path: RootedPath.procPath(item.directory),
                                                   as: item.stat.name, to: writer)
            _ = try writer.finish()
            return item.stat
        }
    }

    /// A `cp` source. The files berthd binds over /etc are read where they live, as Docker reads
    /// them through its bind mounts (the rootfs holds only the init layer's empty mount points).
    func archiveItem(_ root: String, _ record: ContainerRecord, _ path: String) throws -> ArchiveItem {
        let clean = "/" + path.split(separator: "/").joined(separator: "/")
        if ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"].contains(clean) {
            return try ArchiveItem(root: containerDir(record.id), path: String(clean.dropFirst(4)), container: record.name)
        }
        guard let (mount, rest) = mountHolding(clean, record) else { return try ArchiveItem(root: root, path: path, container: record.name) }
        let source = mountSource(mount)
        let suffix = path.hasSuffix("/.") ? "/." : path.hasSuffix("/") ? "/" : ""
        if rest.isEmpty && suffix.isEmpty {
            // the mount point itself: its source, named as the path in the container
            let (parent, base) = RootedPath.split(source)
            return try ArchiveItem(root: parent.isEmpty ? "/" : parent, path: "/" + base, container: record.name, name: RootedPath.split(clean).1)
        }
        return try ArchiveItem(root: source, path: (rest.isEmpty ? "" : rest) + (suffix.isEmpty ? "" : suffix), container: record.name)
    }

    /// The volume or bind mount a container path lies in (the deepest), and the path within it:
    /// cp reads and writes there, as Docker mounts a container's volumes for cp, whether the
    /// container runs or not (the rootfs seen from the host never shows them). tmpfs mounts
    /// live only in a running container's mount namespace and are not reached.
    func mountHolding(_ clean: String, _ record: ContainerRecord) -> (MountRecord, String)? {
        let holding = (record.mounts ?? []).filter { m in
            let dest = "/" + m.destination.split(separator: "/").joined(separator: "/")
            return m.type != "tmpfs" && (clean == dest || clean.hasPrefix(dest == "/" ? "/" : dest + "/"))
        }
        guard let m = holding.max(by: { $0.destination.count < $1.destination.count }) else { return nil }
        let dest = "/" + m.destination.split(separator: "/").joined(separator: "/")
        return (m, String(clean.dropFirst(dest.count)))
    }

    func mountSource(_ m: MountRecord) -> String { m.type == "volume" ? volumes.store.dataPath(m.source) : m.source }

    /// `PUT /containers/{id}/archive`: a tar extracted into a directory of the container, every
    /// entry confined to that directory.
    public func extract(_ ref: String, path: String, from fd: Int32, noOverwriteDirNonDir: Bool) async throws {
        if try find(ref).hostConfig.ReadonlyRootfs == true {
            throw EngineError.forbidden("container rootfs is marked read-only")
        }
        try await withRootfs(ref) { root, record in
            let clean = "/" + path.split(separator: "/").joined(separator: "/")
            var target = (root: root, path: path)
            if let (mount, rest) = self.mountHolding(clean, record) {
                guard !mount.readOnly else { throw EngineError.forbidden("mounted volume is marked read-only") }
                target = (self.mountSource(mount), rest.isEmpty ? "/" : rest)
            }
            let rooted = try RootedPath(root: target.root)
            let dir: Int32
            do { dir = try rooted.open(target.path, flags: O_PATH | O_DIRECTORY) } catch let error as SystemError where error.errno == ENOTDIR {
                throw EngineError.invalid("extraction point is not a directory")
            } catch {
                throw EngineError.notFound("Could not find the file \(path) in container \(record.name)", cause: error)
            }
            defer { close(dir) }
            let reader = try TarReader(fd: fd)
            var extractor = LayerExtractor(root: RootedPath.procPath(dir), whiteouts: .none)
            extractor.noOverwriteDirNonDir = noOverwriteDirNonDir
            guard let idmap = self.mountedIDMap(record) else { return _ = try extractor.extract(reader) }
            extractor.owners = OwnerShift(uid: idmap.uid, gid: idmap.gid)
            _ = try idmap.asRemappedRoot { try extractor.extract(reader) }
        }
    }

    // MARK: commit

    public struct CommitOptions: Sendable {
        public var reference: Reference?
        public var comment: String?
        public var author: String?
        public var changes: [String] = []
        public var pause = true
        public var config: ContainerConfig?
        public init() {}
    }

    /// `docker commit`: the writable layer becomes a new image on the container's image; the
    /// container is frozen meanwhile (as Docker's `--pause`) so the layer is consistent.
    public func commit(_ ref: String, _ options: CommitOptions) async throws -> String {
        let record = try find(ref)
        _ = try await images.resolve(record.imageID)  // its image must still be there to build on
        var config = record.config
        if let override = options.config {
            if override.Cmd != nil { config.Cmd = override.Cmd }
            if override.Entrypoint != nil { config.Entrypoint = override.Entrypoint }
            if let env = override.Env { config.Env = Self.mergeEnv(config.Env ?? [], env) }
            if let labels = override.Labels { config.Labels = (config.Labels ?? [:]).merging(labels) { $1 } }
        }
        var imageConfig = ImageAPI.imageConfig(config)
        do { try ConfigChange.apply(options.changes, to: &imageConfig) } catch { throw EngineError.invalid("\(error)") }
        var freeze = options.pause && record.state.Running && !record.state.Paused
        let task = task(record.id)
        if freeze {
            do { try await task.pause() } catch {
                // The process exited since the record last said running (its exit is on the way): nothing to freeze.
                guard !(await task.isRunning) else { throw error }
                freeze = false
            }
        }
        let committed: ImageRecord
        do {
            committed = try await commitLayer(record.id, config: imageConfig, createdBy: ([record.path] + record.args).joined(separator: " "),
                                              author: options.author, comment: options.comment, tags: options.reference.map { [$0] } ?? [])
        } catch {
            if freeze { await log.attempt("thawing container \(record.id) after a failed commit") { try await task.resume() } }
            throw error
        }
        if freeze { await log.attempt("thawing container \(record.id) after commit") { try await task.resume() } }
        emit(record, "commit", ["comment": options.comment ?? ""])
        if let reference = options.reference {
            events.publish("image", "tag", id: committed.id.description, attributes: ["name": reference.familiarString])
        }
        return committed.id.description
    }
}

extension ContainerService {
    /// The container's writable layer as a new image on its image, with `config`: what
    /// `commit` and each build step that changes files produce.
    func commitLayer(_ id: String, config: ImageConfig.ContainerConfig, createdBy: String, author: String? = nil,
                     comment: String? = nil, tags: [Reference] = []) async throws -> ImageRecord {
        let record = try find(id)
        let image = try await images.resolve(record.imageID)
        let snapshotter = images.snapshotter
        let details = ImageCommitter.Details(config: config, createdBy: createdBy, author: author, comment: comment)
        return try await ImageCommitter(store: images).commit(parent: image, details: details, tags: tags) { sink in
            try snapshotter.diff(key: record.id, to: sink)
        }
    }
}

/// Turns a layer's entries into `docker diff` lines.
final class ChangeCollector: TreeSink {
    let parent: ParentView
    var items: [ChangeItem] = []

    init(parent: ParentView) { self.parent = parent }

    func add(_ entry: TarEntry, source: Int32?) throws {
        let path = "/" + (try TarEntry.clean(entry.path))
        let (dir, name) = RootedPath.split(path)
        if name == TarEntry.opaqueWhiteout { return }
        if name.hasPrefix(TarEntry.whiteoutPrefix) {
            let removed = String(name.dropFirst(TarEntry.whiteoutPrefix.count))
            items.append(ChangeItem(Path: (dir == "/" ? "" : dir) + "/" + removed, Kind: 2))
            return
        }
        items.append(ChangeItem(Path: path, Kind: parent.type(of: path) != nil ? 0 : 1))
    }
}

/// A `docker cp` source: the parent directory (resolved inside the root), the entry in it, and
/// its stat as the CLI reads it. A path ending in `/` or `/.` follows a final symlink and, for
/// `/.`, means the directory's contents.
struct ArchiveItem {
    let directory: Int32
    let entryName: String
    let stat: PathStat

    /// `name` overrides the archived name (a mount point read from its source elsewhere).
    init(root: String, path: String, container: String, name override: String? = nil) throws {
        let rooted = try RootedPath(root: root)
        let follow = path.hasSuffix("/") || path.hasSuffix("/.")
        let (parent, base) = RootedPath.split(path)
        do {
            directory = try rooted.open(follow ? path : parent, flags: O_PATH | O_DIRECTORY)
        } catch {
            throw EngineError.notFound("Could not find the file \(path) in container \(container)", cause: error)
        }
        entryName = follow ? "." : base
        var st = Glibc.stat()
        guard fstatat(directory, entryName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            close(directory)
            throw EngineError.notFound("Could not find the file \(path) in container \(container)")
        }
        var link = ""
        if (st.st_mode & S_IFMT) == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlinkat(directory, entryName, &buffer, buffer.count - 1)
            let target = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            link = target.hasPrefix("/") ? target : (parent == "/" ? "" : parent) + "/" + target
        }
        let name = path.hasSuffix("/.") ? "." : override ?? (base.isEmpty ? "/" : base)
        stat = PathStat(name: name, size: Int64(st.st_size), mode: Self.goFileMode(st.st_mode),
                        mtime: Timestamp.format(st.st_mtim), linkTarget: link)
    }

    /// Go's `os.FileMode`: permission bits plus its own type bits.
    static func goFileMode(_ mode: mode_t) -> UInt32 {
        var out = UInt32(mode & 0o777)
        switch mode & S_IFMT {
        case S_IFDIR: out |= 1 << 31
        case S_IFLNK: out |= 1 << 27
        case S_IFBLK: out |= 1 << 26
        case S_IFCHR: out |= 1 << 26 | 1 << 21
        case S_IFIFO: out |= 1 << 25
        case S_IFSOCK: out |= 1 << 24
        default: break
        }
        if mode & S_ISUID != 0 { out |= 1 << 23 }
        if mode & S_ISGID != 0 { out |= 1 << 22 }
        if mode & S_ISVTX != 0 { out |= 1 << 20 }
        return out
    }
}
