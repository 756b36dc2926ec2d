import BerthAPI
import BerthEngine
import BerthOCI
import BerthShimProtocol
import BerthStreams
import BerthSystem
import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1

/// /containers/… and /exec/…
struct ContainerRoutes {
    let service: ContainerService
    let spool: String

    var table: [(HTTPMethod, String, Router.Handler)] {
        let s = service, spool = self.spool
        return [
            (.POST, "/containers/create", { req, _, r in
                let config = try req.decodeBody(ContainerConfig.self)
                let extras = try req.decodeBody(ContainerCreateExtras.self)
                r.json(try await s.create(name: req.query("name"), config: config, host: extras.HostConfig ?? HostConfig(),
                                          networking: extras.NetworkingConfig), status: .created)
            }),
            (.GET, "/containers/json", { req, _, r in
                r.json(try await s.list(all: req.flag("all"), limit: req.int("limit"), filters: try ContainerService.parseFilters(req.query("filters")),
                                       size: req.flag("size")))
            }),
            (.POST, "/containers/prune", { req, _, r in r.json(try await s.prune(filters: try ContainerService.parseFilters(req.query("filters")))) }),
            (.GET, "/containers/{id}/json", { req, p, r in
                var inspect = try await s.inspect(p[0], size: req.flag("size"))
                if req.versionPrecedes("1.45") { inspect.addAliasesBefore145() }
                r.json(inspect)
            }),
            (.POST, "/containers/{id}/start", { _, p, r in try await s.start(p[0]); r.status(.noContent) }),
            (.POST, "/containers/{id}/stop", { req, p, r in
                try await s.stop(p[0], timeout: req.int("t"), signal: req.query("signal")); r.status(.noContent)
            }),
            (.POST, "/containers/{id}/restart", { req, p, r in
                try await s.restart(p[0], timeout: req.int("t"), signal: req.query("signal")); r.status(.noContent)
            }),
            (.POST, "/containers/{id}/kill", { req, p, r in try await s.kill(p[0], signal: req.query("signal")); r.status(.noContent) }),
            (.POST, "/containers/{id}/pause", { _, p, r in try await s.pause(p[0]); r.status(.noContent) }),
            (.POST, "/containers/{id}/unpause", { _, p, r in try await s.unpause(p[0]); r.status(.noContent) }),
            (.POST, "/containers/{id}/rename", { req, p, r in try await s.rename(p[0], to: req.query("name") ?? ""); r.status(.noContent) }),
            (.POST, "/containers/{id}/resize", { req, p, r in
                try await s.resize(p[0], height: req.dimension("h"), width: req.dimension("w")); r.status(.ok)
            }),
            (.GET, "/containers/{id}/top", { _, p, r in r.json(try await s.top(p[0])) }),
            (.DELETE, "/containers/{id}", { req, p, r in try await s.remove(p[0], force: req.flag("force"), volumes: req.flag("v")); r.status(.noContent) }),
            // `/containers/{parent}/{alias}?link=1`: a legacy link's name is a path under its parent
            (.DELETE, "/containers/{id}/{alias}", { req, p, r in
                guard req.flag("link") else { throw EngineError.notFound("page not found") }
                try s.removeLink(parent: p[0], alias: p[1])
                r.status(.noContent)
            }),
            (.POST, "/containers/{id}/wait", { req, p, r in
                _ = try s.inspect(p[0])  // 404 before the 200 head goes out
                r.beginStream(contentType: "application/json")
                let result = try await s.wait(p[0], condition: req.query("condition"))
                try await r.writeJSONLine(result)
                r.end()
            }),
            (.GET, "/containers/{id}/logs", { req, p, r in try await LogStreamer(service: s).stream(req, p[0], r) }),
            (.POST, "/containers/{id}/attach", { req, p, r in try await attach(req, p[0], r) }),
            (.GET, "/containers/{id}/export", { _, p, r in
                try await FileStreamer.spooled(r, in: spool, contentType: "application/x-tar") { fd in try await s.export(p[0], to: fd) }
            }),
            (.GET, "/containers/{id}/stats", { req, p, r in
                let stream = req.flag("stream", default: true)
                var sample = try s.stats(p[0], previous: nil)
                if !stream && req.flag("one-shot") { return r.json(sample) }
                r.beginStream(contentType: "application/json")
                if stream { try await r.writeJSONLine(sample) }
                repeat {
                    try await Task.sleep(nanoseconds: 1_000_000_000)
                    guard r.isActive, let next = try? s.stats(p[0], previous: sample) else { break }
                    sample = next
                    try await r.writeJSONLine(sample)
                } while stream
                r.end()
            }),
            (.POST, "/containers/{id}/update", { req, p, r in
                struct Reply: Encodable { let Warnings: [String] }
                r.json(Reply(Warnings: try await s.update(p[0], try req.decodeBody(HostConfig.self))))
            }),
            (.GET, "/containers/{id}/changes", { _, p, r in r.json(try await s.changes(p[0])) }),
            (.GET, "/containers/{id}/archive", { req, p, r in
                guard let path = req.query("path"), !path.isEmpty else { throw EngineError.invalid("path is required") }
                if req.method == .HEAD {
                    r.extraHeaders.append(Self.statHeader(try await s.statPath(p[0], path: path)))
                    return r.status(.ok)
                }
                try await FileStreamer.spooled(r, in: spool, contentType: "application/x-tar") { fd in
                    r.extraHeaders.append(Self.statHeader(try await s.archive(p[0], path: path, to: fd)))
                }
            }),
            (.PUT, "/containers/{id}/archive", { req, p, r in
                guard let path = req.query("path"), !path.isEmpty else { throw EngineError.invalid("path is required") }
                guard let file = req.bodyFile else { throw EngineError.invalid("no tar in the request body") }
                defer { UploadSpool.remove(file) }
                let fd = try sys("open", file) { open(file, O_RDONLY | O_CLOEXEC) }
                defer { close(fd) }
                try await s.extract(p[0], path: path, from: fd, noOverwriteDirNonDir: req.flag("noOverwriteDirNonDir"))
                r.status(.ok)
            }),
            (.POST, "/commit", { req, _, r in
                guard let container = req.query("container") else { throw EngineError.invalid("container is required") }
                var options = ContainerService.CommitOptions()
                if let repo = req.query("repo"), !repo.isEmpty {
                    var ref = try Reference(parsing: repo)
                    if let tag = req.query("tag"), !tag.isEmpty { ref.tag = tag }
                    options.reference = ref
                }
                options.comment = req.query("comment")
                options.author = req.query("author")
                options.changes = req.query["changes"] ?? []
                options.pause = req.flag("pause", default: true)
                if !req.body.isEmpty { options.config = try req.decodeBody(ContainerConfig.self) }
                r.json(IDResponse(Id: try await s.commit(container, options)), status: .created)
            }),
            (.POST, "/containers/{id}/exec", { req, p, r in
                r.json(try s.createExec(p[0], try req.decodeBody(ExecConfig.self)), status: .created)
            }),
            (.POST, "/exec/{id}/start", { req, p, r in try await execStart(req, p[0], r) }),
            (.POST, "/exec/{id}/resize", { req, p, r in
                try await s.resizeExec(p[0], height: req.dimension("h"), width: req.dimension("w")); r.status(.ok)
            }),
            (.GET, "/exec/{id}/json", { _, p, r in r.json(try s.inspectExec(p[0])) }),
        ]
    }

