import BerthAPI
import BerthArchive
import BerthBuild
import BerthContent
import BerthDiagnostics
import BerthImage
import BerthOCI
import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc
import Logging

/// `POST /build`'s options, as the query names them.
public struct BuildOptions: Sendable {
    public var dockerfile = "Dockerfile"
    public var tags: [Reference] = []
    public var buildArgs: [String: String] = [:]
    public var target: String?
    public var noCache = false
    /// `--no-cache-filter` (BuildKit's): the stages, by name, whose steps never come from the cache.
    public var noCacheStages: Set<String> = []
    public var pull = false
    public var labels: [String: String] = [:]
    public var quiet = false
    public var remove = true
    public var forceRemove = false
    /// `--network` for RUN steps (`default`, `bridge`, `none`, `host` or a network's name).
    public var networkMode: String?
    /// `--add-host host:ip` for RUN steps.
    public var extraHosts: [String] = []
    /// `--cache-from`: when given, a cached step counts only if its image is one of these
    /// images or an ancestor of one (moby's imageCache); names that resolve to nothing add none.
    public var cacheFrom: [String]?
    /// `berth build --secret`: each secret's value by id, held in memory and written only to a
    /// step's tmpfs (never to a layer, the image's config or history, or a cache key).
    public var secrets: [String: [UInt8]] = [:]
    /// `berth build --ssh`: by id, the socket of an agent on this machine.
    public var sshAgents: [String: String] = [:]
    /// `--platform`; this machine's when nil (the only one berthd builds for).
    public var platform: Platform?
    /// What every step's container starts from: `--memory`, `--memory-swap`, `--cpu-*`,
    /// `--cpuset-*`, `--shm-size`, `--ulimit`, `--cgroup-parent` and `--security-opt`, as moby's
    /// classic builder gives them to each container it makes.
    public var stepHost = HostConfig()
    public init() {}
}

/// A failed build: Docker's message, and the failing RUN's exit code.
public struct BuildError: Error, CustomStringConvertible {
    public var message: String
    public var code: Int?
    public var description: String { message }
}

/// The classic builder: each step runs (or creates) a container on the previous step's image and
/// commits it, or commits a config change; a step whose key is cached reuses its image.
/// Independent stages build at once (`build`).
public final class ImageBuilder: @unchecked Sendable {
    let containers: ContainerService
    let images: ImageStore
    let cache: BuildCache
    let context: String
    let ignore: IgnoreRules
    let options: BuildOptions
    let emit: @Sendable (ProgressMessage) async -> Void
    let pull: @Sendable (String) async throws -> Void
    /// Downloads `ADD <url>` sources into a file (the server's HTTP client).
    let fetch: @Sendable (String, String) async throws -> Void
    var lexer = ShellLexer()
    /// The build args a stage's ARG took (stages run at once: behind a lock).
    let usedArgs = Locked(Set<String>())

    struct Stage {
        var name: String?
        var image: ImageRecord?
        var config = ImageConfig.ContainerConfig()
        var args: [String: String] = [:]
        /// Whether this stage set CMD itself (a later ENTRYPOINT then keeps it).
        var setCmd = false
    }

    public init(containers: ContainerService, context: String, options: BuildOptions, cache: BuildCache,
                emit: @escaping @Sendable (ProgressMessage) async -> Void, pull: @escaping @Sendable (String) async throws -> Void,
                fetch: @escaping @Sendable (String, String) async throws -> Void) {
        self.containers = containers
        self.images = containers.images
        self.cache = cache
        self.context = context
        self.options = options
        self.emit = emit
        self.pull = pull
        self.fetch = fetch
        ignore = IgnoreRules((try? FileIO.readString(context + "/.dockerignore")) ?? "")
    }

    func say(_ text: String) async {
        if !options.quiet { await emit(ProgressMessage(stream: text)) }
    }

    static func short(_ id: Digest) -> String { String(id.hex.prefix(12)) }

    static let log = Logger(label: "berth.build")

    /// Removes a step's container; one left behind carries the build label and is removed at the
    /// daemon's next start.
    func discard(_ container: String) async {
        await Self.log.attempt("removing build container \(container)") { try await containers.remove(container, force: true) }
    }

    /// Reads and parses the Dockerfile, before any output: its errors are the request's
    /// (an HTTP error status, as moby answers them). The Dockerfile and `.dockerignore` then
    /// leave the context when `.dockerignore` names them (moby's `removeDockerfile`), so an
    /// out-of-context Dockerfile that a client put in the context is not copied by `COPY .`.
    public func prepare() throws -> Dockerfile {
        let root = try RootedPath(root: context)
        var path = options.dockerfile
        if path == "Dockerfile", (try? root.open(path, flags: O_PATH)).map({ close($0) }) == nil { path = "dockerfile" }
        let text: String
        do {
            let fd = try root.open(path, flags: O_RDONLY)
            defer { close(fd) }
            text = String(decoding: try FileIO.readAll(fd), as: UTF8.self)
        } catch {
            throw EngineError.invalid("Cannot locate specified Dockerfile: \(options.dockerfile)")
        }
        let name = path.split(separator: "/").last.map(String.init) ?? "Dockerfile"
        let dockerfile: Dockerfile
        do { dockerfile = try Dockerfile(parsing: text, name: name) } catch { throw EngineError.invalid("dockerfile parse error on \(error)") }
        if FileIO.exists(context + "/.dockerignore") {
            for file in [".dockerignore", path] where ignore.excludes(file) {
                let clean = file.split(separator: "/").joined(separator: "/")
                if unlink(context + "/" + clean) != 0 && errno != ENOENT { throw SystemError("unlink", context + "/" + clean) }
            }
        }
        return dockerfile
    }

