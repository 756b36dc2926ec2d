import BerthDiagnostics
import BerthAPI
import BerthCgroups
import BerthImage
import BerthLogs
import BerthOCI
import BerthShimProtocol
import BerthSnapshot
import BerthSystem
import BerthVolume
import FoundationEssentials
import Glibc
import Logging

/// Every container's lifecycle: the operations, run on each container's own `Container` actor
/// (one at a time per container, containers in parallel), over records kept in the registry.
/// The long waits, for exits and for `stop` timeouts, are waiters resumed by the exit monitor.
public final class ContainerService: Sendable {
    let config: EngineConfig
    public let images: ImageStore
    public let networks: NetworkService
    public let volumes: VolumeService
    public let events: EventLog
    let containers = ContainerRegistry()
    let execs = Locked<[String: ExecRecord]>([:])
    /// Where the containers' processes run: their shims (a fake in the engine's unit tests).
    let tasks: any TaskService
    let log = Logger(label: "berth.engine")

    /// An attach that arrived before its container started; connected at start, before the
    /// container runs, so no output is missed.
    public struct PendingAttach: Sendable {
        public var stdin: Bool, stdout: Bool, stderr: Bool
        public var connected: @Sendable (Result<Int32, Error>) -> Void
        public init(stdin: Bool, stdout: Bool, stderr: Bool, connected: @escaping @Sendable (Result<Int32, Error>) -> Void) {
            self.stdin = stdin; self.stdout = stdout; self.stderr = stderr; self.connected = connected
        }
    }

    public init(config: EngineConfig, images: ImageStore, networks: NetworkService, volumes: VolumeService, events: EventLog,
                tasks: (any TaskService)? = nil) throws {
        self.config = config
        self.tasks = tasks ?? ShimTasks(shimPath: config.shimPath, bundlesRoot: config.bundlesRoot)
        self.volumes = volumes
        self.images = images
        self.networks = networks
        self.events = events
        for dir in [config.containersRoot, config.bundlesRoot, config.runtimeRoot] { try FileIO.makeDirectories(dir, mode: 0o711) }
        var loaded: [String: ContainerRecord] = [:]
        // Only directories named by an ID: `removing-<id>` is an rm past its commit point.
        for id in try FileIO.listDirectory(config.containersRoot) where Self.owner(ofSnapshot: id) == id {
            do {
                var record = try JSONDecoder().decode(ContainerRecord.self, from: Data(try FileIO.read(config.containersRoot + "/" + id + "/config.v2.json")))
                // a removal is never stored, but a save meanwhile (a health result) can carry it:
                // after a crash cut it short before its commit point, the container is there, stopped
                if record.lifecycle == .removing { record.state.Status = "exited" }
                loaded[id] = record
            } catch {
                Logger(label: "berth.engine").error("failed to load container \(id), left out: \(error)")
            }
        }
        for record in loaded.values {
            containers[record.id] = record
            volumes.restore(container: record.id, volumes: (record.mounts ?? []).filter { $0.type == "volume" }.map(\.source))
        }
    }

    /// Starts exit monitoring, reconnects to the shims of containers that ran before berthd
    /// (re)started, marks the others exited, and applies restart policies.
    public func restore() async {
        tasks.monitorExits { [weak self] id, status in
            Task { await self?.exited(id, status) }
        }
        sweepOrphans()
        for record in containers.values where record.state.Running {
            let id = record.id
            if await task(id).isAlive, (try? tasks.watch(id)) != nil {
                await startHealthChecks(id, reset: false)
                continue
            }
            let status = (try? FileIO.read(bundlePath(id) + "/exit.json")).flatMap { try? JSONDecoder().decode(ExitStatus.self, from: Data($0)) }
            await exited(id, status ?? ExitStatus(exitCode: 255, oomKilled: false, finishedAt: Timestamp.now()))
        }
        // A start that a kill interrupted before the record said running: its shim holds a
        // created task and perhaps a client's attach. dockerd deletes such a task at restart;
        // so does this, which also ends the client's stream.
        // An earlier kill may also have left the rootfs mounted.
        let mounted = Set(Mounter.mountPoints(under: config.bundlesRoot))
        let shims = ShimClient.processes()
        for record in containers.values where !record.state.Running {
            let id = record.id
            if FileIO.exists(socketPath(id)) {
                if (try? await task(id).kill(SIGKILL)) != nil {  // refused: the shim is ending by itself
                    for _ in 0..<100 {
                        guard await task(id).isAlive else { break }
                        try? await Task.sleep(nanoseconds: 20_000_000)
                    }
                }
                unlink(socketPath(id))
            }
            // A shim still creating the task when berthd died has no socket yet, and one killed
            // then leaves a task and a cgroup that nobody would remove.
            for pid in shims[bundlePath(id) + "/shim.json"] ?? [] {
                Glibc.kill(pid, SIGKILL)
                for _ in 0..<100 where Glibc.kill(pid, 0) == 0 { try? await Task.sleep(nanoseconds: 20_000_000) }
            }
            // runtime state with no shim to own it: removed by the shim binary, its one writer
            if FileIO.isDirectory(config.runtimeRoot + "/" + id), FileIO.exists(bundlePath(id) + "/shim.json") {
                await log.attempt("cleaning up after container \(id)'s killed shim") {
                    let shim = config.shimPath, spec = bundlePath(id) + "/shim.json"
                    let (status, output) = try await Threads.run { try Subprocess.run(shim, ["--delete", spec]) }
                    if status != 0 { throw EngineError.internalError(output.trimmed) }
                }
            }
            removeLeftoverCgroup(record.cgroupPath)
            if mounted.contains(bundlePath(id) + "/rootfs") { await unmountIdle(id) }
        }
        await restoreNetworks()
        // A build step's container that a crash left behind (the builder removes its own), and,
        // as dockerd does at start, an auto-removed container that is not running (its removal
        // was cut short).
        for record in containers.values where !record.state.Running
            && (record.config.Labels?["com.berth.build"] == "intermediate" || record.hostConfig.AutoRemove == true) {
            await log.attempt("removing container \(record.id) left by a crash") { try await remove(record.id, force: true) }
        }
        for record in containers.values where !record.state.Running
            && RestartRule(record.hostConfig.RestartPolicy).restartsAtDaemonStart(stoppedByUser: record.stoppedByUser) {
            await log.attempt("failed to start container \(record.id) (restart policy \(record.hostConfig.RestartPolicy?.Name ?? ""))") {
                try await start(record.id)
            }
        }
    }