    static func statHeader(_ stat: PathStat) -> (String, String) {
        ("X-Docker-Container-Path-Stat", ((try? JSONEncoder().encode(stat)) ?? Data()).base64EncodedString())
    }

    static func contentType(tty: Bool) -> String {
        tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream"
    }

    func attach(_ req: APIRequest, _ ref: String, _ r: Responder) async throws {
        // dockerd attaches to a stopped container too (the stream carries its next run, or ends
        // when it is removed); refusing that is the docker CLI's own check, not the daemon's.
        let inspect = try service.inspect(ref)
        if inspect.State.Paused { throw EngineError.conflict("You cannot attach to a paused container, unpause it first") }
        let tty = inspect.Config.Tty == true
        let parsed: DetachKeys
        do { parsed = try DetachKeys(parsing: req.query("detachKeys")) } catch { throw EngineError.invalid(error.description) }
        let keys: DetachKeys? = req.flag("stdin") && tty ? parsed : nil
        let bridge = ShimBridge(framing: tty ? .raw : .multiplexed, detachKeys: keys, onExit: nil)
        bridge.takesInput(from: r.channel)
        let loop = r.channel.eventLoop
        let wants = (stdin: req.flag("stdin"), stdout: req.flag("stdout") || req.query("stdout") == nil,
                     stderr: req.flag("stderr") || req.query("stderr") == nil)
        var replay: LogReplay?
        if req.flag("logs"), inspect.HostConfig.LogConfig?.Type != "none" {
            replay = LogReplay(try await service.logSource(ref), stdout: wants.stdout, stderr: wants.stderr)
        }
        guard req.flag("stream", default: true) else {
            let channel = try await r.hijack(contentType: Self.contentType(tty: tty)) { _ in }
            if let replay { await Self.replay(replay, to: channel, tty: tty) }
            bridge.attachClient(channel)
            return bridge.shimClosed()
        }
        // Registered before the 101 goes out: a client may start the container the moment it sees it.
        _ = try await service.attach(ref, .init(stdin: wants.stdin, stdout: wants.stdout, stderr: wants.stderr) { result in
            switch result {
            case .success(let fd): bridge.connectShim(fd: fd, on: loop)
            case .failure: bridge.shimClosed()
            }
        })
        let channel = try await r.hijack(contentType: Self.contentType(tty: tty)) { bridge.fromClient($0) }
        // the live output waits in the bridge meanwhile (past its bound, the shim holds it back)
        if let replay, !(await Self.replay(replay, to: channel, tty: tty)) { return channel.close(promise: nil) }
        bridge.attachClient(channel, holdOutput: replay == nil && ShimBridge.readsHeadBuffered(userAgent: req.headers["User-Agent"].first))
    }

