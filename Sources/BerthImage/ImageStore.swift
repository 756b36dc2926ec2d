import BerthArchive
import BerthContent
import BerthOCI
import BerthSnapshot
import BerthSystem
import FoundationEssentials
import Glibc
import Logging

/// Names, image records, and the blobs and snapshots behind them.
///
/// Metadata is one JSON document replaced atomically, so a crash leaves the old or the new set
/// of names, never a mix. Order makes crashes harmless: blobs and snapshots are written before
/// the record that refers to them, and records are dropped before what they refer to, so a crash
/// can only leave unreferenced data, which `repair()` clears at start-up.
public actor ImageStore {
    static let log = Logger(label: "berth.images")
    nonisolated public let content: ContentStore
    nonisolated public let snapshotter: any Snapshotter
    let databasePath: String
    var database: Database
    /// Blobs and snapshots an operation in progress has written but not yet named (a pull's
    /// layers): garbage collection keeps them, as containerd's leases do.
    var leases: [UInt64: (blobs: Set<Digest>, chains: Set<String>)] = [:]
    /// Decoded image configs: a config is named by its digest, so it never changes, and a cached
    /// build step, `images` or `inspect` would otherwise read and decode the same blob each time.
    var configs: [Digest: ImageConfig] = [:]
    var nextLease: UInt64 = 0

    struct Database: Codable {
        var images: [String: ImageRecord] = [:]
        /// Normalized `name:tag` → image ID.
        var tags: [String: Digest] = [:]
    }

    public init(root: String, snapshotter: any Snapshotter) throws {
        try FileIO.makeDirectories(root + "/image", mode: 0o700)
        content = try ContentStore(root: root + "/content")
        self.snapshotter = snapshotter
        databasePath = root + "/image/db.json"
        if let bytes = try? FileIO.read(databasePath) {
            do {
                database = try JSONDecoder().decode(Database.self, from: Data(bytes))
            } catch {
                throw ImageError.invalid("image database \(databasePath) is corrupt: \(error)")
            }
        } else {
            database = Database()
        }
    }

    func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(databasePath, Array(try encoder.encode(database)), mode: 0o600)
    }

    // MARK: lookup

    /// An image by reference (`busybox`, `busybox:1`, `name@sha256:…`), full ID, or unique ID prefix.
    public func resolve(_ text: String) throws -> ImageRecord {
        if let record = lookup(text) { return record }
        let hex = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        if !hex.isEmpty, hex.utf8.allSatisfy(Digest.isLowerHex), hex.utf8.count < 64 {
            let matches = database.images.values.filter { $0.id.hex.hasPrefix(hex) }
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw ImageError.ambiguous(hex) }
        }
        _ = try Reference(parsing: text)  // malformed names get Docker's parse error, not "not found"
        throw ImageError.notFound(text)
    }

    func lookup(_ text: String) -> ImageRecord? {
        let hex = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        if let digest = try? Digest(sha256: hex), let record = database.images[digest.description] { return record }
        if let reference = try? Reference(parsing: text) {
            if let digest = reference.digest {
                let wanted = reference.name + "@" + digest.description
                if let record = database.images.values.first(where: { $0.repoDigests.contains(wanted) }) { return record }
                if reference.tag == nil { return nil }
            }
            if let id = database.tags[reference.withDefaultTag.nameAndTag], let record = database.images[id.description] { return record }
        }
        return nil
    }

    public func records() -> [ImageRecord] { Array(database.images.values) }

    /// Tags pointing at `id`, as normalized `name:tag` strings, sorted.
    public func tags(of id: Digest) -> [Reference] {
        database.tags.filter { $0.value == id }.keys.sorted().compactMap { try? Reference(parsing: $0) }
    }

    /// Every tag of one repository (`docker.io/library/busybox`), with its image.
    public func tags(inRepository name: String) -> [(Reference, ImageRecord)] {
        database.tags.keys.sorted().compactMap { key in
            guard let ref = try? Reference(parsing: key), ref.name == name, let id = database.tags[key],
                  let record = database.images[id.description] else { return nil }
            return (ref, record)
        }
    }

    public func config(_ record: ImageRecord) throws -> ImageConfig {
        if let config = configs[record.id] { return config }
        let config = try decode(ImageConfig.self, record.id)
        // emptied when full rather than ordered: a few hundred configs, warmed again by use
        if configs.count >= 512 { configs.removeAll(keepingCapacity: true) }
        configs[record.id] = config
        return config
    }

    public func manifest(_ record: ImageRecord) throws -> Manifest {
        try decode(Manifest.self, record.manifest)
    }

    /// The manifest to hand out (save, push) with every layer blob present: a layer that "Already
    /// existed" when the image was pulled was never downloaded, so another image's stored copy of
    /// the same diffID stands in, and the manifest (its digest too) changes, as Docker's does.
    public func completeManifest(_ record: ImageRecord) throws -> (manifest: Manifest, bytes: [UInt8], digest: Digest) {
        var manifest = try manifest(record)
        let diffIDs = try config(record).rootfs.diffIDs
        var changed = false
        for (i, layer) in manifest.layers.enumerated() where !content.exists(layer.digest) {
            guard i < diffIDs.count, let stored = storedLayer(diffID: diffIDs[i]) else {
                throw ImageError.invalid("layer \(i < diffIDs.count ? diffIDs[i].description : layer.digest.description) of image \(record.id.shortID) has no stored blob")
            }
            manifest.layers[i] = stored
            changed = true
        }
        guard changed else { return (manifest, try content.read(record.manifest), record.manifest) }
        manifest.mediaType = MediaType.ociManifest
        let bytes = Array(try ImageImporter.canonicalJSON(manifest))
        return (manifest, bytes, try content.put(bytes).digest)
    }

    func storedLayer(diffID: Digest) -> Descriptor? {
        for record in database.images.values {
            guard let manifest = try? manifest(record), let config = try? config(record) else { continue }
            for (layer, id) in zip(manifest.layers, config.rootfs.diffIDs) where id == diffID && content.exists(layer.digest) {
                return layer
            }
        }
        return nil
    }

    func decode<T: Decodable>(_ type: T.Type, _ digest: Digest) throws -> T {
        let bytes = try content.read(digest)
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw ImageError.invalid("blob \(digest) is not a valid \(T.self): \(error)")
        }
    }

    /// The snapshot key a container of this image starts from (nil for an image with no layers).
    public func topChain(_ record: ImageRecord) throws -> String? {
        ChainID.of(try config(record).rootfs.diffIDs).last?.description
    }

    // MARK: adding

    public func lease(blobs: Set<Digest>, chains: Set<String>) -> UInt64 {
        nextLease += 1
        leases[nextLease] = (blobs, chains)
        return nextLease
    }

    public func release(lease: UInt64) { leases[lease] = nil }

    /// Records an image whose manifest, config and layer blobs are in the content store: unpacks
    /// each layer into a snapshot (verifying it against the config's diffID), then names it. The
    /// unpacking runs on the blocking pool, not on this actor, so other image operations go on
    /// meanwhile; a lease keeps the blobs and new snapshots from a concurrent prune.
    @discardableResult
    public func add(manifestDigest: Digest, tags: [Reference], repoDigests: [String] = [], parent: Digest? = nil,
                    progress: @escaping @Sendable (LayerProgress) -> Void = { _ in }) async throws -> ImageRecord {
        let manifest = try decode(Manifest.self, manifestDigest)
        if let problem = Manifest.depthProblem(layers: manifest.layers.count) { throw ImageError.invalid(problem) }
        let config = try decode(ImageConfig.self, manifest.config.digest)
        let diffIDs = config.rootfs.diffIDs
        guard diffIDs.count == manifest.layers.count else {
            throw ImageError.invalid("manifest has \(manifest.layers.count) layers but the config lists \(diffIDs.count) diff_ids")
        }
        let chains = ChainID.of(diffIDs)
        let held = lease(blobs: Set(manifest.layers.map(\.digest) + [manifest.config.digest, manifestDigest]),
                         chains: Set(chains.map(\.description)))
        defer { release(lease: held) }
        let sizes = try await Threads.run { [self] in
            try manifest.layers.indices.map { index in
                try unpack(manifest.layers[index], diffID: diffIDs[index], chain: chains[index], parent: index == 0 ? nil : chains[index - 1], progress: progress)
            }
        }
        var record = database.images[manifest.config.digest.description]
            ?? ImageRecord(id: manifest.config.digest, manifest: manifestDigest, layerSizes: sizes, added: Timestamp.now())
        record.repoDigests = Array(Set(record.repoDigests + repoDigests)).sorted()
        if record.parent == nil { record.parent = parent }
        database.images[record.id.description] = record
        for tag in tags { database.tags[tag.withDefaultTag.nameAndTag] = record.id }
        try save()
        return record
    }

    /// How far the unpacking of one layer is: bytes of its blob read, of `total`.
    public struct LayerProgress: Sendable {
        public var blob: Digest
        public var diffID: Digest
        public var current: Int64
        public var total: Int64
        public var done = false
    }

    /// Extracts one layer blob into snapshot `chain` unless it exists; returns the files' size.
    /// Progress goes out at the start, every 512 KiB read and at the end.
    nonisolated func unpack(_ layer: Descriptor, diffID: Digest, chain: Digest, parent: Digest?, progress: @escaping @Sendable (LayerProgress) -> Void) throws -> Int64 {
        if snapshotter.info(key: chain.description) != nil {
            return snapshotter.usage(key: chain.description)
        }
        let fd = try content.open(layer.digest)
        defer { close(fd) }
        let unpacker = LayerUnpacker(snapshotter: snapshotter)
        var reported: Int64 = 0
        progress(LayerProgress(blob: layer.digest, diffID: diffID, current: 0, total: layer.size))
        let (key, bytes) = try unpacker.extract(fd: fd, diffID: diffID, chain: chain, parent: parent) { read in
            guard read - reported >= 512 << 10 else { return }
            reported = read
            progress(LayerProgress(blob: layer.digest, diffID: diffID, current: min(read, layer.size), total: layer.size))
        }
        try unpacker.commit(key: key, chain: chain, parent: parent)
        progress(LayerProgress(blob: layer.digest, diffID: diffID, current: layer.size, total: layer.size, done: true))
        return bytes
    }

    // MARK: names

    /// Records where an image now lives in a registry (after a push).
    public func addRepoDigest(_ id: Digest, _ repoDigest: String) throws {
        guard var record = database.images[id.description], !record.repoDigests.contains(repoDigest) else { return }
        record.repoDigests = (record.repoDigests + [repoDigest]).sorted()
        database.images[id.description] = record
        try save()
    }

    /// `docker tag SOURCE TARGET`.
    public func tag(_ source: String, as target: String) throws {
        let record = try resolve(source)
        let reference = try Reference(parsing: target)
        guard reference.digest == nil else { throw ImageError.invalid("refusing to create a tag with a digest reference") }
        let key = reference.withDefaultTag.nameAndTag
        guard database.tags[key] != record.id else { return }  // a cached rebuild: nothing to write
        database.tags[key] = record.id
        try save()
    }

    // MARK: removal

    /// One line of `docker rmi` output.
    public enum RemoveAction: Equatable, Sendable, CustomStringConvertible {
        case untagged(String)
        case deleted(Digest)
        public var description: String {
            switch self {
            case .untagged(let r): return "Untagged: \(r)"
            case .deleted(let d): return "Deleted: \(d)"
            }
        }
    }

    /// A container using an image, as `rmi` needs to know it.
    public struct User: Sendable {
        public var containerID: String
        public var running: Bool
        public init(containerID: String, running: Bool) { self.containerID = containerID; self.running = running }
    }

    /// `docker rmi`: by name untags (deleting the image with its last name); by ID deletes. A
    /// deleted image takes along the untagged parents only it had (a build's intermediate steps),
    /// unless a container uses them (`inUse`).
    public func remove(_ text: String, force: Bool, users: [User], inUse: Set<Digest> = []) throws -> [RemoveAction] {
        let record = try resolve(text)
        let names = tags(of: record.id)
        var actions: [RemoveAction] = []
        let byName = (try? Reference(parsing: text)).map { ref in names.contains { $0.nameAndTag == ref.withDefaultTag.nameAndTag } } ?? false
        if byName, let reference = try? Reference(parsing: text).withDefaultTag {
            if names.count > 1 {
                database.tags[reference.nameAndTag] = nil
                try save()
                return [.untagged(reference.familiarString)]
            }
            if let user = users.first, !force {
                throw ImageError.conflict("conflict: unable to remove repository reference \"\(text)\" (must force) - container \(String(user.containerID.prefix(12))) is using its referenced image \(record.id.shortID)")
            }
        } else {
            if let running = users.first(where: \.running) {
                throw ImageError.conflict("conflict: unable to delete \(record.id.shortID) (cannot be forced) - image is being used by running container \(String(running.containerID.prefix(12)))")
            }
            if let stopped = users.first, !force {
                throw ImageError.conflict("conflict: unable to delete \(record.id.shortID) (must be forced) - image is being used by stopped container \(String(stopped.containerID.prefix(12)))")
            }
            if names.count > 1 && !force {
                throw ImageError.conflict("conflict: unable to delete \(record.id.shortID) (must be forced) - image is referenced in multiple repositories")
            }
        }
        for name in names {
            database.tags[name.nameAndTag] = nil
            actions.append(.untagged(name.familiarString))
        }
        for digest in record.repoDigests {
            actions.append(.untagged((try? Reference(parsing: digest))?.familiarString ?? digest))
        }
        if users.isEmpty {
            database.images[record.id.description] = nil
            actions.append(.deleted(record.id))
            var parent = record.parent
            while let p = parent, let up = database.images[p.description], tags(of: p).isEmpty, !inUse.contains(p),
                  !database.images.values.contains(where: { $0.parent == p }) {
                database.images[p.description] = nil
                actions.append(.deleted(p))
                parent = up.parent
            }
            try save()
            actions += try collect()
        } else {
            try save()  // forced while in use: the names go, the image stays for its containers
        }
        return actions
    }

    /// `docker image prune`: dangling images (no tags), or with `all` every image no container
    /// uses, of those `selects` takes (by the config's creation time and labels).
    public func prune(all: Bool, inUse: Set<Digest>,
                      selects: @Sendable (_ created: Double?, _ labels: [String: String]?) -> Bool = { _, _ in true })
        throws -> (deleted: [RemoveAction], reclaimed: Int64) {
        let tagged = Set(database.tags.values)
        let parents = Set(database.images.values.compactMap(\.parent))
        var actions: [RemoveAction] = []
        var reclaimed: Int64 = 0
        for record in database.images.values.sorted(by: { $0.id < $1.id }) where !inUse.contains(record.id) {
            // Dangling: untagged and no child (an intermediate build step is not dangling).
            guard all || (!tagged.contains(record.id) && !parents.contains(record.id)) else { continue }
            let config = try? self.config(record)
            guard selects(config?.created.flatMap(Timestamp.parse), config?.config?.labels) else { continue }
            for name in tags(of: record.id) {
                database.tags[name.nameAndTag] = nil
                actions.append(.untagged(name.familiarString))
            }
            database.images[record.id.description] = nil
            actions.append(.deleted(record.id))
        }
        guard !actions.isEmpty else { return ([], 0) }
        try save()
        let before = content.list().reduce(Int64(0)) { $0 + (content.size($1) ?? 0) }
        let sizeBefore = snapshotUsage()
        actions += try collect()
        reclaimed = before - content.list().reduce(Int64(0)) { $0 + (content.size($1) ?? 0) } + sizeBefore - snapshotUsage()
        return (actions, reclaimed)
    }

    func snapshotUsage() -> Int64 {
        snapshotter.list().filter { $0.kind == .committed }.reduce(0) { $0 + snapshotter.usage(key: $1.key) }
    }

    /// Removes layer snapshots and blobs no image refers to; returns the deleted layers.
    /// Snapshots with children (containers, other images) stay: the snapshotter refuses them.
    func collect() throws -> [RemoveAction] {
        let (keepBlobs, keepChains) = referenced()
        var deleted: [RemoveAction] = []
        var progress = true
        while progress {  // children first: each pass frees the parents of what it removed
            progress = false
            // A snapshot with children (a container's init layer on an image, another image's
            // layer) is skipped here rather than refused by `remove`, which lists every snapshot
            // to find children: asked per layer, that was quadratic (a restart with 300
            // containers read 180,000 info files, one with 1,000 took minutes).
            let all = snapshotter.list()
            let parents = Set(all.compactMap(\.parent))
            for info in all where info.kind == .committed && !keepChains.contains(info.key) && !parents.contains(info.key) {
                do {
                    try snapshotter.remove(key: info.key)
                    progress = true
                    if let digest = try? Digest(parsing: info.key) { deleted.append(.deleted(digest)) }  // a layer's key is its chain ID
                } catch {
                    Self.log.warning("removing unreferenced layer \(info.key): \(error)")
                }
            }
        }
        try content.garbageCollect(keep: keepBlobs)
        return deleted
    }

    /// The blobs and layer snapshots that images and leases (pulls, builds in flight) hold.
    func referenced() -> (blobs: Set<Digest>, chains: Set<String>) {
        var blobs = Set<Digest>()
        var chains = Set<String>()
        for lease in leases.values {
            chains.formUnion(lease.chains)
            blobs.formUnion(lease.blobs)
        }
        for record in database.images.values {
            blobs.insert(record.id)
            blobs.insert(record.manifest)
            if let manifest = try? decode(Manifest.self, record.manifest) { manifest.layers.forEach { blobs.insert($0.digest) } }
            if let config = try? config(record) { ChainID.of(config.rootfs.diffIDs).forEach { chains.insert($0.description) } }
        }
        return (blobs, chains)
    }

    /// `berth system check`'s part for images: every blob re-hashed, every image's documents and
    /// layer chain present, every tag pointing at an image. Returns the counts and the problems,
    /// and the snapshots the images hold (the container side reports any others).
    public func check() -> (blobs: Int, images: Int, chains: Set<String>, problems: [String]) {
        var problems: [String] = []
        let blobs = content.list()
        for digest in blobs where !content.verify(digest) {
            problems.append("blob \(digest): content does not match its digest")
        }
        for record in database.images.values.sorted(by: { $0.id < $1.id }) {
            let name = "image \(record.id.shortID)"
            guard let manifest = try? decode(Manifest.self, record.manifest) else {
                problems.append("\(name): manifest \(record.manifest) is missing or unreadable"); continue
            }
            guard manifest.config.digest == record.id, let config = try? config(record) else {
                problems.append("\(name): config is missing, unreadable or not the manifest's"); continue
            }
            var parent: String?
            for chain in ChainID.of(config.rootfs.diffIDs).map(\.description) {
                if let info = snapshotter.info(key: chain) {
                    if info.kind != .committed || info.parent != parent { problems.append("\(name): layer \(chain) is not committed on \(parent ?? "nothing")") }
                } else {
                    problems.append("\(name): layer \(chain) is missing")
                }
                parent = chain
            }
        }
        for (tag, id) in database.tags.sorted(by: { $0.key < $1.key }) where database.images[id.description] == nil {
            problems.append("tag \(tag): image \(id.shortID) does not exist")
        }
        return (blobs.count, database.images.count, referenced().chains, problems)
    }

    /// Start-up check: drops records whose blobs are gone, then clears unreferenced data and
    /// half-unpacked layers a crash left. Returns what it repaired, for the daemon's log.
    public func repair() throws -> [String] {
        var notes: [String] = []
        for record in database.images.values {
            let intact = content.exists(record.id) && content.exists(record.manifest)
            if !intact {
                database.images[record.id.description] = nil
                notes.append("dropped image \(record.id.shortID): its manifest or config blob is missing")
            }
        }
        let known = Set(database.images.keys)
        for (name, id) in database.tags where !known.contains(id.description) {
            database.tags[name] = nil
            notes.append("dropped tag \(name): its image is gone")
        }
        if !notes.isEmpty { try save() }
        for info in snapshotter.list() where info.kind == .active && info.key.hasPrefix(LayerUnpacker.stagingPrefix) {
            do {
                try snapshotter.remove(key: info.key)
                notes.append("removed interrupted unpack \(info.key)")
            } catch {
                notes.append("could not remove interrupted unpack \(info.key): \(error)")
            }
        }
        let removed = try collect()
        if !removed.isEmpty { notes.append("removed \(removed.count) unreferenced layers") }
        return notes
    }
}

extension Reference {
    /// `docker.io/library/busybox:latest`: the key tags are stored under.
    public var nameAndTag: String { name + ":" + (tag ?? "latest") }
}