    // MARK: paths and lookup

    func containerDir(_ id: String) -> String { config.containersRoot + "/" + id }
    func recordPath(_ id: String) -> String { containerDir(id) + "/config.v2.json" }
    func bundlePath(_ id: String) -> String { config.bundlesRoot + "/" + id }
    func socketPath(_ id: String) -> String { bundlePath(id) + "/shim.sock" }
    func logPath(_ id: String) -> String { containerDir(id) + "/" + id + "-json.log" }
    func task(_ id: String) -> any TaskControl { tasks.task(id) }

    /// A container event with Docker's attributes: image, name and the container's labels.
    func emit(_ record: ContainerRecord, _ action: String, _ extra: [String: String] = [:]) {
        var attributes = record.config.Labels ?? [:]
        attributes["image"] = record.imageName
        attributes["name"] = record.name
        attributes.merge(extra) { $1 }
        events.publish("container", action, id: record.id, attributes: attributes)
    }

    /// The record in memory, then on disk, in that order for every writer of this container.
    /// `durable: false` for a state a power cut makes untrue anyway (running, its pid): the
    /// atomic replace without the fsyncs, half a millisecond of every `start`.
    func save(_ record: ContainerRecord, durable: Bool = true) throws {
        if let container = containers.actor(record.id) {
            try container.saving.locked { try persist(record, durable: durable) }
        } else {
            try persist(record, durable: durable)
        }
    }

    private func persist(_ record: ContainerRecord, durable: Bool) throws {
        containers[record.id] = record
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(recordPath(record.id), Array(try encoder.encode(record)), mode: 0o600, durable: durable)
    }

    /// Reads, changes and saves a container's record in one step with every other save of it,
    /// for a writer outside the container's gate (a health result): one that saved a copy read
    /// before an exit was saved brought the container back as running (a `rm -f` then waited
    /// for an exit that had already happened, found by the engine's unit tests under load).
    /// `change` returns false to leave the record as it is. Returns the record saved.
    func update(_ id: String, _ change: (inout ContainerRecord) -> Bool) throws -> ContainerRecord? {
        guard let container = containers.actor(id) else { return nil }
        return try container.saving.locked { () throws -> ContainerRecord? in
            guard var record = containers[id], change(&record) else { return nil }
            try persist(record, durable: true)
            return record
        }
    }

    func find(_ ref: String) throws -> ContainerRecord { try containers.find(ref) }

    /// The actor of a container that exists.
    func container(_ id: String) throws -> Container {
        guard let container = containers.actor(id) else { throw EngineError.noSuchContainer(id) }
        return container
    }

    // MARK: create

    /// `criLogPath`: a second log in the kubelet's format, for a CRI container.
    public func create(name requested: String?, config body: ContainerConfig, host: HostConfig,
                       networking: NetworkingConfig? = nil, criLogPath: String? = nil) async throws -> ContainerCreateResponse {
        guard let imageRef = body.Image, !imageRef.isEmpty else { throw EngineError.invalid("config cannot be empty in order to create a container") }
        let image: ImageRecord
        do { image = try await images.resolve(imageRef) } catch ImageError.notFound {
            throw EngineError.notFound("No such image: \(imageRef)")
        }
        let imageConfig = try await images.config(image)
        var host = host
        try Self.validate(host)
        try Self.validateNamespaceModes(body, host, remapped: config.remap != nil)
        try adaptSharedNamespaces(&host)
        let warnings = try ResourceChecks.verify(&host, features: .host, cpus: Self.onlineCPUs, update: false)
        if config.remap != nil && host.Privileged == true && host.UsernsMode != "host" {
            throw EngineError.invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
        }
        var id = ""
        repeat { id = Self.randomID() } while containers[id] != nil
        let name = try reserveName(requested, for: id)
        do {
            return try await create(id: id, name: name, config: body, host: host, image: image, imageConfig: imageConfig,
                                    networking: networking, criLogPath: criLogPath, warnings: warnings)
        } catch {
            containers.release(name, for: id)
            throw error
        }
    }

    private func create(id: String, name: String, config body: ContainerConfig, host: HostConfig, image: ImageRecord,
                        imageConfig: ImageConfig, networking: NetworkingConfig?, criLogPath: String?,
                        warnings: [String]) async throws -> ContainerCreateResponse {
        var host = host
        let imageRef = body.Image ?? ""
        let links = try normalizedLinks(host.Links, parent: name, mode: host.NetworkMode)

        var merged = body
        let ic = imageConfig.config
        // moby's merge: with no variables or volumes of the client's, the image's are kept as
        // they are (none is Go's nil, shown as null)
        let env = Self.mergeEnv(ic?.env ?? [], body.Env ?? [])
        merged.Env = env.isEmpty ? ic?.env : env
        if body.Entrypoint == nil {
            merged.Entrypoint = ic?.entrypoint
            merged.Cmd = body.Cmd ?? ic?.cmd
        }
        merged.WorkingDir = body.WorkingDir.flatMap { $0.isEmpty ? nil : $0 } ?? ic?.workingDir ?? ""
        merged.User = body.User.flatMap { $0.isEmpty ? nil : $0 } ?? ic?.user ?? ""
        merged.StopSignal = body.StopSignal ?? ic?.stopSignal
        merged.Healthcheck = HealthMonitor.merge(body.Healthcheck, image: ic?.healthcheck)
        merged.Labels = (ic?.labels ?? [:]).merging(body.Labels ?? [:]) { $1 }
        merged.ExposedPorts = (ic?.exposedPorts ?? [:]).mapValues { _ in EmptyJSON() }.merging(body.ExposedPorts ?? [:]) { $1 }
        let declared = (ic?.volumes ?? [:]).mapValues { _ in EmptyJSON() }.merging(body.Volumes ?? [:]) { $1 }
        merged.Volumes = declared.isEmpty ? ic?.volumes.map { $0.mapValues { _ in EmptyJSON() } } : declared
        merged.Hostname = body.Hostname.flatMap { $0.isEmpty ? nil : $0 }
            ?? (host.NetworkMode == "host" || host.UTSMode == "host" ? Self.hostName() : String(id.prefix(12)))
        merged.Image = imageRef
        let command = (merged.Entrypoint ?? []) + (merged.Cmd ?? [])
        guard let path = command.first else { throw EngineError.invalid("no command specified") }

        host = Self.withDefaults(host, logDriver: config.logDriver)
        host.Links = links

        var record = ContainerRecord(id: id, name: name, created: Timestamp.now(), imageID: image.id.description, imageName: imageRef,
                                     path: path, args: Array(command.dropFirst()), config: merged, hostConfig: host,
                                     state: ContainerRecord.initialState())
        record.endpoints = try await endpointsForCreate(host, networking, macAddress: body.MacAddress)
        record.criLogPath = criLogPath
        try FileIO.makeDirectories(containerDir(id), mode: 0o710)
        // a remapped root reaches its /etc files here: group search only, nothing to read
        if let idmap = idmap(for: record) { chown(containerDir(id), 0, idmap.gid) }
        do {
            record.mounts = try resolveMounts(merged, host, for: id)
            try prepareLayers(id, image: try await images.topChain(image))
            record.driverData = images.snapshotter.driverData(key: id)
            try save(record)
            emit(record, "create")
        } catch {
            // the volumes made for it alone go with it (resolveMounts may have failed half way)
            for name in volumes.drop(container: id) where (try? volumes.store.get(name))?.anonymous == true {
                log.attempt("removing volume \(name) of a container whose create failed") { try volumes.store.remove(name, force: true) }
            }
            // each may not exist yet; what is left over has no record and is swept at the next start
            try? images.snapshotter.removeLeaf(key: id)  // swept: an orphan snapshot
            try? images.snapshotter.removeLeaf(key: Self.initKey(id))  // swept: an orphan snapshot
            try? FileIO.removeTree(bundlePath(id))  // swept: a bundle without a record
            try? FileIO.removeTree(containerDir(id))  // swept: a directory without a record
            containers[id] = nil
            throw error
        }
        return ContainerCreateResponse(Id: id, Warnings: warnings)
    }

