import BerthCRIProto
import BerthEngine
import BerthNetwork
import BerthSystem
import FoundationEssentials
import Glibc
import GRPCCore
import Logging
import SwiftProtobuf

/// What Berth keeps of one pod sandbox. The kubelet's config is stored as sent (protobuf JSON),
/// so status and list answer with exactly its metadata, labels and annotations.
struct PodSandboxRecord: Codable, Sendable {
    var id: String
    var configJSON: String
    var createdAt: Int64
    var ready: Bool
    var runtimeHandler: String
    var addresses: [String]
    /// Whether the pod network is still attached (a stop detaches it once).
    var networkAttached: Bool
    /// The init of the pod's shared PID namespace, when the pod asked for one.
    var pidInit: PodProcess?

    struct PodProcess: Codable, Sendable {
        var pid: Int32
        /// Tells the process from a later one that reuses its pid.
        var startTime: UInt64?
    }

    func config() throws -> Runtime_V1_PodSandboxConfig { try Runtime_V1_PodSandboxConfig(jsonString: configJSON) }
}

/// Pod sandboxes as CRI-O's `pinns` makes them: no pause process, but the pod's network, IPC and
/// UTS namespaces pinned by bind mounts under the exec root (the hostname set inside the UTS one),
/// a /dev/shm tmpfs on the host side, and resolv.conf, hostname and hosts files for its
/// containers to bind. The network namespace is attached to the pod network by the CNI plugins
/// of the first configuration in the CNI directory, as the kubelet's runtimes do. A pod that asks
/// for the node's namespaces gets no pin for them.
///
/// One actor: pod operations are rare next to container ones. Its awaits (namespaces and plugins
/// run on the blocking pool) let operations interleave, so a pod's name is reserved before the
/// first await, and a stop marks the network detached before it runs the plugins' DEL (which the
/// CNI spec makes idempotent, so a concurrent stop is harmless either way).
actor PodSandboxes {
    struct Settings: Sendable {
        /// Records (and the files containers bind), kept across restarts.
        var stateRoot: String
        /// Namespace pins and the /dev/shm mount: gone with a reboot, as the namespaces are.
        var runRoot: String
        var cniConfigDirectory: String
        var cniBinDirectories: [String]
        /// `berth-shim`, whose `--pod-init` is the init of a pod's shared PID namespace.
        var shimPath: String
    }

    let settings: Settings
    let cni: CNI
    let log: Logger
    private var pods: [String: PodSandboxRecord] = [:]

    init(settings: Settings, log: Logger) throws {
        self.settings = settings
        self.cni = CNI(binDirectories: settings.cniBinDirectories, cacheDirectory: settings.runRoot + "/cni-results")
        self.log = log
        try FileIO.makeDirectories(settings.stateRoot, mode: 0o711)
        try FileIO.makeDirectories(settings.runRoot, mode: 0o711)
        var loaded: [String: PodSandboxRecord] = [:]
        for name in try FileIO.listDirectory(settings.stateRoot) {
            let path = settings.stateRoot + "/" + name + "/sandbox.json"
            guard FileIO.exists(path) else { continue }
            do { loaded[name] = try JSONDecoder().decode(PodSandboxRecord.self, from: Data(try FileIO.read(path))) } catch {
                log.error("pod sandbox \(name) is unreadable and left out: \(error)")
            }
            // After a reboot the pins are gone with the namespaces: the pod is no longer ready (the
            // kubelet makes a new one); its network stays marked attached so the stop releases the lease.
            if var record = loaded[name], record.ready, !FileIO.exists(settings.runRoot + "/" + name) {
                record.ready = false
                loaded[name] = record
                log.warning("CRI: pod sandbox \(name) lost its namespaces (a reboot?): not ready")
            }
        }
        pods = loaded
    }

    /// The pod network's configuration, read at each use (the kubelet's node may write it late).
    func network() -> CNINetwork? {
        do { return try CNINetwork.load(directory: settings.cniConfigDirectory) } catch {
            log.warning("\(error)")
            return nil
        }
    }

    func directory(_ id: String) -> String { settings.stateRoot + "/" + id }
    func pins(_ id: String) -> String { settings.runRoot + "/" + id }

    // MARK: run

    func run(_ config: Runtime_V1_PodSandboxConfig, runtimeHandler: String) async throws -> String {
        guard config.hasMetadata, !config.metadata.name.isEmpty else { throw RPCStatus.invalid("sandbox config must include metadata with a name") }
        guard runtimeHandler.isEmpty else { throw RPCStatus.invalid("no runtime for \"\(runtimeHandler)\" is configured") }
        let wanted = config.metadata
        if let twin = try pods.values.first(where: { try $0.config().metadata == wanted }) {
            throw RPCStatus.exists("failed to reserve sandbox name \"\(Self.name(wanted))\": name is reserved for \"\(twin.id)\"")
        }
        let id = ContainerService.randomID()
        let options = config.linux.securityContext.namespaceOptions
        let network = options.network == .node ? nil : self.network()
        if options.network != .node && network == nil {
            throw RPCStatus.unavailable("failed to setup network for sandbox \"\(id)\": cni plugin not initialized: no network configuration in \(settings.cniConfigDirectory)")
        }
        let dir = directory(id), pinned = pins(id)
        var record = PodSandboxRecord(id: id, configJSON: try config.jsonString(), createdAt: Int64(Timestamp.epochNow() * 1e9),
                                      ready: false, runtimeHandler: runtimeHandler, addresses: [], networkAttached: false)
        pods[id] = record  // the name is taken from here on (listed not ready until it is)
        do {
            try FileIO.makeDirectories(dir, mode: 0o711)
            try FileIO.makeDirectories(pinned, mode: 0o711)
            let hostname = config.hostname.isEmpty ? config.metadata.name : config.hostname
            try await Threads.run { [pinned] () throws in
                if options.network != .node {
                    try PinnedNamespace.create(.uts, at: pinned + "/uts") { () throws(NetworkError) in
                        guard sethostname(hostname, hostname.utf8.count) == 0 else { throw .system("sethostname \(hostname): \(String(cString: strerror(errno)))") }
                    }
                }
                if options.ipc != .node {
                    try PinnedNamespace.create(.ipc, at: pinned + "/ipc")
                    try FileIO.makeDirectories(pinned + "/shm", mode: 0o1777)
                    try Mounter.mount("shm", pinned + "/shm", type: "tmpfs", flags: MountFlag.noexec | MountFlag.nosuid | MountFlag.nodev,
                                      data: "mode=1777,size=65536k")
                }
                if network != nil { try NetworkNamespace.create(at: pinned + "/net") }
            }
            if options.pid == .pod { record.pidInit = try await startPIDInit(pinned) }
            if let network {
                let attachment = self.attachment(id, config)
                let result = try await Threads.run { [cni] in try cni.add(network, attachment) }
                record.networkAttached = true
                record.addresses = result.addresses.map { String($0.prefix { $0 != "/" }) }
            }
            try writeFiles(dir, config, hostname: options.network == .node ? Self.nodeHostname() : hostname, address: record.addresses.first)
            record.ready = true
            try save(record)
        } catch {
            await release(record)
            pods[id] = nil
            throw error
        }
        log.info("CRI: pod sandbox \(id) (\(Self.name(wanted))) is ready", metadata: ["ip": "\(record.addresses.first ?? "host")"])
        return id
    }

    /// Starts the init of the pod's shared PID namespace and pins the namespace, which the
    /// containers then join (a namespace cannot outlive its init, so the pin alone cannot hold it).
    func startPIDInit(_ pinned: String) async throws -> PodSandboxRecord.PodProcess {
        let shim = settings.shimPath
        let (status, output) = try await Threads.run { try Subprocess.run(shim, ["--pod-init"]) }
        guard status == 0, let pid = Int32(output.trimmed), pid > 0 else {
            throw RPCError(code: .internalError, message: "failed to start the pod's PID namespace init (\(shim) --pod-init): \(output)")
        }
        let process = PodSandboxRecord.PodProcess(pid: pid, startTime: ProcessStatus.startTime(pid))
        do {
            try await Threads.run { try PinnedNamespace.pin("/proc/\(pid)/ns/pid", at: pinned + "/pid") }
        } catch {
            Self.stop(process)
            throw error
        }
        return process
    }

    /// Kills a pod's PID namespace init, if it is still the process recorded: the kernel then
    /// kills every process left in the namespace.
    static func stop(_ process: PodSandboxRecord.PodProcess) {
        if ProcessStatus.isAlive(process.pid, startTime: process.startTime) { kill(process.pid, SIGKILL) }
    }

    /// containerd's name for a pod's sandbox, which the kubelet's logs use too.
    static func name(_ m: Runtime_V1_PodSandboxMetadata) -> String { "\(m.name)_\(m.namespace)_\(m.uid)_\(m.attempt)" }

    static func nodeHostname() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        _ = buffer.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    func attachment(_ id: String, _ config: Runtime_V1_PodSandboxConfig) -> CNIAttachment {
        let ports = config.portMappings.filter { $0.hostPort > 0 }.map { p -> CNIValue in
            .object(["hostPort": .int(Int64(p.hostPort)), "containerPort": .int(Int64(p.containerPort)),
                     "protocol": .string(p.protocol == .udp ? "udp" : p.protocol == .sctp ? "sctp" : "tcp"), "hostIP": .string(p.hostIp)])
        }
        return CNIAttachment(containerID: id, netns: pins(id) + "/net",
                             args: [("K8S_POD_NAMESPACE", config.metadata.namespace), ("K8S_POD_NAME", config.metadata.name),
                                    ("K8S_POD_INFRA_CONTAINER_ID", id), ("K8S_POD_UID", config.metadata.uid)],
                             capabilities: ports.isEmpty ? [:] : ["portMappings": .array(ports)])
    }

    /// The files the pod's containers bind: resolv.conf from the kubelet's DNS config (the node's
    /// when it gives none), the pod's hostname, and hosts naming it.
    func writeFiles(_ dir: String, _ config: Runtime_V1_PodSandboxConfig, hostname: String, address: String?) throws {
        let dns = config.dnsConfig
        let resolv: [UInt8]
        if dns.servers.isEmpty && dns.searches.isEmpty && dns.options.isEmpty {
            resolv = (try? FileIO.read("/etc/resolv.conf")) ?? []
        } else {
            var lines = dns.servers.map { "nameserver " + $0 }
            if !dns.searches.isEmpty { lines.append("search " + dns.searches.joined(separator: " ")) }
            if !dns.options.isEmpty { lines.append("options " + dns.options.joined(separator: " ")) }
            resolv = Array((lines.joined(separator: "\n") + "\n").utf8)
        }
        try AtomicFile.write(dir + "/resolv.conf", resolv, mode: 0o644)
        try AtomicFile.write(dir + "/hostname", Array((hostname + "\n").utf8), mode: 0o644)
        var hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
        if let address { hosts += "\(address)\t\(hostname)\n" }
        try AtomicFile.write(dir + "/hosts", Array(hosts.utf8), mode: 0o644)
    }

    func save(_ record: PodSandboxRecord) throws {
        pods[record.id] = record
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(directory(record.id) + "/sandbox.json", Array(try encoder.encode(record)), mode: 0o600)
    }

    // MARK: stop, remove

    /// Idempotent, as the kubelet calls it more than once: the network is detached once; the
    /// namespaces stay pinned until the sandbox is removed.
    func stop(_ ref: String) async throws {
        guard var record = try find(ref) else { throw RPCStatus.notFound("an error occurred when try to find sandbox: not found") }
        let attached = record.networkAttached
        if record.ready { log.info("CRI: pod sandbox \(record.id) stopped") }
        record.ready = false
        record.networkAttached = false
        try save(record)
        if let process = record.pidInit { Self.stop(process) }
        if attached, let network = network() {
            let attachment = attachment(record.id, try record.config())
            do { try await Threads.run { [cni] in try cni.delete(network, attachment) } } catch {
                // Kept attached, so the kubelet's next stop (it retries) asks the plugins again.
                record.networkAttached = true
                try save(record)
                throw error
            }
        }
    }

    /// A pod that is still ready is stopped first, as containerd does; a missing one is not an error.
    func remove(_ ref: String) async throws {
        guard let found = try find(ref) else { return }
        try await stop(found.id)
        await release(pods[found.id] ?? found)
        pods[found.id] = nil
        log.info("CRI: pod sandbox \(found.id) removed")
    }

    /// Unpins what `run` pinned and deletes the pod's files; each step logs its own failure, so
    /// one stuck mount does not keep the rest.
    func release(_ record: PodSandboxRecord) async {
        if let process = record.pidInit { Self.stop(process) }
        let pinned = pins(record.id), dir = directory(record.id), log = log
        if record.networkAttached, let network = network() {
            let attachment = attachment(record.id, (try? record.config()) ?? Runtime_V1_PodSandboxConfig())
            do { try await Threads.run { [cni] in try cni.delete(network, attachment) } } catch { log.warning("CRI: detaching pod \(record.id): \(error)") }
        }
        let unpinned: Void? = try? await Threads.run {  // the body logs each failure itself
            for kind in ["net", "ipc", "uts", "pid"] where FileIO.exists(pinned + "/" + kind) { PinnedNamespace.remove(at: pinned + "/" + kind) }
            if FileIO.exists(pinned + "/shm") {
                do { try Mounter.unmount(pinned + "/shm", detach: true) } catch { log.warning("CRI: unmounting pod \(record.id)'s /dev/shm: \(error)") }
            }
            for path in [pinned, dir] {
                do { try FileIO.removeTree(path) } catch { log.warning("CRI: removing \(path): \(error)") }
            }
        }
        _ = unpinned
    }

    // MARK: queries

    /// By full ID or unique prefix (the kubelet sends full IDs; crictl users type prefixes).
    func find(_ ref: String) throws -> PodSandboxRecord? {
        if let exact = pods[ref] { return exact }
        guard !ref.isEmpty else { return nil }
        let matches = pods.values.filter { $0.id.hasPrefix(ref) }
        if matches.count > 1 { throw RPCStatus.invalid("sandbox ID \"\(ref)\" is ambiguous") }
        return matches.first
    }

    func all() -> [PodSandboxRecord] { pods.values.sorted { $0.createdAt < $1.createdAt } }
}