    /// Builds the prepared Dockerfile; returns the image, tagged. The stages the target needs run
    /// at once wherever they do not depend on each other (BuildKit's order): a stage starts when
    /// the stages it names are built; its steps keep their numbers (`Step N/M`), so the stream
    /// interleaves but each line says which step it is. A failed stage fails those waiting for it,
    /// and the others stop before their next step.
    public func build(_ dockerfile: Dockerfile) async throws -> ImageRecord {
        lexer = ShellLexer(escape: dockerfile.escape)
        let instructions = dockerfile.instructions
        let platform = try Self.targetPlatform(options.platform)
        let plan = try Self.plan(instructions, target: options.target, lexer: lexer, buildArgs: options.buildArgs, platform: platform)
        let total = plan.stages.filter(plan.needed.contains).map { plan.range($0, of: instructions).count }.reduce(0, +) + (plan.starts.first ?? 0)
        var numbers: [Int: Int] = [:]  // instruction index → its step number
        for i in instructions.indices where i < (plan.starts.first ?? 0) || plan.needed.contains(plan.stage(of: i)) { numbers[i] = numbers.count + 1 }
        // the global ARGs, before any FROM
        var meta = Self.platformArgs(platform)
        for (i, ins) in instructions.enumerated() where i < (plan.starts.first ?? instructions.count) {
            await say("Step \(numbers[i] ?? 0)/\(total) : \(ins.original)\n")
            guard ins.keyword == "ARG" else { throw BuildError(message: "no build stage in current context") }
            do {
                for (k, v) in try lexer.pairs(ins.text, [:], legacy: false) { meta[k] = options.buildArgs[k] ?? v ?? "" }
            } catch let e as DockerfileError {
                throw BuildError(message: "Dockerfile:\(ins.line): \(e.message)")
            }
        }
        guard !plan.starts.isEmpty else { throw BuildError(message: "no build stage in Dockerfile") }
        let results = StageResults()
        let globals = meta, numbered = numbers
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in plan.stages where plan.needed.contains(index) {
                group.addTask {
                    do {
                        await results.finish(index, .success(try await self.buildStage(index, plan: plan, instructions: instructions, numbers: numbered,
                                                                                  total: total, meta: globals, results: results)))
                    } catch {
                        await results.finish(index, .failure(error))
                        throw error
                    }
                }
            }
            try await group.waitForAll()
        }
        var final = try await results.value(of: plan.target)
        if !options.labels.isEmpty {
            final.config.labels = (final.config.labels ?? [:]).merging(options.labels) { $1 }
            final.image = try await commitConfig(final, createdBy: "LABEL " + options.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        guard let image = final.image else { throw BuildError(message: "No image was generated. Is your Dockerfile empty?") }
        let unused = Set(options.buildArgs.keys).subtracting(usedArgs.value).subtracting(meta.keys).sorted()
        if !unused.isEmpty { await say("[Warning] One or more build-args [\(unused.joined(separator: " "))] were not consumed\n") }
        for tag in options.tags { try await images.tag(image.id.description, as: tag.description) }
        await emit(ProgressMessage(aux: .init(ID: image.id.description)))
        if options.quiet {
            await emit(ProgressMessage(stream: image.id.description + "\n"))
        } else {
            await say("Successfully built \(Self.short(image.id))\n")
            for tag in options.tags { await say("Successfully tagged \(tag.familiarString)\n") }
        }
        return image
    }

    /// One stage's steps, once the stages it names are built.
    func buildStage(_ index: Int, plan: BuildPlan, instructions: [Instruction], numbers: [Int: Int], total: Int,
                    meta: [String: String], results: StageResults) async throws -> Stage {
        // the earlier stages by position (`--from=N` counts them all); only those it names are built
        var stages = plan.names.prefix(index).map { Stage(name: $0) }
        for dependency in plan.dependencies[index, default: []].sorted() { stages[dependency] = try await results.value(of: dependency) }
        var current = Stage(name: plan.names[index])
        for i in plan.range(index, of: instructions) {
            try Task.checkCancellation()
            let ins = instructions[i]
            await say("Step \(numbers[i] ?? 0)/\(total) : \(ins.original)\n")
            do {
                if ins.keyword == "FROM" {
                    current = try await from(ins, meta: meta, stages: stages)
                    for trigger in current.config.onBuild ?? [] {
                        await say("# Executing build trigger: \(trigger)\n")
                        let parsed = try Dockerfile(parsing: "FROM scratch\n" + trigger).instructions[1]
                        current.config.onBuild = nil
                        try await step(parsed, &current, stages: stages, meta: meta)
                    }
                    current.config.onBuild = nil
                    continue
                }
                try await step(ins, &current, stages: stages, meta: meta)
            } catch let e as BuildError {
                throw e
            } catch let e as DockerfileError {
                throw BuildError(message: "Dockerfile:\(ins.line): \(e.message)")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw BuildError(message: "\(error)")
            }
        }
        return current
    }

    /// What a build runs: its stages (each from its FROM to the next), the ones the target needs
    /// (the last stage by default; the stages it names in FROM, `COPY --from` and
    /// `RUN --mount=from=`, and theirs, as BuildKit reads them), and what each waits for.
    struct BuildPlan: Sendable {
        var starts: [Int]
        var names: [String?]
        var needed: Set<Int>
        /// Per stage, the earlier stages it names.
        var dependencies: [Int: Set<Int>]
        var target: Int

        var stages: Range<Int> { starts.indices }

        func range(_ stage: Int, of instructions: [Instruction]) -> Range<Int> {
            starts[stage]..<(stage + 1 < starts.count ? starts[stage + 1] : instructions.count)
        }

        /// The stage instruction `i` belongs to (-1 before the first FROM).
        func stage(of i: Int) -> Int { (starts.lastIndex { $0 <= i }) ?? -1 }
    }

    static func plan(_ instructions: [Instruction], target: String?, lexer: ShellLexer,
                     buildArgs: [String: String], platform: Platform = .current) throws -> BuildPlan {
        var starts: [Int] = []  // each stage's FROM
        var meta = platformArgs(platform)
        for (i, ins) in instructions.enumerated() {
            if ins.keyword == "FROM" { starts.append(i) }
            if starts.isEmpty, ins.keyword == "ARG" {
                for (k, v) in try lexer.pairs(ins.text, [:], legacy: false) { meta[k] = buildArgs[k] ?? v ?? "" }
            }
        }
        let names = starts.map { stageName(instructions[$0]) }
        var wanted = starts.count - 1
        if let target {
            guard let index = names.firstIndex(of: target.lowercased()) else {
                let known = names.compactMap { $0 }
                throw BuildError(message: "failed to reach build target \(target) in Dockerfile" + (known.isEmpty ? "" : " (its stages: \(known.joined(separator: ", ")))"))
            }
            wanted = index
        }
        /// The earlier stage a reference names (by name or number), if it is one.
        func stage(_ reference: String, before index: Int) -> Int? {
            if let named = names[..<index].lastIndex(of: reference.lowercased()) { return named }
            return Int(reference).flatMap { $0 >= 0 && $0 < index ? $0 : nil }
        }
        var plan = BuildPlan(starts: starts, names: names, needed: [], dependencies: [:], target: max(0, wanted))
        for index in starts.indices {
            for ins in instructions[plan.range(index, of: instructions)] {
                var references = ins.mounts.compactMap(\.from) + (ins.flags["from"].map { [$0] } ?? [])
                if ins.keyword == "FROM", let base = try lexer.words(ins.text, meta).first { references.append(base) }
                plan.dependencies[index, default: []].formUnion(references.compactMap { stage($0, before: index) })
            }
        }
        var queue = starts.isEmpty ? [] : [wanted]
        while let index = queue.popLast() {
            guard plan.needed.insert(index).inserted else { continue }
            queue += plan.dependencies[index, default: []]
        }
        return plan
    }

    /// The platform a build is for: `--platform` when it names this machine's (berthd runs no
    /// emulator, so a RUN for another architecture could not run).
    static func targetPlatform(_ asked: Platform?) throws -> Platform {
        let here = Platform.current
        guard let asked else { return here }
        guard asked.os == here.os, asked.architecture == here.architecture else {
            throw BuildError(message: "berthd builds for \(here) only (it runs no emulator): platform \(asked) is not supported")
        }
        return asked
    }

    /// BuildKit's automatic platform ARGs, in the global scope as BuildKit defines them: FROM
    /// lines see them, and a stage sees one it declares (`ARG TARGETARCH`).
    static func platformArgs(_ target: Platform) -> [String: String] {
        let build = Platform.current
        return ["BUILDPLATFORM": build.description, "BUILDOS": build.os, "BUILDARCH": build.architecture, "BUILDVARIANT": build.variant ?? "",
                "TARGETPLATFORM": target.description, "TARGETOS": target.os, "TARGETARCH": target.architecture, "TARGETVARIANT": target.variant ?? ""]
    }

    static func stageName(_ ins: Instruction) -> String? {
        let words = ins.text.split(whereSeparator: \.isWhitespace)
        return words.count == 3 && words[1].lowercased() == "as" ? words[2].lowercased() : nil
    }

    /// Each stage's result as it comes, for the stages that wait for it.
    actor StageResults {
        private var results: [Int: Result<Stage, Error>] = [:]
        private var waiting: [Int: [CheckedContinuation<Stage, Error>]] = [:]

        func finish(_ index: Int, _ result: Result<Stage, Error>) {
            results[index] = result
            for waiter in waiting.removeValue(forKey: index) ?? [] { waiter.resume(with: result) }
        }

        /// The stage once built; its failure, if it failed.
        func value(of index: Int) async throws -> Stage {
            if let result = results[index] { return try result.get() }
            return try await withCheckedThrowingContinuation { waiting[index, default: []].append($0) }
        }
    }

    // MARK: FROM

    func from(_ ins: Instruction, meta: [String: String], stages: [Stage]) async throws -> Stage {
        let words = try lexer.words(ins.text, meta)
        guard words.count == 1 || (words.count == 3 && words[1].lowercased() == "as") else {
            throw BuildError(message: "Dockerfile:\(ins.line): FROM requires either one or three arguments")
        }
        if let asked = try ins.flags["platform"].map({ try lexer.process($0, meta) }), !asked.isEmpty {
            _ = try Self.targetPlatform(try Platform(parsing: asked))
        }
        var stage = Stage()
        stage.name = words.count == 3 ? words[2].lowercased() : nil
        let base = words[0]
        if let earlier = stages.last(where: { $0.name == base.lowercased() }) {
            stage.image = earlier.image
            stage.config = earlier.config
        } else if base.lowercased() != "scratch" {
            var record = try? await images.resolve(base)
            if record == nil || options.pull {
                try await pull(base)
                record = try await images.resolve(base)
            }
            stage.image = record
            stage.config = try await images.config(record!).config ?? .init()
        }
        await say(" ---> \(stage.image.map { Self.short($0.id) } ?? "scratch")\n")
        return stage
    }

    // MARK: steps

    /// The variables a step sees: the stage's ARGs, overridden by its ENV.
    func variables(_ stage: Stage) -> [String: String] {
        var vars = stage.args
        for entry in stage.config.env ?? [] {
            let kv = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard let key = kv.first else { continue }  // an image's config may hold an empty entry
            vars[key] = kv.count > 1 ? kv[1] : ""
        }
        return vars
    }

    func step(_ ins: Instruction, _ stage: inout Stage, stages: [Stage], meta: [String: String]) async throws {
        let vars = variables(stage)
        var config = stage.config
        switch ins.keyword {
        case "RUN":
            let command = ins.json ?? Self.shellCommand(ins, shell: config.shell ?? ["/bin/sh", "-c"])
            let argsText = stage.args.isEmpty ? "" : "|\(stage.args.count) " + stage.args.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + " "
            // the mounts as written are part of the key (a cache's content is not: that is its point)
            let mountsText = ins.mounts.map { "--mount=" + $0.spec + " " }.joined()
            let networkText = ins.flags["network"].map { "--network=\($0) " } ?? ""
            let key = cacheKey(stage, "RUN " + argsText + mountsText + networkText + command.joined(separator: " "))
            if try await cached(key, &stage) { return }
            let network = try runNetwork(ins)
            let mounts = try await StepMounts.prepare(ins.mounts, for: self, stage: stage, stages: stages)
            do {
                stage.image = try await runStep(stage, command: command, createdBy: argsText + mountsText + command.joined(separator: " "),
                                                mounts: mounts.specs, environment: mounts.environment, network: network)
            } catch {
                await mounts.release()
                throw error
            }
            await mounts.release()
            await cache.store(key, stage.image!.id.description)
            return
        case "COPY", "ADD":
            try await copy(ins, &stage, vars: vars, stages: stages)
            return
        case "WORKDIR":
            var dir = try lexer.process(ins.text, vars)
            if !dir.hasPrefix("/") { dir = (config.workingDir ?? "/") + "/" + dir }
            config.workingDir = ContainerService.cleanPath(dir)
            let key = cacheKey(stage, "WORKDIR " + config.workingDir!)
            if try await cached(key, &stage) { stage.config = config; return }
            stage.config = config
            let workdir = config.workingDir!
            stage.image = try await changeRootfs(stage, createdBy: "WORKDIR \(workdir)") { root in
                close(try RootedPath(root: root).makeDirectories(workdir))
            }
            await cache.store(key, stage.image!.id.description)
            return
        case "ARG":
            for (k, v) in try lexer.pairs(ins.text, [:], legacy: false) {
                stage.args[k] = options.buildArgs[k] ?? v ?? meta[k] ?? ""
                if options.buildArgs[k] != nil { usedArgs.mutate { _ = $0.insert(k) } }
            }
            let key = cacheKey(stage, "ARG " + ins.text)
            if try await cached(key, &stage) { return }
            stage.image = try await commitConfig(stage, createdBy: "ARG \(ins.text)")
            await cache.store(key, stage.image!.id.description)
            return
        case "ENV":
            for (k, v) in try lexer.pairs(ins.text, vars, legacy: true) {
                guard let v else { throw BuildError(message: "Dockerfile:\(ins.line): ENV names can not be blank") }
                config.env = ContainerService.mergeEnv(config.env ?? [], [k + "=" + v])
            }
        case "LABEL":
            for (k, v) in try lexer.pairs(ins.text, vars, legacy: true) { config.labels = (config.labels ?? [:]).merging([k: v ?? ""]) { $1 } }
        case "USER": config.user = try lexer.process(ins.text, vars)
        case "EXPOSE":
            for p in try lexer.words(ins.text, vars) {
                config.exposedPorts = (config.exposedPorts ?? [:]).merging([p.contains("/") ? p.lowercased() : p + "/tcp": EmptyObject()]) { $1 }
            }
        case "VOLUME":
            for v in try ins.json ?? lexer.words(ins.text, vars) {
                guard !v.isEmpty else { throw BuildError(message: "Dockerfile:\(ins.line): VOLUME specified can not be an empty string") }
                config.volumes = (config.volumes ?? [:]).merging([v: EmptyObject()]) { $1 }
            }
        case "CMD": config.cmd = ins.json ?? (config.shell ?? ["/bin/sh", "-c"]) + [ins.text]
        case "ENTRYPOINT":
            config.entrypoint = ins.json ?? (config.shell ?? ["/bin/sh", "-c"]) + [ins.text]
            // A new entrypoint drops the CMD inherited from the base, as Docker does.
            if !stage.setCmd { config.cmd = nil }
        case "SHELL":
            guard let json = ins.json, !json.isEmpty else { throw BuildError(message: "Dockerfile:\(ins.line): SHELL requires the arguments to be in JSON form") }
            config.shell = json
        case "STOPSIGNAL": config.stopSignal = try lexer.process(ins.text, vars)
        case "MAINTAINER": break
        case "ONBUILD":
            let trigger = ins.text.trimmed
            let keyword = trigger.split(separator: " ").first.map { $0.uppercased() } ?? ""
            guard !["ONBUILD", "FROM", "MAINTAINER"].contains(keyword) else {
                throw BuildError(message: "Dockerfile:\(ins.line): \(keyword) isn't allowed as an ONBUILD trigger")
            }
            config.onBuild = (config.onBuild ?? []) + [trigger]
        case "HEALTHCHECK":
            config.healthcheck = try healthcheck(ins)
        default:
            throw BuildError(message: "Dockerfile:\(ins.line): unknown instruction: \(ins.keyword)")
        }
        if ins.keyword == "CMD" { stage.setCmd = true }
        stage.config = config
        let key = cacheKey(stage, ins.original)
        if try await cached(key, &stage) { return }
        stage.image = try await commitConfig(stage, createdBy: ins.original)
        await cache.store(key, stage.image!.id.description)
    }

    func healthcheck(_ ins: Instruction) throws -> ImageConfig.Healthcheck {
        var h = ImageConfig.Healthcheck()
        let rest = ins.text.trimmed
        if rest.uppercased() == "NONE" { h.test = ["NONE"]; return h }
        guard rest.uppercased().hasPrefix("CMD") else { throw BuildError(message: "Dockerfile:\(ins.line): HEALTHCHECK requires CMD or NONE") }
        let command = String(rest.dropFirst(3)).trimmed
        if command.hasPrefix("["), let json = try? JSONDecoder().decode([String].self, from: Data(command.utf8)) {
            h.test = ["CMD"] + json
        } else {
            h.test = ["CMD-SHELL", command]
        }
        func duration(_ flag: String) throws -> Int64? {
            guard let v = ins.flags[flag] else { return nil }
            guard let d = GoDuration.seconds(v), d.isFinite, d >= 0, d < 1e9 else { throw BuildError(message: "Dockerfile:\(ins.line): invalid duration \(v) for --\(flag)") }
            return Int64(d * 1e9)
        }
        h.interval = try duration("interval")
        h.timeout = try duration("timeout")
        h.startPeriod = try duration("start-period")
        h.startInterval = try duration("start-interval")
        h.retries = ins.flags["retries"].flatMap { Int($0) }
        return h
    }


    // MARK: cache

    func cacheKey(_ stage: Stage, _ text: String, content: String = "") -> String {
        let parent = stage.image?.id.description ?? "scratch"
        let config = (try? ImageImporter.canonicalJSON(stage.config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return SHA256.digest(Array("\(parent)\n\(config)\n\(text)\n\(content)".utf8)).description
    }

    /// On a hit, moves the stage to the cached image and says so.
    func cached(_ key: String, _ stage: inout Stage) async throws -> Bool {
        guard !options.noCache, stage.name.map({ options.noCacheStages.contains($0) }) != true,
              let id = await cache.lookup(key), let record = try? await images.resolve(id) else { return false }
        if let sources = options.cacheFrom, !(await cacheSources(sources)).contains(record.id) { return false }
        stage.image = record
        stage.config = try await images.config(record).config ?? .init()
        await say(" ---> Using cache\n ---> \(Self.short(record.id))\n")
        return true
    }

    /// The `--cache-from` images and all their ancestors.
    func cacheSources(_ names: [String]) async -> Set<Digest> {
        var out = Set<Digest>()
        for name in names {
            var next = try? await images.resolve(name)
            while let record = next, out.insert(record.id).inserted {
                guard let parent = record.parent else { break }
                next = try? await images.resolve(parent.description)
            }
        }
        return out
    }

    // MARK: commits

    func commitConfig(_ stage: Stage, createdBy: String) async throws -> ImageRecord {
        let details = ImageCommitter.Details(config: stage.config, createdBy: "/bin/sh -c #(nop) " + createdBy, emptyLayer: true)
        let record = try await ImageCommitter(store: images).commit(parent: stage.image, details: details, tags: []) { _ in }
        await say(" ---> \(Self.short(record.id))\n")
        return record
    }

    /// A container on the stage's image (not started), changed by `body` on its mounted rootfs,
    /// committed as one layer.
    func changeRootfs(_ stage: Stage, createdBy: String, _ body: @escaping @Sendable (String) throws -> Void) async throws -> ImageRecord {
        guard stage.image != nil else { return try await firstLayer(stage, createdBy: createdBy, body) }
        let id = try await createContainer(stage, command: ["/bin/sh"])
        do {
            let root = try await containers.acquireRootfs(id)
            defer { Task { await containers.releaseRootfs(id) } }
            try body(root)
            let record = try await containers.commitLayer(id, config: stage.config, createdBy: "/bin/sh -c #(nop) " + createdBy)
            await discard(id)
            await say(" ---> \(Self.short(record.id))\n")
            return record
        } catch {
            await discard(id)
            throw error
        }
    }

    /// A `FROM scratch` stage's first COPY, ADD or WORKDIR: there is no image to make a container
    /// of, so the step writes into an empty directory, which becomes the image's only layer.
    func firstLayer(_ stage: Stage, createdBy: String, _ body: @escaping @Sendable (String) throws -> Void) async throws -> ImageRecord {
        let root = try FileIO.makeTemporaryDirectory(in: AtomicFile.parentDirectory(of: context), prefix: "scratch-")
        defer { Self.log.attempt("removing the scratch directory \(root)") { try FileIO.removeTree(root) } }
        try await Threads.run { try body(root) }
        let details = ImageCommitter.Details(config: stage.config, createdBy: "/bin/sh -c #(nop) " + createdBy)
        let record = try await ImageCommitter(store: images).commit(parent: nil, details: details, tags: []) { sink in
            try TreeArchiver(mode: .plain).archive(root, to: sink)
        }
        await say(" ---> \(Self.short(record.id))\n")
        return record
    }

    /// `RUN --network=default|none|host`, BuildKit's: `host` only when the build itself runs on
    /// the host's network (`--network host`), which stands in for BuildKit's `network.host`
    /// entitlement: a Dockerfile alone cannot take a build onto the host's network.
    func runNetwork(_ ins: Instruction) throws -> String? {
        switch ins.flags["network"] {
        case nil, "default": return options.networkMode
        case "none": return "none"
        case "host":
            guard options.networkMode == "host" else {
                throw BuildError(message: "Dockerfile:\(ins.line): RUN --network=host needs the build on the host's network (build --network host), as BuildKit needs network.host allowed")
            }
            return "host"
        case let other?: throw BuildError(message: "Dockerfile:\(ins.line): unsupported network mode \"\(other)\" (use default, none or host)")
        }
    }

    func createContainer(_ stage: Stage, command: [String], mounts: [MountSpec] = [], environment: [String] = [], network: String? = nil) async throws -> String {
        var config = ContainerConfig()
        config.Image = stage.image?.id.description
        config.Cmd = command
        config.Entrypoint = []
        config.User = stage.config.user
        config.WorkingDir = stage.config.workingDir
        var env = stage.config.env ?? []
        for (k, v) in stage.args.sorted(by: { $0.key < $1.key }) where !env.contains(where: { $0.hasPrefix(k + "=") }) { env.append(k + "=" + v) }
        config.Env = env
        config.Labels = ["com.berth.build": "intermediate"]
        guard stage.image != nil else { throw BuildError(message: "a RUN step needs a base image: FROM scratch has no shell to run (COPY a static program in first and RUN it in JSON form)") }
        var host = options.stepHost
        host.NetworkMode = network ?? options.networkMode
        host.ExtraHosts = options.extraHosts.isEmpty ? nil : options.extraHosts
        host.Mounts = mounts.isEmpty ? nil : mounts
        let id = try await containers.create(name: nil, config: config, host: host).Id
        try await containers.setStepEnvironment(id, environment)
        return id
    }

    /// A RUN of the shell form, heredocs included as BuildKit runs them: a lone heredoc is the
    /// script (run by its `#!` interpreter, which reads it from stdin, or else by the shell);
    /// heredocs after a command are handed to the shell with their bodies, for it to read.
    static func shellCommand(_ ins: Instruction, shell: [String]) -> [String] {
        guard !ins.heredocs.isEmpty else { return shell + [ins.text] }
        guard ins.isSoleHeredoc, let doc = ins.heredocs.first else {
            return shell + [ins.text + "\n" + ins.heredocs.map(\.raw).joined()]
        }
        guard doc.content.hasPrefix("#!"), let line = doc.content.split(separator: "\n").first else { return shell + [doc.content] }
        let interpreter = line.dropFirst(2).split(whereSeparator: { $0 == " " || $0 == "\t" }).map { "'" + $0.replacing("'", with: "'\\''") + "'" }
        var delimiter = "BERTH_HEREDOC"
        while doc.content.contains(delimiter) { delimiter += "_" }
        return shell + [interpreter.joined(separator: " ") + " /dev/stdin <<'\(delimiter)'\n" + doc.content + delimiter + "\n"]
    }

    func runStep(_ stage: Stage, command: [String], createdBy: String, mounts: [MountSpec] = [], environment: [String] = [],
                 network: String? = nil) async throws -> ImageRecord {
        let id = try await createContainer(stage, command: command, mounts: mounts, environment: environment, network: network)
        await say(" ---> Running in \(id.prefix(12))\n")
        // Removed before the step returns (not in the background): a daemon killed right after a
        // build must not find a step container left over.
        do {
            let output = try await attachOutput(id)
            try await containers.start(id)
            for await text in output { await say(text) }
            let status = try await containers.wait(id, condition: nil).StatusCode
            guard status == 0 else {
                throw BuildError(message: "The command '\(command.joined(separator: " "))' returned a non-zero code: \(status)", code: Int(status))
            }
            let record = try await containers.commitLayer(id, config: stage.config, createdBy: createdBy)
            if options.remove {
                await discard(id)
                await say("Removing intermediate container \(id.prefix(12))\n")
            }
            await say(" ---> \(Self.short(record.id))\n")
            return record
        } catch {
            if options.remove || options.forceRemove { await discard(id) }
            throw error
        }
    }

    /// A RUN step's stdout and stderr as it runs, chunk by chunk as the step writes them, stderr
    /// wrapped in red as moby's stream formatter does (`\u{1b}[91m…\u{1b}[0m`); ends when it exits.
    /// Taken from the shim, not the json log: the output shows while the step works, and still
    /// shows when the log cannot be written (a full disk is the likeliest reason a step fails).
    func attachOutput(_ id: String) async throws -> AsyncStream<String> {
        let (stream, sink) = AsyncStream.makeStream(of: String.self)
        _ = try await containers.attach(id, .init(stdin: false, stdout: true, stderr: true) { connection in
            guard case .success(let fd) = connection else { return sink.finish() }
            Threads.detach {
                defer { close(fd); sink.finish() }
                var frames: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(fd, &buffer, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    frames += buffer[..<n]
                    for (stream, bytes) in Frame.parse(&frames) where !bytes.isEmpty {
                        if stream == Frame.stdout { sink.yield(String(decoding: bytes, as: UTF8.self)) }
                        if stream == Frame.stderr { sink.yield("\u{1b}[91m" + String(decoding: bytes, as: UTF8.self) + "\u{1b}[0m") }
                    }
                }
            }
        })
        return stream
    }

    // MARK: COPY and ADD

    func copy(_ ins: Instruction, _ stage: inout Stage, vars: [String: String], stages: [Stage]) async throws {
        let words = try ins.json ?? lexer.words(ins.text, vars)
        let last = words.last ?? ""
        guard words.count >= 2 else { throw BuildError(message: "Dockerfile:\(ins.line): \(ins.keyword) requires at least two arguments") }
        var dest = last
        // Heredoc sources become files in the context, named for their delimiter.
        var sources = Array(words.dropLast())
        var generated = Set<String>()
        var next = ins.heredocs.makeIterator()
        for (i, source) in sources.enumerated() where source.hasPrefix("<<") {
            guard let doc = next.next() else { continue }
            // named for the line too: stages building at once must not share a name
            let rel = ".berth-heredoc-\(ins.line)-\(i)/\(doc.name)"
            try FileIO.makeDirectories(context + "/.berth-heredoc-\(ins.line)-\(i)", mode: 0o700)
            let content = doc.expand ? try lexer.expand(doc.content, vars) : doc.content
            try AtomicFile.write(context + "/" + rel, Array(content.utf8), mode: 0o644)
            sources[i] = rel
            generated.insert(rel)
        }
        if !dest.hasPrefix("/") { dest = (stage.config.workingDir ?? "/") + "/" + dest }
        let destIsDir = last.hasSuffix("/") || last == "." || sources.count > 1
        let mode = try ins.flags["chmod"].map { m -> UInt32 in
            guard let v = UInt32(m, radix: 8), v <= 0o7777 else { throw BuildError(message: "Dockerfile:\(ins.line): invalid chmod parameter: \(m)") }
            return v
        }
        // Where the sources come from: the context, an earlier stage, or an image.
        var sourceRoot = context
        var fromContainer: String?
        var sourceImage: ImageRecord?
        if let from = ins.flags["from"] {
            let source = try await mountStage(from, stages: stages)
            (fromContainer, sourceRoot, sourceImage) = (source.container, source.root, source.image)
        }
        var failure: Error?
        do {
            try await copyItems(ins, &stage, sources: sources, generated: generated, dest: dest, destIsDir: destIsDir, destSlash: last.hasSuffix("/"),
                                mode: mode, sourceRoot: sourceRoot, fromContainer: fromContainer, sourceImage: sourceImage)
        } catch { failure = error }
        if let c = fromContainer { await containers.releaseRootfs(c); await discard(c) }
        if let failure { throw failure }
    }

    /// `generated`: sources the builder wrote into the context (heredocs, downloads): taken as they
    /// are, never filtered by .dockerignore nor unpacked by ADD.
    /// The file system of an earlier stage (by name or index) or of an image (pulled if missing),
    /// mounted through a container made for the purpose: `COPY --from` and `RUN --mount=from=`
    /// read it there. The caller releases the rootfs and removes the container.
    func mountStage(_ from: String, stages: [Stage]) async throws -> (container: String, root: String, image: ImageRecord?) {
        var source = Stage()
        if let earlier = stages.first(where: { $0.name == from.lowercased() }) ?? Int(from).flatMap({ $0 < stages.count ? stages[$0] : nil }) {
            source.image = earlier.image
        } else {
            if (try? await images.resolve(from)) == nil { try await pull(from) }
            source.image = try await images.resolve(from)
        }
        let container = try await createContainer(source, command: ["/bin/sh"])
        do {
            return (container, try await containers.acquireRootfs(container), source.image)
        } catch {
            await discard(container)
            throw error
        }
    }

    func copyItems(_ ins: Instruction, _ stage: inout Stage, sources: [String], generated: Set<String>, dest: String, destIsDir: Bool, destSlash: Bool,
                   mode: UInt32?, sourceRoot: String, fromContainer: String?, sourceImage: ImageRecord?) async throws {
        var items: [String] = []
        var downloaded = generated
        // `ADD --checksum`: BuildKit's, for downloads only; the digest is checked before anything is copied.
        let checksum = try ins.flags["checksum"].map { text -> Digest in
            guard sources.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
                throw BuildError(message: "Dockerfile:\(ins.line): checksum can't be specified for non-HTTP(S) sources")
            }
            do { return try Digest(parsing: text) } catch { throw BuildError(message: "Dockerfile:\(ins.line): invalid checksum digest format: \(text)") }
        }
        let excludes = self.excludes(ins)
        // `COPY --parents`: each match keeps its path under the destination, from a `/./` in its
        // source on (BuildKit's pivot), or whole.
        let parents = ins.flags["parents"].map { $0 != "false" } ?? false
        var kept: [String: String] = [:]
        for source in sources {
            if generated.contains(source) {
                items.append(source)
                continue
            }
            if ins.keyword == "ADD", source.hasPrefix("http://") || source.hasPrefix("https://") {
                // Fetched by berthd into the context (never unpacked, mode 0600, as Docker does).
                let name = source.split(separator: "?").first.flatMap { $0.split(separator: "/").last.map(String.init) } ?? "download"
                let rel = ".berth-add-\(ins.line)-\(downloaded.count)/" + (name.contains(":") ? "download" : name)
                try FileIO.makeDirectories(context + "/" + AtomicFile.parentDirectory(of: rel), mode: 0o700)
                do { try await fetch(source, context + "/" + rel) } catch {
                    throw BuildError(message: "ADD failed: \(source): \(error)")
                }
                if let checksum {
                    let file = context + "/" + rel
                    let fd = try sys("open", file) { open(file, O_RDONLY | O_CLOEXEC) }
                    defer { close(fd) }
                    let actual = try SHA256.digest(fd: fd, path: file)
                    guard actual == checksum else { throw BuildError(message: "ADD failed: \(source): digest mismatch \(actual): \(checksum)") }
                }
                downloaded.insert(rel)
                items.append(rel)
                continue
            }
            // `--exclude` drops matching sources, and (in CopySink) matching paths inside a directory.
            let matches = try expand(source, root: sourceRoot, filtered: fromContainer == nil)
                .filter { !excludes.excludes($0) && !excludes.excludes(RootedPath.split("/" + $0).1) }
            guard !matches.isEmpty else {
                throw BuildError(message: "\(ins.keyword) failed: file not found in build context or excluded by .dockerignore: stat \(source): file does not exist")
            }
            items += matches
            if parents {
                let pivot = source.firstRange(of: "/./").map { String(ContainerService.cleanPath("/" + source[..<$0.lowerBound]).dropFirst()) } ?? ""
                for match in matches {
                    kept[match] = pivot.isEmpty ? match : String(match.dropFirst(pivot.count).drop { $0 == "/" })
                }
            }
        }
        if items.count > 1 && !destSlash && !parents {
            throw BuildError(message: "When using \(ins.keyword) with more than one source file, the destination must be a directory and end with a /")
        }
        // From the context, the key holds the files' checksum; from a stage or image, that image's ID.
        let content = fromContainer == nil ? try contentChecksum(items, unfiltered: downloaded) : "from " + (sourceImage?.id.description ?? "")
        let key = cacheKey(stage, ins.original, content: content)
        if try await cached(key, &stage) { return }
        let chown = ins.flags["chown"]
        let ignore = fromContainer == nil ? self.ignore : IgnoreRules("")
        let isADD = ins.keyword == "ADD"
        let target = ContainerService.cleanPath(dest)
        let sourceItems = items
        let keepOwner = fromContainer != nil
        let downloadedItems = downloaded
        let keptPaths = kept
        stage.image = try await changeRootfs(stage, createdBy: "\(ins.keyword) \(ins.text)") { root in
            let owner = try chown.map { try Self.owner($0, rootfs: root) }
            let rooted = try RootedPath(root: root)
            // Sources are opened inside their root too: a symlink in the context (or in the
            // stage copied from) cannot make COPY read the host.
            let source = try RootedPath(root: sourceRoot)
            for rel in sourceItems {
                // A symlinked source is copied as what it names (inside the root), under its own name.
                let base = rel == "." ? "." : RootedPath.split("/" + rel).1
                let resolved = (try? source.resolve(rel)) ?? rel
                let (parentRel, sourceBase) = resolved == "." ? (".", ".") : RootedPath.split("/" + resolved)
                let parentFD = try source.open(parentRel, flags: O_PATH | O_DIRECTORY)
                defer { close(parentFD) }
                var st = stat()
                guard fstatat(parentFD, sourceBase, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let isDir = (st.st_mode & S_IFMT) == S_IFDIR
                let fromURL = downloadedItems.contains(rel)
                if isADD && !isDir && !fromURL, Self.isArchive(rel) {
                    let dirfd = try rooted.makeDirectories(target)
                    defer { close(dirfd) }
                    let fd = try source.open(resolved, flags: O_RDONLY)
                    defer { close(fd) }
                    try LayerExtractor(root: RootedPath.procPath(dirfd), whiteouts: .none).extract(try TarReader(fd: fd))
                    continue
                }
                var (dir, name) = isDir ? (target, ".") : (destIsDir ? (target, base) : RootedPath.split(target))
                if let keep = keptPaths[rel], keep != "." {
                    (dir, name) = isDir ? (target + "/" + keep, ".") : (RootedPath.split(target + "/" + keep).0, base)
                }
                let dirfd = try rooted.makeDirectories(dir)
                defer { close(dirfd) }
                let sink = CopySink(owner: owner, mode: mode ?? (fromURL ? 0o600 : nil), ignore: fromURL ? IgnoreRules("") : ignore,
                                    excludes: excludes, relative: resolved, keepOwner: keepOwner)
                try LayerExtractor(root: RootedPath.procPath(dirfd), whiteouts: .none).receive { out in
                    sink.output = out
                    try TreeArchiver(mode: .plain).archive(item: sourceBase, in: parentFD, path: RootedPath.procPath(parentFD) + "/" + sourceBase,
                                                           as: name, to: sink)
                }
            }
        }
        await cache.store(key, stage.image!.id.description)
    }

    /// `COPY/ADD --exclude` patterns as one rule set (.dockerignore's syntax). `--link` needs
    /// nothing here: every step is a layer of its own on this builder.
    func excludes(_ ins: Instruction) -> IgnoreRules { IgnoreRules(ins.excludes.joined(separator: "\n")) }

    /// A source's matches, relative to `root`: a literal path, or a glob in its last component.
    func expand(_ source: String, root: String, filtered: Bool) throws -> [String] {
        let clean = ContainerService.cleanPath("/" + source)
        let rel = String(clean.dropFirst())
        let (dir, last) = RootedPath.split(clean)
        let rooted = try RootedPath(root: root)
        if last.contains(where: { "*?[".contains($0) }) {
            let names = (try? rooted.list(dir)) ?? []
            return names.sorted().filter { IgnoreRules.match(Array(last)[...], Array($0)[...]) }
                .map { String((dir == "/" ? $0 : String(dir.dropFirst()) + "/" + $0)) }
                .filter { !filtered || !ignore.excludes($0) }
        }
        // Resolved inside the root: a symlink in the context cannot reach the host.
        guard let fd = try? rooted.open(rel.isEmpty ? "." : rel, flags: O_PATH) else { return [] }
        close(fd)
        if filtered && !rel.isEmpty && ignore.excludes(rel) { return [] }
        return [rel.isEmpty ? "." : rel]
    }

    /// The checksum of what a COPY takes from the context: paths, modes and contents.
    func contentChecksum(_ paths: [String], unfiltered: Set<String> = []) throws -> String {
        var lines: [String] = []
        let rooted = try RootedPath(root: context)
        func visit(_ rel: String) throws {
            guard rel == "." || unfiltered.contains(rel) || !ignore.excludes(rel) else { return }
            // O_PATH|O_NOFOLLOW inside the root: the entry itself, never what a symlink names.
            guard let fd = try? rooted.open(rel, flags: O_PATH | O_NOFOLLOW) else { return }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { return }
            var line = "\(rel) \(st.st_mode) \(st.st_size)"
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                lines.append(line)
                for name in try rooted.list(rel).sorted() { try visit(rel == "." ? name : rel + "/" + name) }
                return
            case S_IFREG:
                let file = try rooted.open(rel, flags: O_RDONLY)
                defer { close(file) }
                line += " " + (try SHA256.digest(fd: file, path: rel)).description
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: 4097)
                let n = readlinkat(fd, "", &buffer, 4096)
                line += " -> " + String(cString: Array(buffer.prefix(max(n, 0))) + [0])
            default: break
            }
            lines.append(line)
        }
        // A symlinked source is hashed as what it names, which is what COPY takes.
        for p in paths { try visit((try? rooted.resolve(p)) ?? p) }
        return SHA256.digest(Array(lines.joined(separator: "\n").utf8)).description
    }

    /// `--chown=user:group`, names looked up in the image's passwd and group files.
    static func owner(_ spec: String, rootfs: String) throws -> (UInt32, UInt32) {
        let user = try UserResolver.resolve(spec.contains(":") ? spec : spec + ":" + spec, rootfs: rootfs, groupAdd: [])
        return (user.uid, user.gid)
    }

    /// Whether an ADD source is a tar (plain or compressed), which ADD unpacks.
    static func isArchive(_ path: String) -> Bool {
        let lower = path.lowercased()
        return [".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst"].contains { lower.hasSuffix($0) }
    }

    /// Rewrites entries on their way in: context files belong to root (or `--chown`), `--chmod`
    /// applies, `.dockerignore`d paths stay out.
    final class CopySink: TreeSink {
        var output: TreeSink?
        let owner: (UInt32, UInt32)?, mode: UInt32?, ignore: IgnoreRules, excludes: IgnoreRules, relative: String, keepOwner: Bool
        init(owner: (UInt32, UInt32)?, mode: UInt32?, ignore: IgnoreRules, excludes: IgnoreRules, relative: String, keepOwner: Bool) {
            self.owner = owner; self.mode = mode; self.ignore = ignore; self.excludes = excludes; self.relative = relative
            self.keepOwner = keepOwner
        }

        func add(_ entry: TarEntry, source: Int32?) throws {
            var e = entry
            let inside = e.path.split(separator: "/").dropFirst().joined(separator: "/")
            if !inside.isEmpty, ignore.excludes(relative == "." ? inside : relative + "/" + inside) || excludes.excludes(inside) { return }
            if let owner { e.uid = owner.0; e.gid = owner.1 } else if !keepOwner { e.uid = 0; e.gid = 0 }
            if let mode, e.kind != .symlink { e.mode = mode }
            if e.path == "." || e.path == "./" { return }
            if e.path.hasPrefix("./") { e.path = String(e.path.dropFirst(2)) }
            try output?.add(e, source: source)
        }
    }
}

