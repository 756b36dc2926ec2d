import BerthAPI
import BerthEngine
import BerthImage
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc
import NIOHTTP1

/// /images/…
struct ImageRoutes {
    let store: ImageStore
    let containers: ContainerService
    let spool: String
    let registry: RegistryRoutes

    var table: [(HTTPMethod, String, Router.Handler)] {
        let store = self.store, containers = self.containers, registry = self.registry
        let events = containers.events
        return [
            (.GET, "/images/json", { req, _, r in
                r.json(try await ImageAPI.list(store, all: req.flag("all"), filters: try ContainerService.parseFilters(req.query("filters")),
                                               containersUsing: nil))
            }),
            (.POST, "/images/load", { req, _, r in
                guard let file = req.bodyFile else { throw EngineError.invalid("no image archive in the request body") }
                defer { UploadSpool.remove(file) }
                let fd = try sys("open", file) { open(file, O_RDONLY | O_CLOEXEC) }
                defer { close(fd) }
                r.beginStream(contentType: "application/json")
                // moby's bars: each new layer as its blob is read (the docker CLI asks for them only on a terminal)
                let quiet = req.flag("quiet")
                do {
                    let loaded = try await ImageLoader(store: store).load(fd: fd) { step in
                        guard !quiet else { return }
                        r.post(ProgressMessage.layer(step.diffID.shortID, "Loading layer", current: step.current, total: step.total))
                    }
                    for line in loaded {
                        events.publish("image", "load", id: line.description)
                        try await r.writeJSONLine(ProgressMessage(stream: line.description + "\n"))
                    }
                } catch {
                    let message = Responder.describe(error).1
                    try await r.writeJSONLine(ProgressMessage.failure(message))
                }
                r.end()
            }),
            (.GET, "/images/get", { req, _, r in try await save(req.query["names"] ?? [], r) }),
            (.POST, "/images/create", { req, _, r in
                guard req.query("fromSrc") != nil else { return try await registry.pull(req, r) }
                guard let file = req.bodyFile else { throw EngineError.invalid("import from a URL is not supported; pipe the tar in (-)") }
                defer { UploadSpool.remove(file) }
                var reference: Reference?
                if let repo = req.query("repo"), !repo.isEmpty {
                    var ref = try Reference(parsing: repo)
                    if let tag = req.query("tag"), !tag.isEmpty { ref.tag = tag }
                    reference = ref
                }
                let fd = try sys("open", file) { open(file, O_RDONLY | O_CLOEXEC) }
                defer { close(fd) }
                let record = try await ImageImporter(store: store).importTar(fd: fd, source: "-", reference: reference,
                                                                            changes: req.query["changes"] ?? [], message: req.query("message"))
                events.publish("image", "import", id: record.id.description, attributes: ["name": reference?.familiarString ?? ""])
                r.beginStream(contentType: "application/json")
                try await r.writeJSONLine(ProgressMessage(status: record.id.description))
                r.end()
            }),
            (.POST, "/images/prune", { req, _, r in
                let filters = try ContainerService.parseFilters(req.query("filters"))
                var all = false
                if let dangling = filters["dangling"] {  // moby's: only true/1 or false/0
                    all = dangling.contains { $0 == "false" || $0 == "0" }
                    guard all || dangling.contains(where: { $0 == "true" || $0 == "1" }) else {
                        throw EngineError.invalid("Invalid filter 'dangling=[\(dangling.joined(separator: " "))]'")
                    }
                }
                let prune = try PruneFilters(filters, accepted: ["dangling", "until", "label", "label!"])
                let (actions, reclaimed) = try await store.prune(all: all, inUse: containers.imagesInUse()) {
                    prune.selects(created: $0, labels: $1)
                }
                r.json(PruneReport(ImagesDeleted: actions.map(Self.item), SpaceReclaimed: reclaimed))
            }),
            (.GET, "/images/{name...}/json", { req, p, r in
                try await ImageAPI.requirePlatform(store, p[0], req.query("platform"))
                r.json(try await ImageAPI.inspect(store, p[0]))
            }),
            (.GET, "/images/{name...}/history", { req, p, r in
                try await ImageAPI.requirePlatform(store, p[0], req.query("platform"))
                r.json(try await ImageAPI.history(store, p[0]))
            }),
            (.GET, "/images/{name...}/get", { _, p, r in try await save([p[0]], r) }),
            (.POST, "/images/{name...}/tag", { req, p, r in
                guard let repo = req.query("repo"), !repo.isEmpty else { throw EngineError.invalid("repository name must have at least one component") }
                let tag = req.query("tag").flatMap { $0.isEmpty ? nil : $0 }
                let target = tag.map { repo + ":" + $0 } ?? repo
                try await store.tag(p[0], as: target)
                events.publish("image", "tag", id: try await store.resolve(target).id.description, attributes: ["name": target])
                r.status(.created)
            }),
            (.DELETE, "/images/{name...}", { req, p, r in
                // API 1.50 names the platforms to delete (`platforms`, each an OCI platform in JSON)
                for platform in req.query["platforms"] ?? [] { try await ImageAPI.requirePlatform(store, p[0], platform) }
                let users = containers.users(ofImage: try await store.resolve(p[0]).id.description)
                let actions = try await store.remove(p[0], force: req.flag("force"), users: users, inUse: containers.imagesInUse())
                for action in actions {
                    switch action {
                    case .untagged(let name): events.publish("image", "untag", id: name, attributes: ["name": name])
                    case .deleted(let digest): events.publish("image", "delete", id: digest.description)
                    }
                }
                r.json(actions.map(Self.item))
            }),
        ]
    }

    static func item(_ action: ImageStore.RemoveAction) -> ImageDeleteItem {
        switch action {
        case .untagged(let ref): return ImageDeleteItem(Untagged: ref)
        case .deleted(let digest): return ImageDeleteItem(Deleted: digest.description)
        }
    }

    /// `docker save`: written to a spool file first (the saver is synchronous), then streamed.
    func save(_ names: [String], _ r: Responder) async throws {
        guard !names.isEmpty else { throw EngineError.invalid("no images named") }
        let store = self.store
        try await FileStreamer.spooled(r, in: spool, contentType: "application/x-tar") { fd in try await ImageSaver(store: store).save(names, to: fd) }
    }
}
