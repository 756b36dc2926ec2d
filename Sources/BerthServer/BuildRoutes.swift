import BerthAPI
import BerthArchive
import BerthEngine
import BerthImage
import BerthOCI
import BerthRegistry
import BerthSystem
import FoundationEssentials
import Glibc
import Logging
import NIOHTTP1

/// `POST /build` (the classic builder the docker CLI uses without BuildKit) and `/build/prune`.
struct BuildRoutes {
    let containers: ContainerService
    let registry: RegistryRoutes
    let cache: BuildCache
    let spool: String

    var table: [(HTTPMethod, String, Router.Handler)] {
        let routes = self
        return [
            (.POST, "/build", { req, _, r in try await routes.build(req, r) }),
            (.POST, "/build/prune", { req, _, r in try await routes.prune(req, r) }),
        ]
    }
}

extension BuildRoutes {
    /// BuildKit's prune over Berth's build cache: the cache mounts (`system df`'s records) by
    /// BuildKit's filters (`until`/`unused-for` on last use, `id`, `type`, `description`,
    /// `inuse`, `shared`, `private`; a `label` matches nothing, as no record has labels) and
    /// `keep-storage` (API 1.48's `reserved-space` too); the cached steps go with an unfiltered,
    /// unbounded prune, their images too unless tagged or used by a container.
    func prune(_ req: APIRequest, _ r: Responder) async throws {
        let given = try ContainerService.parseFilters(req.query("filters"))
        var renamed = given
        if let unused = renamed.removeValue(forKey: "unused-for") { renamed["until"] = (renamed["until"] ?? []) + unused }
        let filters = renamed
        let prune = try PruneFilters(filters, accepted: ["until", "id", "type", "description", "inuse", "shared", "private", "parent", "label", "label!"])
        let keep = Int64(req.query("keep-storage") ?? req.query("reserved-space") ?? "") ?? 0
        let (ids, reclaimed) = await cache.pruneMounts(keepBytes: keep) { record in
            @Sendable func flag(_ key: String) -> Bool? { filters[key].map { $0.contains { $0 == "true" || $0 == "1" || $0.isEmpty } } }
            if let until = prune.until, let used = Timestamp.parse(record.LastUsedAt ?? record.CreatedAt), used > until { return false }
            if let id = filters["id"], !id.contains(where: { record.ID.hasPrefix($0) }) { return false }
            if let type = filters["type"], !type.contains(record.Type) { return false }
            if let text = filters["description"], !text.contains(where: { record.Description.contains($0) }) { return false }
            if let inUse = flag("inuse"), inUse != record.InUse { return false }
            if let shared = flag("shared"), shared != record.Shared { return false }
            if let isPrivate = flag("private"), isPrivate == record.Shared { return false }
            if filters["parent"] != nil { return false }  // cache mounts have no parent
            return prune.selects(created: nil, labels: nil)
        }
        var deleted = ids
        if given.isEmpty && keep == 0 {
            let store = containers.images
            for id in await cache.clear() {
                guard let digest = try? Digest(parsing: id), await store.tags(of: digest).isEmpty else { continue }
                let users = containers.users(ofImage: id)
                guard users.isEmpty else { continue }
                do {
                    _ = try await store.remove(id, force: false, users: users)
                    deleted.append(id)
                } catch {
                    Router.log.warning("builder prune: removing cached image \(id): \(error)")
                }
            }
        }
        struct Report: Encodable { let CachesDeleted: [String]; let SpaceReclaimed: Int64 }
        r.json(Report(CachesDeleted: deleted, SpaceReclaimed: reclaimed))
    }
}

extension BuildOptions {
    /// The build's parameters from its query string (what the client sent, nothing else).
    public init(request req: APIRequest) throws {
        var options = BuildOptions()
        options.dockerfile = req.query("dockerfile").flatMap { $0.isEmpty ? nil : $0 } ?? "Dockerfile"
        options.tags = try (req.query["t"] ?? []).filter { !$0.isEmpty }.map { try Reference(parsing: $0).withDefaultTag }
        if let args = req.query("buildargs"), !args.isEmpty {
            let parsed = try WireDecoder.decode([String: String?].self, from: Array(args.utf8))
            // null means "declared, no value": the Dockerfile's default applies. The client resolves
            // values from its own environment; berthd's environment is never handed out.
            for (k, v) in parsed { if let v { options.buildArgs[k] = v } }
        }
        if let labels = req.query("labels"), !labels.isEmpty { options.labels = try WireDecoder.decode([String: String].self, from: Array(labels.utf8)) }
        options.target = req.query("target").flatMap { $0.isEmpty ? nil : $0 }
        options.noCache = req.flag("nocache")
        options.pull = req.flag("pull")
        options.quiet = req.flag("q")
        options.remove = req.query("rm").map { $0 != "0" && $0 != "false" } ?? true
        options.forceRemove = req.flag("forcerm")
        options.networkMode = req.query("networkmode").flatMap { $0.isEmpty ? nil : $0 }
        options.extraHosts = (req.query["extrahosts"] ?? []).flatMap { $0.split(separator: ",").map(String.init) }
        if let from = req.query("cachefrom"), !from.isEmpty { options.cacheFrom = try WireDecoder.decode([String].self, from: Array(from.utf8)) }
        // Berth's own (the classic endpoint has no such parameter; buildx hands it to BuildKit)
        if let stages = req.query("nocachefilter"), !stages.isEmpty {
            options.noCacheStages = Set(try WireDecoder.decode([String].self, from: Array(stages.utf8)))
        }
        if let platform = req.query("platform"), !platform.isEmpty { options.platform = try Platform(parsing: platform) }
        // `berth build --secret` and `--ssh` (the docker CLI sends these only to BuildKit's session)
        for (id, value) in try HeaderJSON.decode([String: String].self, req, BuildHeaders.secrets) ?? [:] {
            guard let bytes = Data(base64Encoded: value) else { throw EngineError.invalid("\(BuildHeaders.secrets): secret \(id) is not base64") }
            options.secrets[id] = Array(bytes)
        }
        options.sshAgents = try HeaderJSON.decode([String: String].self, req, BuildHeaders.ssh) ?? [:]
        options.stepHost = try Self.stepHost(req)
        self = options
    }
}

