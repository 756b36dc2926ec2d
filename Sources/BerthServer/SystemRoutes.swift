import BerthAPI
import BerthCgroups
import BerthEngine
import BerthImage
import BerthRegistry
import BerthSystem
import FoundationEssentials
import Glibc
import NIOHTTP1

/// /_ping, /version, /info, /events, /system/df, and Berth's /system/check.
struct SystemRoutes {
    let containers: ContainerService
    let store: ImageStore
    let buildCache: BuildCache
    let registry: RegistryHosts
    let dataRoot: String
    static let engineVersion = BerthVersion.release

    var table: [(HTTPMethod, String, Router.Handler)] {
        let containers = self.containers, store = self.store, dataRoot = self.dataRoot, buildCache = self.buildCache, registry = self.registry
        return [
            (.GET, "/_ping", { _, _, r in r.text("OK") }),
            (.GET, "/version", { _, _, r in r.json(Self.version()) }),
            (.GET, "/info", { _, _, r in r.json(await Self.info(containers, store, registry, dataRoot)) }),
            (.GET, "/events", { req, _, r in
                let filters = try ContainerService.parseFilters(req.query("filters"))
                let since = try req.query("since").map(APIRequest.eventTime)
                let until = try req.query("until").map(APIRequest.eventTime)
                let (past, live, token) = containers.events.subscribe(since: since ?? until.map { _ in 0 })
                defer { containers.events.unsubscribe(token) }
                r.beginStream(contentType: "application/json")
                // What is already past goes out in 64 KiB writes: one flush per event (a round trip
                // to the event loop each) made a client reading 1,000 events wait 60 ms.
                var batch: [UInt8] = []
                for event in past where EventLog.matches(event, filters) {
                    if let until, event.timeNano > until { break }
                    batch += Responder.jsonLine(event) ?? []
                    if batch.count >= 64 << 10 {
                        try await r.write(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                try await r.write(batch)
                if let until, until <= Self.nowNanos() { return r.end() }
                // The stream ends when the client goes away or `until` passes.
                let closer = Task { [channel = r.channel] in
                    while channel.isActive {
                        if let until, Self.nowNanos() >= until { break }
                        try? await Task.sleep(nanoseconds: 100_000_000)
                    }
                    containers.events.unsubscribe(token)
                }
                defer { closer.cancel() }
                for await event in live where EventLog.matches(event, filters) {
                    if let until, event.timeNano > until { break }
                    try await r.writeJSONLine(event)
                }
                r.end()
            }),
            (.GET, "/system/check", { _, _, r in r.json(await containers.check()) }),
            (.GET, "/system/df", { _, _, r in
                let usage = containers.imageUsage()
                let images = try await ImageAPI.list(store, all: true, filters: [:], containersUsing: usage)
                let list = try await containers.list(all: true, limit: nil, filters: [:], size: true)
                let cache = await buildCache.mountRecords()
                r.json(DiskUsage(LayersSize: images.reduce(0) { $0 + $1.Size }, Images: images, Containers: list,
                                 Volumes: try await containers.volumes.usage(), BuildCache: cache, BuilderSize: cache.reduce(0) { $0 + $1.Size }))
            }),
        ]
    }

    /// Marshalled as Go's, as its volumes and containers are on their own.
    struct DiskUsage: Encodable, GoEncodable {
        var LayersSize: Int64
        var Images: [ImageSummary]
        var Containers: [ContainerSummary]
        var Volumes: [Volume]
        var BuildCache: [BuildCacheRecord]
        /// Deprecated since API 1.42 but still sent (the 1.41 CLI reads it).
        var BuilderSize: Int64
    }

    static func uname() -> (release: String, machine: String) {
        var u = utsname()
        Glibc.uname(&u)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return (field(u.release), field(u.machine))
    }

    static func arch(_ machine: String) -> String { machine == "x86_64" ? "amd64" : machine == "aarch64" ? "arm64" : machine }

    static func nowNanos() -> Int64 { Int64(Timestamp.epochNow() * 1e9) }

    static func version() -> VersionResponse {
        var v = VersionResponse()
        let (release, machine) = uname()
        v.Platform = .init("Berth Engine")
        v.Version = engineVersion
        v.ApiVersion = APIVersion.current
        v.MinAPIVersion = APIVersion.minimum
        v.GitCommit = "berth"
        v.GoVersion = "swift6.3"
        v.Os = "linux"
        v.Arch = arch(machine)
        v.KernelVersion = release
        v.BuildTime = ""
        var engine = VersionResponse.Component()
        engine.Name = "Engine"
        engine.Version = engineVersion
        engine.Details = ["ApiVersion": APIVersion.current, "Arch": arch(machine), "BuildTime": v.BuildTime, "Experimental": "false",
                          "GitCommit": v.GitCommit, "GoVersion": v.GoVersion, "KernelVersion": release, "MinAPIVersion": APIVersion.minimum, "Os": "linux"]
        var runtime = VersionResponse.Component()
        runtime.Name = "berth-runtime"
        runtime.Version = BerthVersion.runtime
        v.Components = [engine, runtime]
        return v
    }

    static func info(_ containers: ContainerService, _ store: ImageStore, _ registry: RegistryHosts, _ dataRoot: String) async -> InfoResponse {
        var i = InfoResponse()
        let counts = containers.counts()
        let (release, machine) = uname()
        i.ID = (try? EngineIdentity.id(dataRoot: dataRoot)) ?? ""
        i.Containers = counts.total
        i.ContainersRunning = counts.running
        i.ContainersPaused = counts.paused
        i.ContainersStopped = counts.stopped
        i.Images = await store.records().count
        i.Driver = store.snapshotter.driver
        i.DriverStatus = [["Backing Filesystem", EngineIdentity.backingFilesystem(dataRoot)], ["Supports d_type", "true"]]
        i.Plugins = .init()
        i.Plugins.Volume = ["local"]
        i.Plugins.Network = ["bridge", "host", "none"]
        i.Plugins.Log = ContainerService.logDriverNames
        i.MemoryLimit = true; i.SwapLimit = true; i.CpuCfsPeriod = true; i.CpuCfsQuota = true
        i.CPUShares = true; i.CPUSet = true; i.PidsLimit = true; i.OomKillDisable = !Cgroups.isUnified()
        func enabled(_ path: String) -> Bool { ((try? FileIO.readString(path))?.trimmed ?? "0") == "1" }  // none: the module is not loaded
        i.IPv4Forwarding = enabled("/proc/sys/net/ipv4/ip_forward")
        i.BridgeNfIptables = enabled("/proc/sys/net/bridge/bridge-nf-call-iptables")
        i.BridgeNfIp6tables = enabled("/proc/sys/net/bridge/bridge-nf-call-ip6tables")
        i.SystemTime = Timestamp.now()
        i.LoggingDriver = containers.logDriver
        i.CgroupDriver = "cgroupfs"
        i.CgroupVersion = Cgroups.isUnified() ? "2" : "1"
        i.KernelVersion = release
        i.OperatingSystem = Self.osName()
        i.OSVersion = ""
        i.OSType = "linux"
        i.Architecture = machine
        i.NCPU = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        i.MemTotal = Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
        i.IndexServerAddress = "https://index.docker.io/v1/"
        i.RegistryConfig = Self.registryConfig(registry)
        i.DockerRootDir = dataRoot
        i.Name = Self.hostname()
        i.ServerVersion = engineVersion
        // two names for the one runtime: `runc`, the default's name as dockerd's (scripts pass it), and its own
        i.Runtimes = ["berth-runtime": .init("berth-runtime"), "runc": .init("berth-runtime")]
        i.DefaultRuntime = ContainerService.defaultRuntime
        i.Swarm = .init()
        i.Swarm.LocalNodeState = "inactive"
        i.LiveRestoreEnabled = true
        i.Isolation = ""
        i.InitBinary = "docker-init"  // what `--init` binds at /sbin/docker-init, as dockerd names it
        // what the docker CLI prints as the containerd, runc and init versions: no containerd runs here
        i.ContainerdCommit = .init("N/A")
        i.RuncCommit = .init("berth-runtime " + BerthVersion.runtime)
        i.InitCommit = .init("N/A")
        let pools = containers.networks.config.addressPools
        if pools != .docker { i.DefaultAddressPools = pools.pools.map { .init(Base: $0.base.description, Size: $0.size) } }
        i.SecurityOptions = ["name=seccomp,profile=builtin"] + (containers.usernsRemapped ? ["name=userns"] : []) + ["name=cgroupns"]
        return i
    }

    /// dockerd's view of the registries: Docker Hub with its mirrors, each insecure host by name,
    /// and the insecure CIDRs (loopback always).
    static func registryConfig(_ hosts: RegistryHosts) -> InfoResponse.RegistryConfig {
        var config = InfoResponse.RegistryConfig()
        let mirrors = hosts.mirrors.map { $0.description.hasSuffix("/") ? $0.description : $0.description + "/" }
        config.Mirrors = mirrors
        config.InsecureRegistryCIDRs = hosts.insecureCIDRs
        var hub = InfoResponse.IndexInfo()
        hub.Name = "docker.io"; hub.Mirrors = mirrors; hub.Secure = true; hub.Official = true
        config.IndexConfigs["docker.io"] = hub
        for host in hosts.insecure where !host.contains("/") {
            var index = InfoResponse.IndexInfo()
            index.Name = host
            config.IndexConfigs[host] = index
        }
        return config
    }

    static func osName() -> String {
        let text = (try? FileIO.readString("/etc/os-release")) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            return String(line.dropFirst(12)).trimmingQuotes
        }
        return "Linux"
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    var trimmingQuotes: String { hasPrefix("\"") && hasSuffix("\"") && count >= 2 ? String(dropFirst().dropLast()) : self }
}