    static func initKey(_ id: String) -> String { id + "-init" }

    static var onlineCPUs: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        return String(cString: buffer)
    }

    /// The container's writable layer on its init layer, on the image.
    func prepareLayers(_ id: String, image top: String?) throws {
        let snapshotter = images.snapshotter
        let initKey = Self.initKey(id)
        let building = initKey + "-active"
        _ = try snapshotter.prepare(key: building, parent: top)
        do {
            try InitLayer.populate(snapshotter, key: building)
            try snapshotter.commit(key: building, as: initKey)
        } catch {
            try? snapshotter.removeLeaf(key: building)  // else an orphan, swept at the next start
            throw error
        }
        _ = try snapshotter.prepare(key: id, parent: initKey)
    }

    /// 64 hex digits whose 12-digit short form is never all decimal digits: the short ID is the
    /// container's hostname, and resolvers read an all-digit name as an IPv4 number (moby's
    /// stringid rule; one ID in 280 would otherwise break `hostname -i`).
    public static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let id = bytes.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined()
            if !id.prefix(12).allSatisfy(\.isNumber) { return id }
        }
    }

    /// Validates and takes a name for container `id` (a generated one when none is asked for).
    func reserveName(_ requested: String?, for id: String) throws -> String {
        guard let requested, !requested.isEmpty else {
            for attempt in 0..<10 {
                let name = NameGenerator.generate(retry: attempt)
                if (try? containers.reserve(name, for: id)) != nil { return name }
            }
            let name = NameGenerator.generate(retry: 1) + String(Int.random(in: 0..<1000))
            try containers.reserve(name, for: id)
            return name
        }
        let name = requested.hasPrefix("/") ? String(requested.dropFirst()) : requested
        let valid = name.utf8.count >= 2 && name.utf8.enumerated().allSatisfy { i, c in
            let alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            return i == 0 ? alnum : alnum || c == 95 || c == 46 || c == 45
        }
        guard valid else { throw EngineError.invalid("Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") }
        try containers.reserve(name, for: id)
        return name
    }

    public var usernsRemapped: Bool { config.remap != nil }

    /// The daemon's `--userns-remap` maps, unless the container opted out with `--userns=host`.
    func idmap(for record: ContainerRecord) -> IDMap? {
        record.hostConfig.UsernsMode == "host" ? nil : config.remap
    }

    /// What dockerd fills in at create for what the client left unset, so inspect answers as
    /// dockerd's does.
    static func withDefaults(_ given: HostConfig, logDriver: String = "json-file") -> HostConfig {
        var host = given
        if (host.NetworkMode ?? "").isEmpty { host.NetworkMode = "default" }
        if host.LogConfig == nil { host.LogConfig = LogConfig() }
        if (host.LogConfig?.Type ?? "").isEmpty { host.LogConfig?.Type = logDriver }
        if host.LogConfig?.Config == nil { host.LogConfig?.Config = [:] }
        if host.RestartPolicy == nil { host.RestartPolicy = RestartPolicy(Name: "no", MaximumRetryCount: 0) }
        if (host.RestartPolicy?.Name ?? "").isEmpty { host.RestartPolicy?.Name = "no" }
        if host.RestartPolicy?.MaximumRetryCount == nil { host.RestartPolicy?.MaximumRetryCount = 0 }
        if (host.CgroupnsMode ?? "").isEmpty { host.CgroupnsMode = SpecBuilder.defaultCgroupnsMode }
        if (host.Runtime ?? "").isEmpty { host.Runtime = Self.defaultRuntime }
        if host.Isolation == nil { host.Isolation = "" }
        if host.ConsoleSize == nil { host.ConsoleSize = [0, 0] }
        if host.ContainerIDFile == nil { host.ContainerIDFile = "" }
        if host.Cgroup == nil { host.Cgroup = "" }
        if host.CgroupParent == nil { host.CgroupParent = "" }
        for path in [\HostConfig.BlkioDeviceReadBps, \.BlkioDeviceWriteBps, \.BlkioDeviceReadIOps, \.BlkioDeviceWriteIOps] where host[keyPath: path] == nil {
            host[keyPath: path] = []
        }
        if host.BlkioWeightDevice == nil { host.BlkioWeightDevice = [] }
        // moby's adaptContainerSettings: what the daemon chose is stored, so inspect shows it.
        if (host.ShmSize ?? 0) <= 0 { host.ShmSize = SpecBuilder.defaultShmSize }
        if let m = host.Memory, m > 0, (host.MemorySwap ?? 0) == 0 { host.MemorySwap = SpecBuilder.defaultSwap(m) }
        if (host.IpcMode ?? "").isEmpty { host.IpcMode = "private" }
        if host.KernelMemory == nil { host.KernelMemory = 0 }
        if host.OomKillDisable == nil { host.OomKillDisable = false }  // also after v2 discarded it
        if host.KernelMemoryTCP == nil { host.KernelMemoryTCP = 0 }
        if let p = host.PidsLimit, p <= 0 { host.PidsLimit = nil }  // 0 and -1 both mean unlimited
        if host.Privileged != true {
            if host.MaskedPaths == nil { host.MaskedPaths = SpecBuilder.defaultMaskedPaths }
            if host.ReadonlyPaths == nil { host.ReadonlyPaths = SpecBuilder.defaultReadonlyPaths }
        }
        return host
    }

    /// The log drivers this engine runs, with the options each takes (moby's lists; `none` takes
    /// anything; `mode` and `max-buffer-size` go to every driver, and need nothing here: the shim
    /// never blocks on its log).
    static let logDrivers: [String: Set<String>] = [
        "json-file": ["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"],
        "local": ["max-size", "max-file", "compress"],
        "none": [],
    ]
    public static var logDriverNames: [String] { logDrivers.keys.sorted() }
    /// The runtime a container names when its client names none: dockerd's name for its
    /// default, which clients compare (docker-py's suite does); it runs berth-runtime, as
    /// `info`'s runtimes say, and `berth-runtime` is taken as a name too.
    public static let defaultRuntime = "runc"
    /// The driver a container gets when it names none.
    public var logDriver: String { config.logDriver }

    /// Docker's checks on the host config's other settings, with its messages (resources: `ResourceChecks`).
    static func validate(_ host: HostConfig) throws {
        if let parent = host.CgroupParent, parent.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
            throw EngineError.invalid("invalid cgroup parent \(parent): it may not contain . or .. components")
        }
        if let driver = host.LogConfig?.Type, !driver.isEmpty {
            guard let options = logDrivers[driver] else { throw EngineError.invalid("logger: no log driver named '\(driver)' is registered") }
            for key in (host.LogConfig?.Config ?? [:]).keys.sorted() where driver != "none" && !options.contains(key) && !["mode", "max-buffer-size"].contains(key) {
                // each driver's own words in moby
                throw EngineError.invalid(driver == "local" ? "unknown log opt '\(key)' for log driver local" : "unknown log opt '\(key)' for \(driver) log driver")
            }
        }
        if let mode = host.CgroupnsMode, !["", "private", "host"].contains(mode) {
            throw EngineError.invalid("invalid cgroup namespace mode: \(mode)")
        }
        if let runtime = host.Runtime, !["", "runc", "berth-runtime"].contains(runtime) {
            throw EngineError.invalid("unknown or invalid runtime name: \(runtime)")
        }
        if let isolation = host.Isolation, !["", "default"].contains(isolation) {
            throw EngineError.invalid("Invalid isolation: \"\(isolation)\" - linux only supports 'default'")
        }
        for rule in host.DeviceCgroupRules ?? [] { _ = try SpecBuilder.deviceCgroupRule(rule) }
        // overlay2's checks in moby, in its order: sizes need xfs project quotas (none here)
        if let options = host.StorageOpt, !options.isEmpty {
            if options["size"] != nil { throw EngineError.invalid("--storage-opt is supported only for overlay over xfs with 'pquota' mount option") }
            throw EngineError.invalid("Unknown option \(options.keys.sorted()[0])")
        }
        let restart = try RestartRule(validating: host.RestartPolicy)
        if let mode = host.UsernsMode, !["", "host"].contains(mode) { throw EngineError.invalid("invalid USER mode: \(mode)") }
        if host.AutoRemove == true && restart != .never {
            throw EngineError.invalid("conflicting options: cannot specify both --restart and --rm")
        }
    }

    static func mergeEnv(_ base: [String], _ overrides: [String]) -> [String] {
        var out = base
        for entry in overrides {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if let i = out.firstIndex(where: { $0 == key || $0.hasPrefix(key + "=") }) { out[i] = entry } else { out.append(entry) }
        }
        return out
    }

    // MARK: start

    /// A build step's variables for its runtime spec only (see `Container.stepEnvironment`).
    func setStepEnvironment(_ id: String, _ environment: [String]) async throws {
        try await container(id).run { $0.stepEnvironment = environment }
    }

    public func start(_ ref: String) async throws {
        try await serialized(ref) { try await startHeld($0) }
    }

    func startHeld(_ id: String) async throws {
        var record = try find(id)
        if record.state.Running { throw EngineError.notModified }
        let bundle = bundlePath(id)
        try FileIO.makeDirectories(bundle + "/rootfs", mode: 0o711)
        let rootfs = bundle + "/rootfs"
        let idmap = idmap(for: record)
        let container = try self.container(id)
        let snapshotter = images.snapshotter
        try await container.holding(.rootfs) {
            let busy = await container.rootfsUsers > 0
            try await Threads.run {
                if idmap != nil && Self.isMounted(rootfs) {
                    // mounted as stored by cp or a build step: the container needs its idmapped view
                    guard !busy else { throw EngineError.conflict("container \(id) is busy: a copy or commit is in progress") }
                    try Mounter.unmount(rootfs, detach: true)
                }
                if !Self.isMounted(rootfs) { try snapshotter.mounts(key: id).mount(at: rootfs, idmap: idmap) }
            }
        }
        var mountsHeld = false
        do {
            if config.cpuRealtime != (0, 0), let manager = try Cgroups.manager(path: record.cgroupPath) as? V1CgroupManager {
                let budget = config.cpuRealtime
                try await Threads.run { try manager.grantRealtimeToParents(period: budget.period, runtime: budget.runtime) }
            }
            let mounts = try await prepareMounts(record, rootfs: rootfs)
            mountsHeld = true
            let network = try await setUpNetwork(&record)
            let links = record.endpoints?["bridge"] != nil ? try legacyLinks(record) : []
            try writeEtcFiles(record, network, extraHosts: Self.linkHosts(links))
            let linkEnv = links.flatMap { Self.linkEnvironment(alias: $0.alias, parent: record.name, target: $0.target, ip: $0.ip) }
            var spec = try SpecBuilder.build(record, rootfs: rootfs, containerDir: containerDir(id), network: network.namespace,
                                             mounts: mounts, defaultUlimits: config.defaultUlimits, idmap: idmap, linkEnv: linkEnv,
                                             namespaces: try namespaceJoins(record))
            let extra = await container.stepEnvironment
            if !extra.isEmpty {
                let env = spec.process?.env ?? []
                spec.process?.env = Self.mergeEnv(env, extra)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            // The bundle lives in the exec root: rewritten at every start, dead after a power cut
            // with the container it describes, so no fsync (0.5-1 ms of a start where /run is a disk).
            try AtomicFile.write(bundle + "/config.json", Array(try encoder.encode(spec)), durable: false)
            let logRotation = logRotation(record), logFile = logFile(record)
            if let logFile { try FileIO.makeDirectories(AtomicFile.parentDirectory(of: logFile.path), mode: 0o700) }
            let shimConfig = ShimConfig(id: id, bundle: bundle, runtimeRoot: config.runtimeRoot, socket: socketPath(id),
                                        logPath: logFile?.path ?? "", logMaxSize: logRotation.maxSize, logMaxFiles: logRotation.maxFiles,
                                        exitFile: bundle + "/exit.json", tty: record.config.Tty == true,
                                        openStdin: record.config.OpenStdin == true, stdinOnce: record.config.StdinOnce == true,
                                        criLogPath: record.criLogPath, logAttributes: try Self.logAttributes(record),
                                        logFormat: logFile?.format.rawValue, logCompress: logRotation.compress)
            try AtomicFile.write(bundle + "/shim.json", Array(try encoder.encode(shimConfig)), durable: false)
            unlink(bundle + "/exit.json")
            // the task's creation waits on the blocking pool: other containers go on
            try await tasks.create(id, bundle: bundle)
            for pending in await container.takePendingAttaches() {
                do { pending.connected(.success(try await task(id).attach(stdin: pending.stdin, stdout: pending.stdout, stderr: pending.stderr))) } catch {
                    pending.connected(.failure(error))
                }
            }
            try tasks.watch(id)
            let pid = try await task(id).start()
            try record.move(to: .running)
            record.state.OOMKilled = false
            record.state.Pid = pid
            record.state.ExitCode = 0
            record.state.Error = ""
            record.state.StartedAt = Timestamp.now()
            record.state.FinishedAt = ContainerRecord.zeroTime
            record.stoppedByUser = false
            containers[id] = record
            await startHealthChecks(id, reset: true)
            record = containers[id] ?? record
            try save(record, durable: false)
            emit(record, "start")
        } catch {
            for pending in await container.takePendingAttaches() { pending.connected(.failure(error)) }
            if FileIO.exists(socketPath(id)) { try? await task(id).kill(SIGKILL) }  // refused: the task is already gone
            await tearDownNetwork(&record)
            if mountsHeld { releaseMounts(record) }
            containers[id] = record
            await unmountIdle(id)
            record.state.Error = "\(error)"
            record.state.ExitCode = Self.startFailureCode("\(error)")
            log.attempt("saving container \(id)") { try save(record) }
            if record.hostConfig.AutoRemove == true { await log.attempt("auto-removing container \(id)") { try await removeHeld(id, force: true) } }
            throw error
        }
    }

    /// The runtime's message for a failed start, as Docker words it (`exec: "x": executable file not found`).
    static func startError(_ output: String) -> EngineError {
        .invalid("failed to create task for container: failed to create shim task: OCI runtime create failed: \(output): unknown")
    }

    /// The exit code Docker records for a process that never started: 127 when the command is
    /// missing, 126 when it cannot be executed, 128 otherwise (the CLI exits with it).
    public static func startFailureCode(_ message: String) -> Int32 {
        if message.contains("executable file not found") || message.contains("no such file or directory") { return 127 }
        if message.contains("permission denied") { return 126 }
        return 128
    }

    public static func parseSize(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        let lower = text.lowercased()
        if let unit = lower.last, let mult = units[unit], let n = Int64(lower.dropLast()) {
            let (bytes, overflow) = n.multipliedReportingOverflow(by: mult)  // a client's `max-size=99999999999g` must not trap
            return overflow ? nil : bytes
        }
        return Int64(lower)
    }

    static func isMounted(_ path: String) -> Bool { Mounter.mountPoints(under: path).contains(path) }

    // MARK: exit

    /// The cgroup a task left behind: its shim's delete gave up (still busy after its retries), or
    /// no shim lived to run it. Emptied and removed, so nothing stays charged to a stopped container.
    func removeLeftoverCgroup(_ path: String) {
        guard Cgroups.exists(path: path) else { return }
        log.attempt("removing the cgroup \(path) a container left") {
            let cgroup = try Cgroups.manager(path: path)
            for pid in try cgroup.processes() { Glibc.kill(pid, SIGKILL) }
            try cgroup.destroy()
        }
    }

    /// What an exit leads to once its bookkeeping is done (outside the container's gate, which
    /// those operations take themselves).
    enum AfterExit { case nothing, remove, restart(afterMilliseconds: UInt64) }

    /// An exit, processed under the container's gate: a `rename` or `update` that arrived while
    /// the network was being torn down is not overwritten by a stale copy of the record.
    func exited(_ id: String, _ status: ExitStatus?) async {
        await stopHealthChecks(id)
        let next: AfterExit
        do { next = try await serialized(id) { try await exitedHeld($0, status) } } catch {
            return log.debug("exit of container \(id) not recorded: \(error)")  // removed meanwhile
        }
        switch next {
        case .nothing: break
        case .remove:
            await log.attempt("auto-removing container \(id)") {
                do { try await remove(id, force: true) } catch let error where ErrorCode.of(error) == .notFound {}  // a client's rm came first
            }
        case .restart(let delay):
            Task {
                try? await Task.sleep(nanoseconds: delay * 1_000_000)  // only a cancellation ends it early
                await self.log.attempt("restarting container \(id)") { try await self.restartAfterExit(id) }
            }
        }
    }

    private func exitedHeld(_ id: String, _ status: ExitStatus?) async throws -> AfterExit {
        var record = try find(id)
        let status = status ?? ExitStatus(exitCode: 255, oomKilled: false, finishedAt: Timestamp.now())
        guard record.lifecycle.canMove(to: .exited) else {
            // The shim of a start that failed: the container stays as it was (`created`, as in
            // dockerd), with the start's error and exit code, which its waiters hear.
            log.debug("exit of container \(id) reported while it was \(record.lifecycle.rawValue): its start failed")
            removeLeftoverCgroup(record.cgroupPath)
            await containers.actor(id)?.resume(.exit, exitCode: record.state.ExitCode)
            return .nothing
        }
        try record.move(to: .exited)
        await containers.actor(id)?.exitBegins()
        record.state.Pid = 0
        record.state.ExitCode = status.exitCode
        record.state.OOMKilled = status.oomKilled
        record.state.FinishedAt = status.finishedAt
        await tearDownNetwork(&record)
        releaseMounts(record)
        // An auto-removed container's exit is followed at once by its removal; if a crash comes
        // between, the next start removes it whatever its stored state (`restore`), so the
        // exit's save needs no fsync there.
        let autoRemove = record.hostConfig.AutoRemove == true
        log.attempt("saving container \(id)") { try save(record, durable: !autoRemove) }
        await unmountIdle(id)
        removeLeftoverCgroup(record.cgroupPath)
        if status.oomKilled { emit(record, "oom") }
        emit(record, "die", ["exitCode": String(status.exitCode)])
        await containers.actor(id)?.resume(.exit, exitCode: status.exitCode)
        if autoRemove { return .remove }
        guard RestartRule(record.hostConfig.RestartPolicy).restartsAfterExit(code: status.exitCode, restarts: record.restartCount,
                                                                             stoppedByUser: record.stoppedByUser) else { return .nothing }
        record.restartCount += 1
        try record.move(to: .restarting)
        log.attempt("saving container \(id)") { try save(record) }
        let ran = (Timestamp.parse(record.state.FinishedAt) ?? 0) - (Timestamp.parse(record.state.StartedAt) ?? 0)
        return .restart(afterMilliseconds: RestartRule.delay(restart: record.restartCount, ranSeconds: ran))
    }

    func restartAfterExit(_ id: String) async throws {
        guard let record = containers[id], record.state.Restarting, !record.stoppedByUser else { return }
        try await start(id)
    }

    // MARK: stop, kill, wait, pause

    /// The signal goes out under the container's gate; the wait for the exit does not hold it,
    /// so a `kill` or `rm -f` meanwhile is not held up by the grace period (as in dockerd).
    public func stop(_ ref: String, timeout: Int?, signal: String?) async throws {
        let (record, sig, grace) = try await serialized(ref) { id -> (ContainerRecord, Int32, Int) in
            var record = try find(id)
            guard record.state.Running else {
                if record.lifecycle == .restarting {
                    record.stoppedByUser = true
                    try record.move(to: .exited)
                    try save(record)
                }
                throw EngineError.notModified
            }
            record.stoppedByUser = true
            let sig = try Signal.parse(signal ?? record.config.StopSignal ?? "SIGTERM")
            do { try await send(sig, to: &record) } catch let error where ErrorCode.of(error) == .conflict {
                log.debug("container \(id) exited before its stop signal")  // its exit is on the way
            } catch {
                log.warning("signalling container \(id): \(error)")
            }
            try save(record)
            emit(record, "kill", ["signal": String(sig)])
            return (record, sig, timeout ?? record.config.StopTimeout ?? 10)
        }
        let id = record.id
        if grace > 0, await waitForExit(id, seconds: Double(grace)) {
            emit(record, "stop")
            return
        }
        if grace > 0 { log.info("Container \(id) failed to exit within \(grace) seconds of signal \(sig) - using the force") }
        emit(record, "kill", ["signal": String(SIGKILL)])
        await forceKill(id)
        emit(record, "stop")
    }

    /// SIGKILL under the container's gate, a frozen container thawed after it (or it would never
    /// die), and the exit awaited outside the gate; again if a `pause` froze the dying container
    /// in between, as the first storm of concurrent operations found.
    func forceKill(_ id: String) async {
        for _ in 0..<3 {
            let signalled: Bool
            do {
                signalled = try await serialized(id) { id in
                    var record = try find(id)
                    guard record.lifecycle.hasProcess else { return false }
                    record.stoppedByUser = true
                    try await send(SIGKILL, to: &record)
                    try save(record)
                    return true
                }
            } catch let error where ErrorCode.of(error) == .conflict {
                signalled = true  // exited before the signal (its shim is gone): the exit is on its way
            } catch let error where ErrorCode.of(error) == .notFound {
                return  // removed meanwhile
            } catch {
                return log.warning("killing container \(id): \(error)")
            }
            if !signalled { return }
            if await waitForExit(id, seconds: 10) { return }
        }
        log.error("container \(id) did not exit 30 seconds after SIGKILL")
    }

    public func restart(_ ref: String, timeout: Int?, signal: String?) async throws {
        let record = try find(ref)
        do { try await stop(record.id, timeout: timeout, signal: signal) } catch let error where ErrorCode.of(error) == .notModified {}
        try await start(record.id)
        emit(record, "restart")
    }

    /// SIGKILL (the default) returns once the container is down, as dockerd's `Kill` waits for
    /// the exit, so an inspect right after sees it stopped; other signals return at once.
    public func kill(_ ref: String, signal: String?) async throws {
        let (id, sig) = try await serialized(ref) { id -> (String, Int32) in
            var record = try find(id)
            guard record.state.Running else {
                throw EngineError.conflict("Cannot kill container: \(ref): Container \(record.id) is not running")
            }
            let sig: Int32
            do { sig = try Signal.parse(signal.flatMap { $0.isEmpty ? nil : $0 } ?? "SIGKILL") } catch {
                throw EngineError.invalid("Invalid signal: \(signal ?? "")")
            }
            if sig == SIGKILL || sig == SIGTERM { record.stoppedByUser = true }
            try await send(sig, to: &record)
            try save(record)
            emit(record, "kill", ["signal": String(sig)])
            return (id, sig)
        }
        if sig == SIGKILL, !(await waitForExit(id, seconds: 10)) { await forceKill(id) }
    }

    /// Signals the container's init. A frozen container is thawed after the signal, as moby does:
    /// the signal would otherwise wait for an unpause, and a stop for its whole timeout and more.
    func send(_ signal: Int32, to record: inout ContainerRecord) async throws {
        try await task(record.id).kill(signal)
        if record.lifecycle == .paused {
            try await task(record.id).resume()
            try record.move(to: .running)
        }
    }

    /// True if the container exited within `seconds`.
    func waitForExit(_ id: String, seconds: Double) async -> Bool {
        let waiter = Waiter()
        guard await waitForExit(id, waiter) else { return true }
        let timeout = Task {
            try? await Task.sleep(nanoseconds: UInt64(min(max(seconds, 0), 1e9) * 1e9))  // `-t` may be any integer
            waiter.resume()
        }
        await waiter.wait()
        timeout.cancel()
        return containers[id]?.state.Running != true
    }

    /// Registers `waiter` for the container's next exit if it is running now (any exit when
    /// `always`); false if it is not (or gone). The waiter carries the exit code, because the
    /// container may be gone (`--rm`) by the time the waiting task runs again.
    func waitForExit(_ id: String, _ waiter: Waiter, always: Bool = false) async -> Bool {
        guard let container = containers.actor(id) else { return false }
        let containers = containers
        return await container.add(waiter, for: .exit) { always || containers[id]?.state.Running == true }
    }

    public func wait(_ ref: String, condition: String?) async throws -> WaitResponse {
        let record = try find(ref)
        let id = record.id
        let waiter = Waiter()
        let registered: Bool
        switch condition ?? "not-running" {
        case "removed":
            let containers = containers
            registered = await containers.actor(id)?.add(waiter, for: .removal) { containers[id] != nil } ?? false
        case "next-exit":
            registered = await waitForExit(id, waiter, always: true)
        default:
            registered = await waitForExit(id, waiter)
        }
        if registered { await waiter.wait() }
        return WaitResponse(StatusCode: waiter.exitCode ?? containers[id]?.state.ExitCode ?? record.state.ExitCode)
    }

    public func pause(_ ref: String) async throws {
        try await serialized(ref) { try await pauseHeld($0) }
    }

    func pauseHeld(_ id: String) async throws {
        var record = try find(id)
        guard record.state.Running else { throw EngineError.conflict("Container \(record.id) is not running") }
        guard !record.state.Paused else { throw EngineError.conflict("Container \(record.id) is already paused") }
        try await task(record.id).pause()
        try record.move(to: .paused)
        await stopHealthChecks(record.id)
        try save(record)
        emit(record, "pause")
    }

    public func unpause(_ ref: String) async throws {
        try await serialized(ref) { try await unpauseHeld($0) }
    }

    func unpauseHeld(_ id: String) async throws {
        var record = try find(id)
        guard record.state.Paused else { throw EngineError.conflict("Container \(record.id) is not paused") }
        try await task(record.id).resume()
        try record.move(to: .running)
        try save(record)
        await startHealthChecks(record.id, reset: false)
        emit(record, "unpause")
    }

    // MARK: remove

    /// `volumes` (`rm -v`) also removes the container's anonymous volumes.
    /// A running container (with `force`) is killed under its gate and its exit awaited outside
    /// it, since recording the exit takes the gate; then it is removed under the gate.
    public func remove(_ ref: String, force: Bool, volumes removeVolumes: Bool = false) async throws {
        if let record = try? find(ref), record.lifecycle == .removing {
            throw EngineError.conflict("removal of container \(record.id) is already in progress")
        }
        for _ in 0..<3 {
            let running: String? = try await serialized(ref) { id in
                let record = try find(id)
                guard record.lifecycle.hasProcess else {
                    try await removeHeld(id, force: force, volumes: removeVolumes)
                    return nil
                }
                guard force else {
                    throw EngineError.conflict("cannot remove container \"/\(record.name)\": container is running: stop the container before removing or force remove")
                }
                return id
            }
            guard let running else { return }
            await forceKill(running)
        }
        throw EngineError.conflict("cannot remove container \(ref): it was started again while being removed")
    }

    /// Removes a container that has no process (the caller holds its gate).
    func removeHeld(_ id: String, force: Bool, volumes removeVolumes: Bool = false) async throws {
        let record = try find(id)
        if record.state.Restarting && !record.state.Running {
            guard force else {
                throw EngineError.conflict("cannot remove container \"/\(record.name)\": container is restarting: stop the container before removing or force remove")
            }
            var r = record
            r.stoppedByUser = true  // the pending restart finds this and does not start it
            try save(r)
        }
        // what inspect and ps show meanwhile, and what a second rm is refused for (not stored)
        var removing = containers[id] ?? record
        try removing.move(to: .removing)
        containers[id] = removing
        await networks.tearDown(container: id)
        // The commit point: once the record's directory is renamed away the container is gone,
        // and a crash past here leaves only what `sweepOrphans` clears at the next start.
        let doomed = config.containersRoot + "/removing-" + id
        do { try sys("rename", containerDir(id)) { Glibc.rename(containerDir(id), doomed) } } catch {
            containers[id] = record
            throw error
        }
        try? Mounter.unmount(bundlePath(id) + "/rootfs", detach: true)  // not mounted unless it ran
        // A shareable container's /dev/shm, when its exit was never seen (only those read mountinfo).
        if record.hostConfig.IpcMode == "shareable" && Self.isMounted(doomed + "/mounts/shm") {
            log.attempt("unmounting container \(id)'s shared /dev/shm") { try Mounter.unmount(doomed + "/mounts/shm", detach: true) }
        }
        // past the commit point a failure here leaves what the next boot's sweep removes; say so
        // nothing is ever made on a container's layers but its writable layer on its init layer
        var trees = [doomed]
        log.attempt("removing container \(id)'s writable layer") { trees.append(try images.snapshotter.detachLeaf(key: id)) }
        log.attempt("removing container \(id)'s init layer") { trees.append(try images.snapshotter.detachLeaf(key: Self.initKey(id))) }
        log.attempt("removing container \(id)'s bundle") { try FileIO.removeTree(bundlePath(id)) }
        deleteInBackground(trees, of: id)
        let final = containers[id] ?? record
        let container = try self.container(id)
        await container.setHealthTask(nil)
        for pending in await container.takePendingAttaches() { pending.connected(.failure(EngineError.noSuchContainer(id))) }
        containers[id] = nil
        execs.mutate { $0 = $0.filter { $0.value.containerID != id } }
        emit(final, "destroy")
        let unused = volumes.drop(container: id)
        if removeVolumes {
            for m in final.mounts ?? [] where m.anonymous && unused.contains(m.source) {
                await log.attempt("removing volume \(m.source) of container \(id)") { try await volumes.remove(m.source, force: true) }
            }
        }
        await container.resume(.exit, exitCode: final.state.ExitCode)
        await container.resume(.removal, exitCode: final.state.ExitCode)
    }

    /// The renamed-away directories of a removed container, deleted on the blocking pool: the
    /// container is gone once they are renamed, and their unlinks on the disk were most of an
    /// `rm`'s time (and of `run --rm`'s wait for it). What a crash cuts short, the next boot's
    /// sweeps finish.
    func deleteInBackground(_ trees: [String], of id: String) {
        let log = log
        BlockingPool.shared.submit {
            for tree in trees {
                do { try FileIO.removeTree(tree) } catch { log.warning("removing container \(id)'s \(tree): \(error)") }
            }
        }
    }

    /// Stopped containers that `filters` (until, label, label!) select.
    public func prune(filters: [String: [String]]) async throws -> PruneReport {
        let filters = try PruneFilters(filters, accepted: ["until", "label", "label!"])
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for record in containers.values where !record.state.Running
            && filters.selects(created: Timestamp.parse(record.created), labels: record.config.Labels) {
            reclaimed += images.snapshotter.usage(key: record.id)
            do {
                try await remove(record.id, force: false)
                deleted.append(record.id)
            } catch {
                log.warning("container prune: removing container \(record.id): \(error)")
            }
        }
        return PruneReport(ContainersDeleted: deleted, SpaceReclaimed: reclaimed)
    }

    public func rename(_ ref: String, to newName: String) async throws {
        try await serialized(ref) { try renameHeld($0, to: newName) }
    }

    func renameHeld(_ id: String, to newName: String) throws {
        var record = try find(id)
        let wanted = newName.hasPrefix("/") ? String(newName.dropFirst()) : newName
        if wanted == record.name { throw EngineError.invalid("Renaming a container with the same name as its current name") }
        let name = try reserveName(newName, for: id)
        let before = record
        record.name = name
        do { try save(record) } catch {
            containers[id] = before  // the old name back in memory, the new one free again
            throw error
        }
        emit(record, "rename", ["oldName": "/" + before.name])
    }

    // MARK: attach and logs

    /// Connects an attach (now, or at start if the container has not started); the callback gets
    /// the shim connection after its acknowledgement line.
    public func attach(_ ref: String, _ pending: PendingAttach) async throws -> (id: String, tty: Bool) {
        let record = try find(ref)
        if record.state.Running {
            do {
                pending.connected(.success(try await task(record.id).attach(stdin: pending.stdin, stdout: pending.stdout, stderr: pending.stderr)))
            } catch {
                // The process exited between its start and this attach (`compose run` starts,
                // then attaches): its exit is on the way, and the stream just ends, as dockerd's
                // does for a container whose output is over.
                log.debug("attach to \(record.id) found its shim gone: \(error)")
                pending.connected(.failure(error))
            }
        } else if record.state.Status == "created" || record.state.Restarting || record.state.Status == "exited" {
            try await container(record.id).run { $0.pendingAttaches.append(pending) }
        }
        return (record.id, record.config.Tty == true)
    }

    public struct LogSource: Sendable {
        public var paths: [String]
        public var format: LogFormat
        public var running: Bool
        public var id: String
        public var tty: Bool
    }

    /// Where the container's log is written and in which format; nil for the `none` driver.
    /// The local driver's file is not the API's `LogPath`, as in moby (its format is private).
    func logFile(_ record: ContainerRecord) -> (path: String, format: LogFormat)? {
        switch record.hostConfig.LogConfig?.Type {
        case "none": return nil
        case "local": return (containerDir(record.id) + "/local-logs/container.log", .local)
        default: return (logPath(record.id), .jsonFile)
        }
    }

    /// The log's rotation: the container's options, else the daemon's `log-opts`, else the
    /// driver's defaults (json-file: never rotated; local: 20 MB × 5 files, compressed, as dockerd's).
    func logRotation(_ record: ContainerRecord) -> (maxSize: Int64, maxFiles: Int, compress: Bool) {
        let options = record.hostConfig.LogConfig?.Config ?? [:]
        let local = record.hostConfig.LogConfig?.Type == "local"
        let daemonSize = config.logMaxSize > 0 ? config.logMaxSize : local ? 20 << 20 : 0
        let daemonFiles = config.logMaxFiles > 1 || !local ? config.logMaxFiles : 5
        return (options["max-size"].flatMap(Self.parseSize) ?? daemonSize,
                options["max-file"].flatMap { Int($0) } ?? daemonFiles,
                options["compress"].map { $0 != "false" } ?? local)
    }

    /// The log's files, oldest rotation first. A running container's shim first logs what
    /// the container has written so far: `docker logs` right after `start` must find the output
    /// the process wrote before the request, even while the shim has not read it yet.
    public func logSource(_ ref: String) async throws -> LogSource {
        let record = try find(ref)
        guard record.hostConfig.LogConfig?.Type != "none" else {
            throw EngineError.notImplemented("configured logging driver does not support reading")
        }
        if record.state.Running {
            do { try await task(record.id).syncLog() } catch { log.debug("logs of \(record.id): its shim did not sync the log: \(error)") }
        }
        let file = logFile(record) ?? (logPath(record.id), .jsonFile)
        return LogSource(paths: LogFiles.paths(base: file.path), format: file.format, running: record.state.Running, id: record.id, tty: record.config.Tty == true)
    }

    public func isRunning(_ id: String) -> Bool { containers[id]?.state.Running == true }

    /// Suspends until container `id` exits (now, if it is not running).
    public func exitEvent(_ id: String) async {
        let waiter = Waiter()
        if await waitForExit(id, waiter) { await waiter.wait() }
    }

    public func resize(_ ref: String, height: UInt16, width: UInt16) async throws {
        let record = try find(ref)
        guard record.state.Running else { throw EngineError.conflict("Container \(record.id) is not running") }
        try await task(record.id).resize(width: width, height: height)
    }
}

/// A one-shot wake-up, resumed at most once whoever gets there first (exit, removal, timeout);
/// a resume that comes before the wait is kept.
final class Waiter: @unchecked Sendable {
    private let lock = Lock()
    private var continuation: CheckedContinuation<Void, Never>?
    private var done = false
    /// The exit code it was resumed with; nil for a timeout.
    private(set) var exitCode: Int32?

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = lock.locked { () -> Bool in
                if done { return true }
                continuation = c
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func resume(exitCode code: Int32? = nil) {
        let c = lock.locked { () -> CheckedContinuation<Void, Never>? in
            guard !done else { return nil }
            done = true
            exitCode = code
            defer { continuation = nil }
            return continuation
        }
        c?.resume()
    }
}