extension BuildOptions {
    /// The step containers' limits, read as moby reads them: a number that does not parse is 0
    /// (unset), except `shmsize`, which is refused; `ulimits` is JSON.
    static func stepHost(_ req: APIRequest) throws -> HostConfig {
        var host = HostConfig()
        func number(_ name: String) -> Int64? { req.query(name).flatMap { Int64($0) }.flatMap { $0 == 0 ? nil : $0 } }
        func text(_ name: String) -> String? { req.query(name).flatMap { $0.isEmpty ? nil : $0 } }
        host.Memory = number("memory")
        host.MemorySwap = number("memswap")
        host.CpuShares = number("cpushares")
        host.CpuPeriod = number("cpuperiod")
        host.CpuQuota = number("cpuquota")
        host.CpusetCpus = text("cpusetcpus")
        host.CpusetMems = text("cpusetmems")
        host.CgroupParent = text("cgroupparent")
        if let size = text("shmsize") {
            guard let bytes = Int64(size) else { throw EngineError.invalid("strconv.ParseInt: parsing \"\(size)\": invalid syntax") }
            host.ShmSize = bytes == 0 ? nil : bytes
        }
        // the docker CLI sends `null` for none
        if let limits = text("ulimits") { host.Ulimits = try WireDecoder.decode([Ulimit]?.self, from: Array(limits.utf8)) }
        let security = (req.query["securityopt"] ?? []).filter { !$0.isEmpty }
        host.SecurityOpt = security.isEmpty ? nil : security
        if let isolation = text("isolation"), isolation != "default" { throw EngineError.invalid("Unsupported isolation: \"\(isolation)\"") }
        // moby without experimental features (there are none here)
        if req.flag("squash") { throw EngineError.invalid("squash is only supported with experimental mode") }
        return host
    }
}

extension BuildRoutes {
    func build(_ req: APIRequest, _ r: Responder) async throws {
        let options = try BuildOptions(request: req)
        // The context: the uploaded tar (plain or compressed), unpacked confined to a spool directory.
        let dir = try FileIO.makeTemporaryDirectory(in: spool, prefix: "build-")
        do { try await build(req, options, context: dir, r) } catch {
            await Self.removeContext(dir)
            throw error
        }
        await Self.removeContext(dir)
    }

    /// Removed after the response is out, on the blocking pool (a context may be large).
    static func removeContext(_ dir: String) async {
        do { try await Threads.run { try FileIO.removeTree(dir) } } catch {
            Logger(label: "berth.build").warning("removing build context \(dir): \(error)")
        }
    }

    private func build(_ req: APIRequest, _ options: BuildOptions, context dir: String, _ r: Responder) async throws {
        if let file = req.bodyFile {
            // file system work: on the blocking pool, never the cooperative one
            try await Threads.run {
                defer { UploadSpool.remove(file) }
                let fd = try sys("open", file) { open(file, O_RDONLY | O_CLOEXEC) }
                defer { close(fd) }
                var st = stat()
                fstat(fd, &st)
                if st.st_size > 0 {
                    do { try LayerExtractor(root: dir, whiteouts: .none).extract(try TarReader(fd: fd)) } catch {
                        throw EngineError.invalid("the build context is not a valid tar archive: \(error)")
                    }
                }
            }
        }
        let registry = registry
        let builder = ImageBuilder(containers: containers, context: dir, options: options, cache: cache,
                                   emit: { message in r.post(message) },
                                   pull: { name in try await registry.pullForBuild(name) { r.post($0) } },
                                   fetch: { url, path in try await Threads.run { try Self.download(url, to: path) } })
        let dockerfile = try builder.prepare()
        r.beginStream(contentType: "application/json")
        do {
            let image = try await builder.build(dockerfile)
            for tag in options.tags { containers.events.publish("image", "tag", id: image.id.description, attributes: ["name": tag.familiarString]) }
        } catch let error as BuildError {
            r.post(ProgressMessage.failure(error.message, code: error.code))
        } catch {
            r.post(ProgressMessage.failure(Responder.describe(error).1))
        }
        r.end()
    }

    /// `ADD <url>`: a GET (following up to 10 redirects) streamed into `path`.
    static func download(_ text: String, to path: String) throws {
        var url = try HTTPURL(parsing: text)
        let client = HTTPClient(timeout: 30)
        for _ in 0..<10 {
            let response = try client.send(HTTPRequest("GET", url))
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.header("Location") {
                response.discard()
                url = try url.resolving(location)
                continue
            }
            guard response.status == 200 else {
                response.discard()
                throw EngineError.invalid("GET \(text): HTTP status \(response.status)")
            }
            let fd = try sys("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
            defer { close(fd) }
            try response.read { try FileIO.writeAll(fd, $0, path: path) }
            return
        }
        throw EngineError.invalid("GET \(text): stopped after 10 redirects")
    }
}