    /// A `logs=1` replay goes out after the head start every client gets for output that is
    /// ready at once (see `ShimBridge.headStart`).
    @discardableResult
    static func replay(_ replay: LogReplay, to channel: Channel, tty: Bool) async -> Bool {
        try? await Task.sleep(nanoseconds: UInt64(ShimBridge.headStart.nanoseconds))
        return await replay.write(to: channel, tty: tty)
    }

    func execStart(_ req: APIRequest, _ execID: String, _ r: Responder) async throws {
        let start = try req.decodeBody(ExecStartConfig.self)
        let launch = try service.prepareExecStart(execID)
        let raw = start.Tty == true  // moby frames the stream unless the start asks for a tty
        let service = self.service
        let bridge = ShimBridge(framing: raw ? .raw : .multiplexed, detachKeys: launch.detachKeys) { status in
            service.execExited(execID, code: status.exitCode)
        }
        bridge.takesInput(from: r.channel)
        // As moby: the response head goes out before the process starts. For a client that reads
        // the head through a buffer (docker-py), the bridge holds the first output back a little.
        var client: Channel?
        if start.Detach != true {
            let channel = try await r.hijack(contentType: Self.contentType(tty: raw)) { bridge.fromClient($0) }
            bridge.attachClient(channel, holdOutput: ShimBridge.readsHeadBuffered(userAgent: req.headers["User-Agent"].first))
            client = channel
        }
        let fd: Int32
        do {
            let (stream, pid) = try await launch.task.exec(launch.request)
            fd = stream
            service.execStarted(execID, pid: pid)
        } catch {
            let message = "OCI runtime exec failed: \(error): unknown"
            service.execExited(execID, code: ContainerService.startFailureCode(message))
            guard client != nil else { throw EngineError.invalid(message) }
            // after the hijack the error can only travel in the stream, as moby writes it
            bridge.toClient(Frame.stdout, Array((message + "\r\n").utf8))
            return bridge.shimClosed()
        }
        if let client { return bridge.connectShim(fd: fd, on: client.eventLoop) }
        // Nobody listens: the shim's stream is drained so the exit code is still recorded.
        bridge.connectShim(fd: fd, on: r.channel.eventLoop)
        r.status(.ok)
    }
}
