import BerthAPI
import BerthArchive
import BerthBuild
import BerthOCI
import BerthSystem
import Dispatch
import FoundationEssentials
import Glibc

extension CLI {
    static let runFlags: [Flags.Spec] = [
        .init("d", "detach"), .init("i", "interactive"), .init("t", "tty"), .init(nil, "rm"), .init(nil, "name", value: true),
        .init("e", "env", value: true), .init(nil, "env-file", value: true), .init("w", "workdir", value: true),
        .init("u", "user", value: true), .init(nil, "entrypoint", value: true), .init("h", "hostname", value: true),
        .init(nil, "restart", value: true), .init("l", "label", value: true), .init("m", "memory", value: true),
        .init(nil, "memory-reservation", value: true), .init(nil, "memory-swap", value: true), .init(nil, "oom-kill-disable"),
        .init(nil, "memory-swappiness", value: true), .init(nil, "kernel-memory", value: true),
        .init(nil, "cpus", value: true), .init("c", "cpu-shares", value: true), .init(nil, "cpuset-cpus", value: true),
        .init(nil, "cpuset-mems", value: true), .init(nil, "cpu-quota", value: true), .init(nil, "cpu-period", value: true),
        .init(nil, "pids-limit", value: true), .init(nil, "ulimit", value: true), .init(nil, "cap-add", value: true),
        .init(nil, "cap-drop", value: true), .init(nil, "privileged"), .init(nil, "read-only"), .init(nil, "init"), .init(nil, "userns", value: true),
        .init(nil, "stop-signal", value: true), .init(nil, "stop-timeout", value: true), .init("v", "volume", value: true),
        .init(nil, "network", value: true), .init(nil, "net", value: true), .init("p", "publish", value: true),
        .init(nil, "add-host", value: true), .init(nil, "dns", value: true), .init(nil, "log-driver", value: true),
        .init(nil, "log-opt", value: true), .init("a", "attach", value: true), .init(nil, "detach-keys", value: true),
        .init(nil, "group-add", value: true), .init(nil, "shm-size", value: true), .init(nil, "tmpfs", value: true),
        .init(nil, "sysctl", value: true), .init(nil, "security-opt", value: true), .init(nil, "platform", value: true),
        .init(nil, "pull", value: true), .init("q", "quiet"), .init(nil, "sig-proxy"), .init(nil, "blkio-weight", value: true),
        .init("P", "publish-all"), .init(nil, "expose", value: true), .init(nil, "mount", value: true), .init(nil, "volumes-from", value: true),
        .init(nil, "network-alias", value: true), .init(nil, "ip", value: true), .init(nil, "dns-search", value: true),
        .init(nil, "dns-option", value: true), .init(nil, "device", value: true),
        .init(nil, "health-cmd", value: true), .init(nil, "health-interval", value: true), .init(nil, "health-timeout", value: true),
        .init(nil, "health-retries", value: true), .init(nil, "health-start-period", value: true), .init(nil, "health-start-interval", value: true),
        .init(nil, "no-healthcheck"), .init(nil, "mac-address", value: true), .init(nil, "link", value: true), .init(nil, "cgroupns", value: true), .init(nil, "cgroup-parent", value: true),
        .init(nil, "pid", value: true), .init(nil, "ipc", value: true), .init(nil, "uts", value: true),
        .init(nil, "device-cgroup-rule", value: true), .init(nil, "ip6", value: true), .init(nil, "cidfile", value: true),
        .init(nil, "link-local-ip", value: true), .init(nil, "use-api-socket"), .init(nil, "cpu-rt-period", value: true),
        .init(nil, "cpu-rt-runtime", value: true), .init(nil, "cpu-count", value: true), .init(nil, "cpu-percent", value: true),
        .init(nil, "io-maxbandwidth", value: true), .init(nil, "io-maxiops", value: true),
        .init(nil, "domainname", value: true), .init(nil, "label-file", value: true), .init(nil, "oom-score-adj", value: true),
        .init(nil, "runtime", value: true), .init(nil, "isolation", value: true), .init(nil, "blkio-weight-device", value: true),
        .init(nil, "device-read-bps", value: true), .init(nil, "device-write-bps", value: true),
        .init(nil, "device-read-iops", value: true), .init(nil, "device-write-iops", value: true),
        .init(nil, "annotation", value: true), .init(nil, "volume-driver", value: true), .init(nil, "storage-opt", value: true),
        .init(nil, "disable-content-trust"),
    ]

    /// `--device-read-bps /dev/sda:1mb` and its kin, checked as the docker CLI checks them.
    static func throttleDevices(_ f: Flags, _ flag: String, iops: Bool) throws -> [ThrottleDevice]? {
        guard f.has(flag) else { return nil }
        return try f.all(flag).map { text in
            func bad(_ why: String) -> Flags.UsageError { Flags.UsageError(description: "invalid argument \"\(text)\" for \"--\(flag)\" flag: \(why)") }
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw bad("bad format: \(text)") }
            guard parts[0].hasPrefix("/dev/") else { throw bad("bad format for device path: \(text)") }
            let rate = iops ? Int64(parts[1]).flatMap { $0 >= 0 ? $0 : nil } : Size.parse(parts[1]).flatMap { $0 >= 0 ? $0 : nil }
            guard let rate else {
                throw bad("invalid rate for device: \(text). The correct format is <device-path>:<number>" + (iops ? ". Number must be a positive integer"
                    : "[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"))
            }
            var device = ThrottleDevice()
            device.Path = parts[0]
            device.Rate = rate
            return device
        }
    }

    static func weightDevices(_ f: Flags) throws -> [WeightDevice]? {
        guard f.has("blkio-weight-device") else { return nil }
        return try f.all("blkio-weight-device").map { text in
            func bad(_ why: String) -> Flags.UsageError { Flags.UsageError(description: "invalid argument \"\(text)\" for \"--blkio-weight-device\" flag: \(why)") }
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw bad("bad format: \(text)") }
            guard parts[0].hasPrefix("/dev/") else { throw bad("bad format for device path: \(text)") }
            guard let weight = UInt16(parts[1]), weight == 0 || (10...1000).contains(weight) else { throw bad("invalid weight for device: \(text)") }
            var device = WeightDevice()
            device.Path = parts[0]
            device.Weight = Int(weight)
            return device
        }
    }

    /// One `--network` value: a name, or `name=…,alias=…,ip=…,ip6=…,mac-address=…,driver-opt=k=v`.
    static func networkSpec(_ text: String) throws -> (name: String, endpoint: EndpointSettings) {
        guard text.contains("=") else { return (text, EndpointSettings()) }
        var name = ""
        var e = EndpointSettings()
        for field in text.split(separator: ",") {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw Flags.UsageError(description: "invalid argument \"\(text)\" for \"--network\" flag: invalid field '\(field)' must be a key=value pair") }
            switch kv[0] {
            case "name": name = kv[1]
            case "alias": e.Aliases = (e.Aliases ?? []) + [kv[1]]
            case "ip": e.IPAMConfig = e.IPAMConfig ?? EndpointIPAMConfig(); e.IPAMConfig?.IPv4Address = kv[1]
            case "ip6": e.IPAMConfig = e.IPAMConfig ?? EndpointIPAMConfig(); e.IPAMConfig?.IPv6Address = kv[1]
            case "mac-address": e.MacAddress = kv[1]
            case "link-local-ip":
                var ipam = e.IPAMConfig ?? EndpointIPAMConfig()
                ipam.LinkLocalIPs = (ipam.LinkLocalIPs ?? []) + [kv[1]]
                e.IPAMConfig = ipam
            case "gw-priority":
                guard let priority = Int(kv[1]) else {
                    throw Flags.UsageError(description: "invalid argument \"\(text)\" for \"--network\" flag: invalid gw-priority: \(kv[1])")
                }
                e.GwPriority = priority
            case "driver-opt":
                let opt = kv[1].split(separator: "=", maxSplits: 1).map(String.init)
                if opt.count == 2 { e.DriverOpts = (e.DriverOpts ?? [:]).merging([opt[0]: opt[1]]) { $1 } }
            default: throw Flags.UsageError(description: "invalid argument \"\(text)\" for \"--network\" flag: invalid field key \(kv[0])")
            }
        }
        guard !name.isEmpty else { throw Flags.UsageError(description: "invalid argument \"\(text)\" for \"--network\" flag: network name must be set") }
        return (name, e)
    }

    /// `--health-*` and `--no-healthcheck`, as the docker CLI turns them into `Healthcheck`.
    static func healthcheck(_ f: Flags) throws -> HealthConfig? {
        if f.bool("no-healthcheck") {
            let given = ["health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period", "health-start-interval"].filter(f.has)
            guard given.isEmpty else { throw Flags.UsageError(description: "--no-healthcheck conflicts with --health-* options") }
            var h = HealthConfig()
            h.Test = ["NONE"]
            return h
        }
        func duration(_ name: String) throws -> Int64? {
            guard let text = f.string(name) else { return nil }
            guard let s = GoDuration.seconds(text), s >= 0, s < 9e9 else {
                throw Flags.UsageError(description: "invalid argument \"\(text)\" for \"--\(name)\" flag: time: invalid duration \"\(text)\"")
            }
            return Int64(s * 1e9)
        }
        var h = HealthConfig()
        if let cmd = f.string("health-cmd") { h.Test = ["CMD-SHELL", cmd] }
        h.Interval = try duration("health-interval")
        h.Timeout = try duration("health-timeout")
        h.StartPeriod = try duration("health-start-period")
        h.StartInterval = try duration("health-start-interval")
        if let n = try f.int("health-retries") { h.Retries = n }
        return h == HealthConfig() ? nil : h
    }

    /// The create request's body: the container config with `HostConfig` inside it.
    struct CreateBody: Encodable {
        var config: ContainerConfig
        var host: HostConfig
        var networking: NetworkingConfig?
        enum Keys: String, CodingKey { case HostConfig, NetworkingConfig }
        func encode(to encoder: Encoder) throws {
            try config.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(host, forKey: .HostConfig)
            try c.encodeIfPresent(networking, forKey: .NetworkingConfig)
        }
    }

    static func createBody(_ f: Flags, image: String, command: [String]) throws -> CreateBody {
        var config = ContainerConfig()
        var host = HostConfig()
        config.Image = image
        if !command.isEmpty { config.Cmd = command }
        if let e = f.string("entrypoint") { config.Entrypoint = e.isEmpty ? [] : [e] }
        var env: [String] = []
        for file in f.all("env-file") {
            guard let text = try? FileIO.readString(file) else { throw Flags.UsageError(description: "open \(file): no such file or directory") }
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && !String(line).trimmingSpaces.isEmpty { env.append(Self.envEntry(String(line))) }
        }
        env += f.all("env").map(Self.envEntry)
        if !env.isEmpty { config.Env = env }
        config.WorkingDir = f.string("workdir")
        config.User = f.string("user")
        config.Hostname = f.string("hostname")
        config.Domainname = f.string("domainname")
        config.Tty = f.bool("tty")
        config.OpenStdin = f.bool("interactive")
        config.StdinOnce = f.bool("interactive") && !f.bool("detach")
        config.AttachStdin = f.bool("interactive") && !f.bool("detach")
        config.AttachStdout = !f.bool("detach")
        config.AttachStderr = !f.bool("detach")
        // as docker's ReadKVStrings: the files' lines first, then --label, the later winning
        var labels: [String] = []
        for file in f.all("label-file") {
            guard let text = try? FileIO.readString(file) else { throw Flags.UsageError(description: "open \(file): no such file or directory") }
            labels += text.split(separator: "\n").map { String($0).trimmingSpaces }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        labels += f.all("label")
        if !labels.isEmpty { config.Labels = Self.keyValues(labels) }
        config.StopSignal = f.string("stop-signal")
        config.StopTimeout = try f.int("stop-timeout")
        config.Healthcheck = try Self.healthcheck(f)
        if let mac = f.string("mac-address") { config.MacAddress = mac }
        if f.has("link") { host.Links = f.all("link") }
        if let mode = f.string("cgroupns") { host.CgroupnsMode = mode }
        if let parent = f.string("cgroup-parent") { host.CgroupParent = parent }
        // The docker CLI's own checks; IPC modes are left to the daemon, as docker does.
        if let mode = f.string("pid") {
            let parts = mode.split(separator: ":", omittingEmptySubsequences: false)
            guard ["", "host"].contains(mode) || (parts.count == 2 && parts[0] == "container" && !parts[1].isEmpty) else {
                throw Flags.UsageError(description: "--pid: invalid PID mode")
            }
            host.PidMode = mode
        }
        if let mode = f.string("uts") {
            guard ["", "host"].contains(mode) else { throw Flags.UsageError(description: "--uts: invalid UTS mode") }
            host.UTSMode = mode
        }
        host.IpcMode = f.string("ipc")
        if f.has("device-cgroup-rule") { host.DeviceCgroupRules = f.all("device-cgroup-rule") }
        var bindings: [String: [PortBinding]?] = [:]
        for p in f.all("publish") {
            for (key, binding) in try Self.portBindings(p) {
                config.ExposedPorts = (config.ExposedPorts ?? [:]).merging([key: EmptyJSON()]) { $1 }
                bindings[key] = ((bindings[key] ?? nil) ?? []) + [binding]
            }
        }
        for e in f.all("expose") {
            for key in try Self.portKeys(e) { config.ExposedPorts = (config.ExposedPorts ?? [:]).merging([key: EmptyJSON()]) { $1 } }
        }
        if !bindings.isEmpty { host.PortBindings = bindings }
        if f.bool("publish-all") { host.PublishAllPorts = true }

        func bytes(_ flag: String) throws -> Int64? { try Self.byteSize(f, flag) }
        host.Memory = try bytes("memory")
        host.MemorySwap = try bytes("memory-swap")
        host.MemoryReservation = try bytes("memory-reservation")
        host.KernelMemory = try bytes("kernel-memory")
        host.MemorySwappiness = try f.int("memory-swappiness").map(Int64.init)
        host.ShmSize = try bytes("shm-size")
        if f.bool("oom-kill-disable") { host.OomKillDisable = true }
        if let cpus = f.string("cpus") {
            guard let v = Double(cpus), v.isFinite, abs(v) < 1e9 else { throw Flags.UsageError(description: "invalid argument \"\(cpus)\" for \"--cpus\" flag: failed to parse \(cpus) as a rational number") }
            host.NanoCpus = Int64(v * 1e9)
        }
        host.CpuShares = try f.int("cpu-shares").map(Int64.init)
        host.CpuQuota = try f.int("cpu-quota").map(Int64.init)
        host.CpuPeriod = try f.int("cpu-period").map(Int64.init)
        host.CpuRealtimePeriod = try f.int("cpu-rt-period").map(Int64.init)
        host.CpuRealtimeRuntime = try f.int("cpu-rt-runtime").map(Int64.init)
        // Windows' own limits: the docker CLI refuses them for a Linux daemon before sending anything
        for flag in ["cpu-count", "cpu-percent", "io-maxbandwidth", "io-maxiops"] where f.has(flag) {
            throw APIClient.Failure(status: 0, message: "\"--\(flag)\" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux")
        }
        host.CpusetCpus = f.string("cpuset-cpus")
        host.CpusetMems = f.string("cpuset-mems")
        host.PidsLimit = try f.int("pids-limit").map(Int64.init)
        host.BlkioWeight = try f.uint16("blkio-weight")
        host.OomScoreAdj = try f.int("oom-score-adj")
        host.BlkioWeightDevice = try Self.weightDevices(f)
        host.BlkioDeviceReadBps = try Self.throttleDevices(f, "device-read-bps", iops: false)
        host.BlkioDeviceWriteBps = try Self.throttleDevices(f, "device-write-bps", iops: false)
        host.BlkioDeviceReadIOps = try Self.throttleDevices(f, "device-read-iops", iops: true)
        host.BlkioDeviceWriteIOps = try Self.throttleDevices(f, "device-write-iops", iops: true)
        host.Runtime = f.string("runtime")
        host.Isolation = f.string("isolation")
        if f.has("annotation") { host.Annotations = Self.keyValues(f.all("annotation")) }
        host.VolumeDriver = f.string("volume-driver")
        if f.has("storage-opt") { host.StorageOpt = Self.keyValues(f.all("storage-opt")) }
        let ulimits = try f.all("ulimit").map(Self.ulimit)
        if !ulimits.isEmpty { host.Ulimits = ulimits }
        if f.has("cap-add") { host.CapAdd = f.all("cap-add") }
        if f.has("cap-drop") { host.CapDrop = f.all("cap-drop") }
        if f.bool("privileged") { host.Privileged = true }
        host.UsernsMode = f.string("userns")
        if f.bool("read-only") { host.ReadonlyRootfs = true }
        if f.bool("init") { host.Init = true }
        if f.bool("rm") { host.AutoRemove = true }
        // `-v /path` is an anonymous volume (Config.Volumes); `-v src:dst` a bind or named volume.
        for v in f.all("volume") {
            if v.contains(":") { host.Binds = (host.Binds ?? []) + [v] } else { config.Volumes = (config.Volumes ?? [:]).merging([v: EmptyJSON()]) { $1 } }
        }
        if f.has("mount") { host.Mounts = try f.all("mount").map(Self.mountSpec) }
        if f.has("volumes-from") { host.VolumesFrom = f.all("volumes-from") }
        var networking: NetworkingConfig?
        // `--network NAME` or docker's advanced `--network name=N,alias=A,ip=…,ip6=…,mac-address=…`,
        // repeatable: the first is the network mode, each is an endpoint (API 1.44's several
        // EndpointsConfig entries); `--network-alias`, `--ip`, `--ip6`, `--link-local-ip` and
        // `--mac-address` apply to the first, as in the docker CLI, which without `--network`
        // sends them for the "default" network (the daemon refuses what the bridge cannot take).
        var specs = try (f.all("network") + f.all("net")).map(Self.networkSpec)
        let implicit = specs.isEmpty && ["network-alias", "ip", "ip6", "link-local-ip"].contains(where: f.has)
        if implicit { specs = [("default", EndpointSettings())] }
        if let first = specs.first {
            if !implicit { host.NetworkMode = first.name }
            var endpoints: [String: EndpointSettings] = [:]
            for (i, var spec) in specs.enumerated() {
                if i == 0 {
                    if f.has("network-alias") { spec.endpoint.Aliases = (spec.endpoint.Aliases ?? []) + f.all("network-alias") }
                    if f.has("ip") || f.has("ip6") || f.has("link-local-ip") { spec.endpoint.IPAMConfig = spec.endpoint.IPAMConfig ?? EndpointIPAMConfig() }
                    if let ip = f.string("ip") { spec.endpoint.IPAMConfig?.IPv4Address = ip }
                    if let ip6 = f.string("ip6") { spec.endpoint.IPAMConfig?.IPv6Address = ip6 }
                    if f.has("link-local-ip") {
                        let given = spec.endpoint.IPAMConfig?.LinkLocalIPs ?? []
                        spec.endpoint.IPAMConfig?.LinkLocalIPs = given + f.all("link-local-ip")
                    }
                    if !implicit, let mac = f.string("mac-address") { spec.endpoint.MacAddress = mac; config.MacAddress = nil }
                }
                if spec.endpoint != EndpointSettings() || specs.count > 1 { endpoints[spec.name] = spec.endpoint }
            }
            if !endpoints.isEmpty {
                networking = NetworkingConfig()
                networking?.EndpointsConfig = endpoints
            }
        }
        if f.has("dns-search") { host.DnsSearch = f.all("dns-search") }
        // `--device HOST[:CONTAINER][:PERMISSIONS]`.
        host.Devices = f.has("device") ? try f.all("device").map { spec in
            let parts = spec.split(separator: ":").map(String.init)
            guard !parts.isEmpty else { throw Flags.UsageError(description: "invalid argument \"\(spec)\" for \"--device\" flag: bad format for path: \(spec)") }
            var d = DeviceMapping()
            d.PathOnHost = parts[0]
            d.PathInContainer = parts.count > 1 && parts[1].hasPrefix("/") ? parts[1] : parts[0]
            d.CgroupPermissions = parts.count > 2 ? parts[2] : parts.count == 2 && !parts[1].hasPrefix("/") ? parts[1] : "rwm"
            return d
        } : nil
        if f.has("dns-option") { host.DnsOptions = f.all("dns-option") }
        if f.has("add-host") { host.ExtraHosts = f.all("add-host").map { $0.replacingFirst("=", with: ":") } }
        if f.has("dns") { host.Dns = f.all("dns") }
        if f.has("group-add") { host.GroupAdd = f.all("group-add") }
        if f.has("security-opt") { host.SecurityOpt = f.all("security-opt") }
        if f.has("sysctl") { host.Sysctls = Self.keyValues(f.all("sysctl")) }
        if f.has("tmpfs") {
            host.Tmpfs = Dictionary(f.all("tmpfs").map { s in
                let kv = s.split(separator: ":", maxSplits: 1).map(String.init)
                return (kv[0], kv.count > 1 ? kv[1] : "")
            }, uniquingKeysWith: { $1 })
        }
        if f.has("log-driver") || f.has("log-opt") {
            var log = LogConfig()
            log.Type = f.string("log-driver") ?? "json-file"
            log.Config = Self.keyValues(f.all("log-opt"))
            host.LogConfig = log
        }
        if let restart = f.string("restart") {
            let parts = restart.split(separator: ":", maxSplits: 1).map(String.init)
            host.RestartPolicy = RestartPolicy(Name: parts[0], MaximumRetryCount: parts.count > 1 ? Int(parts[1]) ?? 0 : 0)
        }
        return CreateBody(config: config, host: host, networking: networking)
    }

    /// `-p [ip:][hostPort[-end]:]containerPort[-end][/proto]`, ranges expanded pairwise (or one
    /// host range for one container port, which the daemon picks from).
    static func portBindings(_ spec: String) throws -> [(String, PortBinding)] {
        var rest = spec
        var proto = "tcp"
        if let slash = rest.lastIndex(of: "/") { proto = String(rest[rest.index(after: slash)...]); rest = String(rest[..<slash]) }
        var parts = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 3, rest.hasPrefix("[") { parts = [parts.dropLast(2).joined(separator: ":")] + parts.suffix(2) }
        let containerPart = parts.last ?? ""
        let hostPart = parts.count >= 2 ? parts[parts.count - 2] : ""
        let ip = parts.count == 3 ? String(parts[0].filter { $0 != "[" && $0 != "]" }) : ""
        func range(_ s: String) throws -> [Int] {
            let r = s.split(separator: "-").map { Int($0) }
            guard !r.isEmpty, r.count <= 2, r.allSatisfy({ $0 != nil && (1...65535).contains($0!) }), r.count == 1 || r[0]! <= r[1]! else {
                throw Flags.UsageError(description: "invalid argument \"\(spec)\" for \"-p, --publish\" flag: invalid containerPort: \(s)")
            }
            return Array(r[0]!...r.last!!)
        }
        guard ["tcp", "udp", "sctp"].contains(proto) else {
            throw Flags.UsageError(description: "invalid argument \"\(spec)\" for \"-p, --publish\" flag: invalid proto: \(proto)")
        }
        let containerPorts = try range(containerPart)
        let hostPorts = hostPart.isEmpty ? [] : try range(hostPart)
        if !hostPorts.isEmpty && hostPorts.count != containerPorts.count && containerPorts.count != 1 {
            throw Flags.UsageError(description: "invalid argument \"\(spec)\" for \"-p, --publish\" flag: invalid ranges specified for container and host Ports: \(containerPart) and \(hostPart)")
        }
        return containerPorts.enumerated().map { i, port in
            var b = PortBinding()
            b.HostIp = ip
            if containerPorts.count == 1 && hostPorts.count > 1 { b.HostPort = hostPart } else { b.HostPort = hostPorts.isEmpty ? "" : String(hostPorts[i]) }
            return ("\(port)/\(proto)", b)
        }
    }

    /// `--expose 80[-90][/proto]`.
    static func portKeys(_ spec: String) throws -> [String] {
        try portBindings(spec).map(\.0)
    }

    /// `--mount type=…,source=…,target=…,readonly,…`.
    static func mountSpec(_ text: String) throws -> MountSpec {
        var m = MountSpec()
        m.Type = "volume"
        var bind: MountSpec.BindOptions?, volume: MountSpec.VolumeOptions?, tmpfs: MountSpec.TmpfsOptions?
        var labels: [String: String] = [:], options: [String: String] = [:]
        for field in text.split(separator: ",").map(String.init) {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            let key = kv[0].lowercased(), value = kv.count > 1 ? kv[1] : nil
            let flag = value.map { ["1", "true"].contains($0.lowercased()) } ?? true
            func invalid(_ what: String) -> Flags.UsageError {
                Flags.UsageError(description: "invalid argument \"\(text)\" for \"--mount\" flag: \(what)")
            }
            switch key {
            case "type": m.Type = value
            case "source", "src": m.Source = value
            case "target", "destination", "dst": m.Target = value
            case "readonly", "ro": m.ReadOnly = flag
            case "bind-propagation": bind = bind ?? .init(); bind?.Propagation = value
            case "bind-create-mountpoint": bind = bind ?? .init(); bind?.CreateMountpoint = flag
            case "volume-nocopy": volume = volume ?? .init(); volume?.NoCopy = flag
            case "volume-label": labels.merge(keyValues([value ?? ""])) { $1 }
            case "volume-opt": options.merge(keyValues([value ?? ""])) { $1 }
            case "tmpfs-size":
                guard let n = Size.parse(value ?? "") else { throw invalid("invalid value for tmpfs-size: \(value ?? "")") }
                tmpfs = tmpfs ?? .init(); tmpfs?.SizeBytes = n
            case "tmpfs-mode":
                guard let n = UInt32(value ?? "", radix: 8) else { throw invalid("invalid value for tmpfs-mode: \(value ?? "")") }
                tmpfs = tmpfs ?? .init(); tmpfs?.Mode = n
            case "consistency": m.Consistency = value
            default: throw invalid("unexpected key '\(kv[0])' in '\(field)'")
            }
        }
        if !labels.isEmpty { volume = volume ?? .init(); volume?.Labels = labels }
        if !options.isEmpty {
            volume = volume ?? .init()
            var driver = MountSpec.DriverConfig()
            driver.Options = options
            volume?.DriverConfig = driver
        }
        m.BindOptions = bind
        m.VolumeOptions = volume
        m.TmpfsOptions = tmpfs
        return m
    }

    /// `-e KEY` takes the value from this environment, as docker does.
    static func envEntry(_ entry: String) -> String {
        if entry.contains("=") { return entry }
        return getenv(entry).map { entry + "=" + String(cString: $0) } ?? entry
    }

    /// A size flag (`-m 64m`, `--shm-size 1g`; `-1` for unlimited) in the docker CLI's words when
    /// it does not parse.
    static func byteSize(_ f: Flags, _ flag: String) throws -> Int64? {
        guard let v = f.string(flag) else { return nil }
        if v == "-1" { return -1 }
        guard let n = Size.parse(v) else { throw Flags.UsageError(description: "invalid argument \"\(v)\" for \"--\(flag)\" flag: invalid size: '\(v)'") }
        return n
    }

    static func ulimit(_ spec: String) throws -> Ulimit {
        let kv = spec.split(separator: "=", maxSplits: 1).map(String.init)
        let limits = kv.count > 1 ? kv[1].split(separator: ":").compactMap { Int64($0) } : []
        guard kv.count == 2, !limits.isEmpty else { throw Flags.UsageError(description: "invalid argument \"\(spec)\" for \"--ulimit\" flag: invalid ulimit argument: \(spec)") }
        var u = Ulimit()
        u.Name = kv[0]
        u.Soft = limits[0]
        u.Hard = limits.count > 1 ? limits[1] : limits[0]
        return u
    }

    // MARK: run, create, start

    func run(_ args: [String], detachDefault: Bool, startAfter: Bool) throws -> Int32 {
        let command = startAfter ? "run" : "create"
        // as docker: detaching and signal proxying are about a client attached to a run
        let specs = startAfter ? Self.runFlags : Self.runFlags.filter { !["detach", "detach-keys", "sig-proxy"].contains($0.long) }
        let f = try Flags(args, specs: specs, stopAtPositional: true)
        try requireArgs(f, 1, "\(name) \(command)")
        let image = f.positionals[0]
        var body = try Self.createBody(f, image: image, command: Array(f.positionals.dropFirst()))
        let credentials = f.bool("use-api-socket") ? apiSocket(&body) : nil
        // docker's cidfile: refused when present, written once the container exists, gone on failure
        let cidfile = f.string("cidfile")
        if let cidfile, FileIO.exists(cidfile) {
            FileIO.stderr("\(name): container ID file found, make sure the other container isn't running or delete \(cidfile)\n\nRun '\(name) \(command) --help' for more information\n")
            return 125
        }
        var query: [(String, String)] = []
        if let n = f.string("name") { query.append(("name", n)) }
        let created: JSONValue
        do {
            created = try client.call("POST", "/containers/create", query: query, json: body)
        } catch let e as APIClient.Failure where e.status == 404 && e.message.hasPrefix("No such image") {
            FileIO.stderr("Unable to find image '\(image)' locally\n")
            do {
                // Progress goes to stderr, as docker's does here: stdout carries the container's output.
                let saved = dup(1)
                dup2(2, 1)
                defer { dup2(saved, 1); close(saved) }
                if try pullImage(image, platform: f.string("platform"), quiet: f.bool("quiet"), printReference: false) != 0 { return 125 }
            } catch let pull as APIClient.Failure {
                FileIO.stderr("\(name): Error response from daemon: \(pull.message)\n\nRun '\(name) \(command) --help' for more information\n")
                return 125
            }
            created = try client.call("POST", "/containers/create", query: query, json: body)
        } catch let e as APIClient.Failure {
            FileIO.stderr("\(name): Error response from daemon: \(e.message)\n\nRun '\(name) \(command) --help' for more information\n")
            return 125
        }
        let id = created["Id"]?.string ?? ""
        if let credentials {
            do { try copyCredentials(credentials, into: id) } catch let e as APIClient.Failure {
                FileIO.stderr("\(name): Error response from daemon: \(e.message)\n")
                return 125
            }
        }
        if let cidfile {
            do { try AtomicFile.write(cidfile, Array(id.utf8), mode: 0o644) } catch {
                FileIO.stderr("\(name): failed to write the container ID to the file: \(error)\n")
                return 125
            }
        }
        for w in created["Warnings"]?.array ?? [] { FileIO.stderr("WARNING: \(w.string ?? "")\n") }
        guard startAfter else { out(id + "\n"); return 0 }
        /// Docker's report of a start that failed, and the exit code the message implies.
        func startFailed(_ e: APIClient.Failure) -> Int32 {
            FileIO.stderr("\(name): Error response from daemon: \(e.message)\n\nRun '\(name) \(command) --help' for more information\n")
            if e.message.contains("executable file not found") || e.message.contains("no such file or directory") { return 127 }
            if e.message.contains("permission denied") { return 126 }
            return 125
        }
        guard !f.bool("detach") else {
            do { _ = try client.open("POST", "/containers/\(id)/start").body() } catch let e as APIClient.Failure { return startFailed(e) }
            out(id + "\n")
            return 0
        }
        return try attachStartWait(id, tty: f.bool("tty"), stdin: f.bool("interactive"), detachKeys: f.string("detach-keys"),
                                   condition: f.bool("rm") ? "removed" : "next-exit", startFailed: startFailed)
    }

    /// Where `--use-api-socket` puts the logins a client inside needs (docker 28's path, which
    /// compose's secrets use too), named by `DOCKER_CONFIG`.
    static let apiSocketConfigPath = "/run/secrets/docker/config.json"

    /// `--use-api-socket`: the daemon's socket (the one this client talks to; docker's is always
    /// /var/run/docker.sock) bound at /var/run/docker.sock, and `DOCKER_CONFIG` naming where
    /// the logins go; returns them (the config's `auths`) if there are any to copy in.
    func apiSocket(_ body: inout CreateBody) -> JSONValue? {
        var mount = MountSpec()
        mount.Type = "bind"
        mount.Source = client.socket
        mount.Target = "/var/run/docker.sock"
        mount.BindOptions = MountSpec.BindOptions()
        body.host.Mounts = (body.host.Mounts ?? []) + [mount]
        body.config.Env = (body.config.Env ?? []) + ["DOCKER_CONFIG=" + AtomicFile.parentDirectory(of: Self.apiSocketConfigPath)]
        guard case .object(let auths)? = DockerConfigFile.read()["auths"], !auths.isEmpty else { return nil }
        return .object([("auths", .object(auths))])
    }

    /// The logins as a config.json inside the new container, through the archive endpoint (the
    /// mounts exist only once it starts), readable by its root only.
    func copyCredentials(_ config: JSONValue, into id: String) throws {
        let json = Array(config.indented().utf8)
        var tar: [UInt8] = []
        let writer = try TarWriter { tar += $0 }
        try writer.add(TarEntry(path: String(Self.apiSocketConfigPath.dropFirst()), kind: .file, mode: 0o600, size: Int64(json.count)))
        try writer.write(json)
        _ = try writer.finish()
        _ = try client.open("PUT", "/containers/\(id)/archive", query: [("path", "/")], body: tar, contentType: "application/x-tar").body()
    }

    /// Attaches (before the start, so no output is missed), starts, relays the streams until the
    /// container ends them, and returns its exit status: `run` in the foreground and `start -a`.
    func attachStartWait(_ id: String, tty: Bool, stdin: Bool, detachKeys: String?, condition: String,
                         startFailed: ((APIClient.Failure) -> Int32)? = nil) throws -> Int32 {
        let detach = try Streams.detachKeys(flag: detachKeys)
        let stream = try Streams.hijack(client, "/containers/\(id)/attach", query: [
            ("stream", "1"), ("stdin", stdin ? "1" : "0"), ("stdout", "1"), ("stderr", "1"),
        ] + (detach.query.map { [("detachKeys", $0)] } ?? []))
        let waiter = try client.open("POST", "/containers/\(id)/wait", query: [("condition", condition)])
        do {
            _ = try client.open("POST", "/containers/\(id)/start").body()
        } catch let e as APIClient.Failure {
            close(stream.fd)
            guard let startFailed else { throw e }
            return startFailed(e)
        }
        if tty, let size = Streams.terminalSize() {
            _ = try? client.open("POST", "/containers/\(id)/resize", query: [("h", String(size.0)), ("w", String(size.1))]).body()
        }
        let restore = tty && stdin ? Streams.rawTerminal() : {}
        let detached = Streams.pump(fd: stream.fd, early: stream.early, tty: tty, stdin: stdin, detachKeys: detach.keys)
        restore()
        if detached { return 0 }  // the container runs on; docker prints nothing and exits 0
        let result = (try? JSONValue.parse(try waiter.body())) ?? .null
        return Int32(truncatingIfNeeded: result["StatusCode"]?.int ?? 125)
    }

    func start(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "attach"), .init("i", "interactive"), .init(nil, "detach-keys", value: true),
                                        .init(nil, "checkpoint", value: true), .init(nil, "checkpoint-dir", value: true)])
        for flag in ["checkpoint", "checkpoint-dir"] where f.has(flag) {  // the docker CLI's check (CRIU checkpoints are experimental)
            throw APIClient.Failure(status: 0, message: "\"--\(flag)\" is only supported on a Docker daemon with experimental features enabled")
        }
        try requireArgs(f, 1, "\(name) start")
        guard f.bool("attach") || f.bool("interactive") else {
            return each(f.positionals) { n in _ = try client.open("POST", "/containers/\(n)/start").body(); out(n + "\n") }
        }
        let info = try client.call("GET", "/containers/\(f.positionals[0])/json")
        return try attachStartWait(info["Id"]?.string ?? f.positionals[0], tty: info["Config"]?["Tty"] == .bool(true),
                                   stdin: f.bool("interactive"), detachKeys: f.string("detach-keys"), condition: "next-exit")
    }

    func stop(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("t", "time", value: true), .init(nil, "timeout", value: true), .init("s", "signal", value: true)])
        try requireArgs(f, 1, "\(name) stop")
        var q: [(String, String)] = []
        if let t = try f.int("time") ?? f.int("timeout") { q.append(("t", String(t))) }
        if let s = f.string("signal") { q.append(("signal", s)) }
        return each(f.positionals) { n in _ = try client.open("POST", "/containers/\(n)/stop", query: q).body(); out(n + "\n") }
    }

    func restart(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("t", "time", value: true), .init(nil, "timeout", value: true), .init("s", "signal", value: true)])
        try requireArgs(f, 1, "\(name) restart")
        var q: [(String, String)] = []
        if let t = try f.int("time") ?? f.int("timeout") { q.append(("t", String(t))) }
        if let s = f.string("signal") { q.append(("signal", s)) }
        return each(f.positionals) { n in _ = try client.open("POST", "/containers/\(n)/restart", query: q).body(); out(n + "\n") }
    }

    func kill(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("s", "signal", value: true)])
        try requireArgs(f, 1, "\(name) kill")
        let q = f.string("signal").map { [("signal", $0)] } ?? []
        return each(f.positionals) { n in _ = try client.open("POST", "/containers/\(n)/kill", query: q).body(); out(n + "\n") }
    }

    func simple(_ args: [String], _ action: String) throws -> Int32 {
        let f = try Flags(args, specs: [])
        try requireArgs(f, 1, "\(name) \(action)")
        return each(f.positionals) { n in _ = try client.open("POST", "/containers/\(n)/\(action)").body(); out(n + "\n") }
    }

    func rm(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "force"), .init("v", "volumes"), .init("l", "link")])
        try requireArgs(f, 1, "\(name) rm")
        let q = [("force", f.bool("force") ? "1" : "0"), ("v", f.bool("volumes") ? "1" : "0")]
        return each(f.positionals) { n in _ = try client.open("DELETE", "/containers/\(n)", query: q).body(); out(n + "\n") }
    }

    // MARK: ps

    static let psTitles = ["ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
                           "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
                           "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"]

    func ps(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "all"), .init("q", "quiet"), .init("n", "last", value: true), .init("l", "latest"),
                                        .init("s", "size"), .init("f", "filter", value: true), .init(nil, "format", value: true),
                                        .init(nil, "no-trunc")])
        var q: [(String, String)] = [("all", f.bool("all") || f.has("last") || f.bool("latest") ? "1" : "0")]
        if let n = try f.int("last") { q.append(("limit", String(n))) }
        if f.bool("latest") { q.append(("limit", "1")) }
        if f.bool("size") { q.append(("size", "1")) }
        if f.has("filter") { q.append(("filters", Self.filtersJSON(f.all("filter")))) }
        let list = try client.call("GET", "/containers/json", query: q).array
        let trunc = !f.bool("no-trunc")
        let rows = list.map { Self.psRow($0, trunc: trunc) }
        if f.bool("quiet") {
            for r in rows { out((r["ID"]?.string ?? "") + "\n") }
            return 0
        }
        var format = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
        if f.bool("size") { format = format.replacingFirst("{{.Names}}", with: "{{.Names}}\t{{.Size}}") }
        try printRows(rows, format: f.string("format"), defaultFormat: format, titles: Self.psTitles)
        return 0
    }

    static func filtersJSON(_ filters: [String]) -> String {
        var map: [(String, [String])] = []
        for filter in filters {
            let kv = filter.split(separator: "=", maxSplits: 1).map(String.init)
            let value = kv.count > 1 ? kv[1] : ""
            if let i = map.firstIndex(where: { $0.0 == kv[0] }) { map[i].1.append(value) } else { map.append((kv[0], [value])) }
        }
        return JSONValue.object(map.map { ($0.0, .object($0.1.map { ($0, .bool(true)) })) }).compact
    }

    static func psRow(_ c: JSONValue, trunc: Bool) -> JSONValue {
        let id = c["Id"]?.string ?? ""
        var command = c["Command"]?.string ?? ""
        if trunc && command.count > 20 { command = String(command.prefix(19)) + "…" }
        let created = Double(c["Created"]?.int ?? 0)
        let names = c["Names"]?.array.compactMap { $0.string.map { String($0.dropFirst()) } } ?? []
        let labels = (c["Labels"].map { v -> [(String, JSONValue)] in if case .object(let o) = v { return o } else { return [] } } ?? [])
            .map { "\($0.0)=\($0.1.string ?? "")" }.sorted().joined(separator: ",")
        var size = ""
        if let rw = c["SizeRw"]?.int {
            size = Size.human(rw) + " (virtual " + Size.human(c["SizeRootFs"]?.int ?? 0) + ")"
        }
        return .object([
            ("ID", .string(trunc ? String(id.prefix(12)) : id)), ("Image", .string(c["Image"]?.string ?? "")),
            ("Command", .string(JSONText.quote(command))), ("CreatedAt", .string(Self.localTime(created))),
            ("RunningFor", .string(Timestamp.humanDuration(Timestamp.epochNow() - created) + " ago")),
            ("Ports", .string(Self.portsText(c["Ports"]?.array ?? []))), ("State", .string(c["State"]?.string ?? "")), ("Status", .string(c["Status"]?.string ?? "")),
            ("Size", .string(size)), ("Names", .string(names.joined(separator: ","))), ("Labels", .string(labels)),
            ("Mounts", .string("")), ("Networks", .string(c["HostConfig"]?["NetworkMode"]?.string ?? "")),
        ])
    }

    /// Go's default time format for CreatedAt columns: `2026-11-22 10:04:05 +0000 UTC`.
    static func localTime(_ epoch: Double) -> String {
        var t = tm()
        var seconds = time_t(epoch)
        gmtime_r(&seconds, &t)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S +0000 UTC", &t)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: logs, exec, attach

    func logs(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "follow"), .init("t", "timestamps"), .init("n", "tail", value: true),
                                        .init(nil, "since", value: true), .init(nil, "until", value: true), .init(nil, "details")])
        try requireArgs(f, 1, "\(name) logs")
        let ref = f.positionals[0]
        let tty = try client.call("GET", "/containers/\(ref)/json")["Config"]?["Tty"] == .bool(true)
        var q = [("stdout", "1"), ("stderr", "1"), ("follow", f.bool("follow") ? "1" : "0"), ("timestamps", f.bool("timestamps") ? "1" : "0")]
        if let t = f.string("tail") { q.append(("tail", t)) }
        if f.bool("details") { q.append(("details", "1")) }
        if let s = f.string("since") { q.append(("since", Self.timeArgument(s))) }
        if let u = f.string("until") { q.append(("until", Self.timeArgument(u))) }
        let response = try client.open("GET", "/containers/\(ref)/logs", query: q)
        var demux = Streams.Demux(tty: tty)
        while let piece = try response.next() { demux.feed(piece) }
        return 0
    }

    /// `10m`, `2h`, RFC 3339 or Unix seconds → Unix seconds (docker converts on the client).
    static func timeArgument(_ text: String) -> String {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        if let u = text.last, let mult = units[u], let n = Double(text.dropLast()) {
            return String(Int64(Timestamp.epochNow() - n * mult))
        }
        if let t = Timestamp.parse(text) { return String(Int64(t)) }
        return text
    }

    func exec(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("d", "detach"), .init("i", "interactive"), .init("t", "tty"), .init("e", "env", value: true),
                                        .init("u", "user", value: true), .init("w", "workdir", value: true), .init(nil, "privileged"),
                                        .init(nil, "env-file", value: true), .init(nil, "detach-keys", value: true)],
                          stopAtPositional: true)
        try requireArgs(f, 2, "\(name) exec")
        let ref = f.positionals[0]
        var config = ExecConfig()
        config.Cmd = Array(f.positionals.dropFirst())
        config.Tty = f.bool("tty")
        config.AttachStdin = f.bool("interactive") && !f.bool("detach")
        config.AttachStdout = !f.bool("detach")
        config.AttachStderr = !f.bool("detach")
        if f.has("env") { config.Env = f.all("env").map(Self.envEntry) }
        config.User = f.string("user")
        config.WorkingDir = f.string("workdir")
        if f.bool("privileged") { config.Privileged = true }
        let detach = try Streams.detachKeys(flag: f.string("detach-keys"))
        config.DetachKeys = detach.query
        let execID = try client.call("POST", "/containers/\(ref)/exec", json: config)["Id"]?.string ?? ""
        var start = ExecStartConfig()
        start.Detach = f.bool("detach")
        start.Tty = f.bool("tty")
        let body = Array(try JSONEncoder().encode(start))
        if f.bool("detach") {
            _ = try client.open("POST", "/exec/\(execID)/start", body: body).body()
            return 0
        }
        let stream = try Streams.hijack(client, "/exec/\(execID)/start", body: body)
        if f.bool("tty"), let size = Streams.terminalSize() {
            _ = try? client.open("POST", "/exec/\(execID)/resize", query: [("h", String(size.0)), ("w", String(size.1))]).body()
        }
        let restore = f.bool("tty") && f.bool("interactive") ? Streams.rawTerminal() : {}
        let detached = Streams.pump(fd: stream.fd, early: stream.early, tty: f.bool("tty"), stdin: f.bool("interactive"), detachKeys: detach.keys)
        restore()
        if detached { FileIO.stderr("read escape sequence\n"); return 1 }  // as docker exec (and attach)
        return Int32(truncatingIfNeeded: try client.call("GET", "/exec/\(execID)/json")["ExitCode"]?.int ?? 126)
    }

    func attach(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init(nil, "no-stdin"), .init(nil, "sig-proxy"), .init(nil, "detach-keys", value: true)])
        try requireArgs(f, 1, "\(name) attach")
        let info = try client.call("GET", "/containers/\(f.positionals[0])/json")
        let id = info["Id"]?.string ?? ""
        guard info["State"]?["Running"] == .bool(true) else {
            throw APIClient.Failure(status: 409, message: "You cannot attach to a stopped container, start it first")
        }
        let tty = info["Config"]?["Tty"] == .bool(true)
        let stdin = !f.bool("no-stdin") && info["Config"]?["OpenStdin"] == .bool(true)
        let detach = try Streams.detachKeys(flag: f.string("detach-keys"))
        var q = [("stream", "1"), ("stdin", stdin ? "1" : "0"), ("stdout", "1"), ("stderr", "1")]
        if let k = detach.query { q.append(("detachKeys", k)) }
        let stream = try Streams.hijack(client, "/containers/\(id)/attach", query: q)
        let restore = tty && stdin ? Streams.rawTerminal() : {}
        let detached = Streams.pump(fd: stream.fd, early: stream.early, tty: tty, stdin: stdin, detachKeys: detach.keys)
        restore()
        // docker attach's words and status for a detach (its run and start say nothing)
        if detached { FileIO.stderr("read escape sequence\n"); return 1 }
        let after = try client.call("GET", "/containers/\(id)/json")
        if after["State"]?["Running"] == .bool(true) { return 0 }
        return Int32(truncatingIfNeeded: after["State"]?["ExitCode"]?.int ?? 0)
    }

    // MARK: inspect and friends

    func inspect(_ args: [String], kind: String?) throws -> Int32 {
        // `--type` chooses among objects only where the command itself does not (`container inspect` does)
        let sizes: [Flags.Spec] = kind == nil || kind == "container" ? [.init("s", "size")] : []  // only containers have sizes
        let extra: [Flags.Spec] = kind == "image" ? [.init(nil, "platform", value: true)] : kind == "network" ? [.init("v", "verbose")] : []
        let f = try Flags(args, specs: [.init("f", "format", value: true)] + sizes + extra + (kind == nil ? [.init(nil, "type", value: true)] : []))
        let platform = try Self.platformQuery(f)
        try requireArgs(f, 1, "\(name) inspect")
        let type = kind ?? f.string("type")
        var results: [JSONValue] = []
        var code: Int32 = 0
        for n in f.positionals {
            let paths = ["container": "/containers/\(n)/json", "image": "/images/\(n)/json", "network": "/networks/\(n)", "volume": "/volumes/\(n)"]
            let order = type.map { [$0] } ?? ["container", "image", "network", "volume"]
            var found: JSONValue?
            var refusal: APIClient.Failure?
            for kind in order {
                guard let path = paths[kind] else { throw Flags.UsageError(description: "\"\(kind)\" is not a valid value for --type") }
                let query = kind == "container" && f.bool("size") ? [("size", "1")] : kind == "image" ? platform
                    : kind == "network" && f.bool("verbose") ? [("verbose", "true")] : []
                do { found = try client.call("GET", path, query: query); break } catch let e as APIClient.Failure where e.status == 404 {
                    if kind == "image" && !platform.isEmpty { refusal = e }  // found, but of another platform: say so
                }
            }
            guard let value = found else {
                FileIO.stderr(refusal.map { "Error response from daemon: \($0.message)\n" } ?? "Error: No such \(type ?? "object"): \(n)\n")
                code = 1
                continue
            }
            results.append(value)
        }
        if let format = f.string("format") {
            let template = try Template(format)
            for r in results { out(try template.render(r) + "\n") }
        } else {
            out(JSONValue.array(results).indented() + "\n")
        }
        return code
    }

    func top(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [], stopAtPositional: true)
        try requireArgs(f, 1, "\(name) top")
        let top = try client.call("GET", "/containers/\(f.positionals[0])/top")
        let titles = top["Titles"]?.array.compactMap(\.string) ?? []
        let rows = top["Processes"]?.array.map { $0.array.compactMap(\.string) } ?? []
        out(Table.render([titles] + rows))
        return 0
    }

    func stats(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "all"), .init(nil, "no-stream"), .init(nil, "format", value: true), .init(nil, "no-trunc")])
        let titles = ["Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
                      "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"]
        let format = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
        let streaming = !f.bool("no-stream")
        repeat {
            // without names, the containers of the moment: one started meanwhile joins the table
            let names = f.positionals.isEmpty
                ? try client.call("GET", "/containers/json", query: [("all", f.bool("all") ? "1" : "0")]).array.compactMap { $0["Id"]?.string }
                : f.positionals
            // each sample takes the daemon a second (it measures CPU over it): all at once
            let samples = Locked([Int: Result<JSONValue, Error>]())
            let client = self.client, asked = names
            DispatchQueue.concurrentPerform(iterations: asked.count) { i in
                let result = Result { try client.call("GET", "/containers/\(asked[i])/stats", query: [("stream", "0")]) }
                samples.mutate { $0[i] = result }
            }
            var rows: [JSONValue] = []
            for (i, name) in names.enumerated() {
                switch samples.value[i] {
                case .success(let sample)?: rows.append(Self.statsRow(sample, name: name))
                case .failure(let error)? where !streaming: throw error
                default: break  // a container that went away while the table streams drops out, as docker's
                }
            }
            let table = try renderRows(rows, format: f.string("format"), defaultFormat: format, titles: titles)
            // docker's redraw: from the top, each line over the old one (erasing what is left of it),
            // then the rest of the screen erased, so the table does not flicker
            out(streaming ? "\u{1b}[H" + table.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 + "\u{1b}[K\n" }.joined() + "\u{1b}[J" : table)
        } while streaming
        return 0
    }

    static func statsRow(_ s: JSONValue, name: String) -> JSONValue {
        let cpu = Double(s["cpu_stats"]?["cpu_usage"]?["total_usage"]?.int ?? 0) - Double(s["precpu_stats"]?["cpu_usage"]?["total_usage"]?.int ?? 0)
        let system = Double(s["cpu_stats"]?["system_cpu_usage"]?.int ?? 0) - Double(s["precpu_stats"]?["system_cpu_usage"]?.int ?? 0)
        let cpus = Double(s["cpu_stats"]?["online_cpus"]?.int ?? 1)
        let cpuPercent = system > 0 && cpu > 0 ? cpu / system * cpus * 100 : 0
        let memStats = s["memory_stats"]?["stats"]
        let cache = memStats?["total_inactive_file"]?.int ?? memStats?["inactive_file"]?.int ?? 0
        let used = Double(max((s["memory_stats"]?["usage"]?.int ?? 0) - cache, 0))
        let limit = Double(s["memory_stats"]?["limit"]?.int ?? 0)
        var read: Int64 = 0, written: Int64 = 0
        for e in s["blkio_stats"]?["io_service_bytes_recursive"]?.array ?? [] {
            if e["op"]?.string?.lowercased() == "read" { read += e["value"]?.int ?? 0 }
            if e["op"]?.string?.lowercased() == "write" { written += e["value"]?.int ?? 0 }
        }
        var received: Int64 = 0, sent: Int64 = 0
        if case .object(let interfaces)? = s["networks"] {
            for (_, counters) in interfaces {
                received += counters["rx_bytes"]?.int ?? 0
                sent += counters["tx_bytes"]?.int ?? 0
            }
        }
        let id = s["id"]?.string ?? ""
        return .object([
            ("Container", .string(name)), ("ID", .string(String(id.prefix(12)))),
            ("Name", .string(String((s["name"]?.string ?? "").dropFirst()))),
            ("CPUPerc", .string(Size.fixed(cpuPercent) + "%")),
            ("MemUsage", .string(Size.binary(used) + " / " + Size.binary(limit))),
            ("MemPerc", .string(Size.fixed(limit > 0 ? used / limit * 100 : 0) + "%")),
            ("NetIO", .string(Size.human(received) + " / " + Size.human(sent))), ("BlockIO", .string(Size.human(read) + " / " + Size.human(written))),
            ("PIDs", .string(String(s["pids_stats"]?["current"]?.int ?? 0))),
        ])
    }

    func port(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        try requireArgs(f, 1, "\(name) port")
        let info = try client.call("GET", "/containers/\(f.positionals[0])/json")
        guard case .object(let ports)? = info["NetworkSettings"]?["Ports"] else { return 0 }
        if f.positionals.count > 1 {
            let asked = f.positionals[1].contains("/") ? f.positionals[1] : f.positionals[1] + "/tcp"
            let bindings = ports.first { $0.0 == asked }?.1.array ?? []
            guard !bindings.isEmpty else {
                FileIO.stderr("Error: No public port '\(asked)' published for \(f.positionals[0])\n")
                return 1
            }
            for b in bindings { out("\(b["HostIp"]?.string ?? ""):\(b["HostPort"]?.string ?? "")\n") }
            return 0
        }
        for (port, bindings) in ports.sorted(by: { $0.0 < $1.0 }) {
            for b in bindings.array { out("\(port) -> \(b["HostIp"]?.string ?? ""):\(b["HostPort"]?.string ?? "")\n") }
        }
        return 0
    }

    /// `ps`' PORTS: `0.0.0.0:8080->80/tcp, 443/tcp`, as docker's formatter writes them.
    static func portsText(_ ports: [JSONValue]) -> String {
        ports.map { p -> (Int64, String) in
            let priv = p["PrivatePort"]?.int ?? 0, type = p["Type"]?.string ?? "tcp"
            if let pub = p["PublicPort"]?.int { return (priv, "\(p["IP"]?.string ?? "0.0.0.0"):\(pub)->\(priv)/\(type)") }
            return (priv, "\(priv)/\(type)")
        }.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: ", ")
    }

    func rename(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        try requireArgs(f, 2, "\(name) rename")
        _ = try client.open("POST", "/containers/\(f.positionals[0])/rename", query: [("name", f.positionals[1])]).body()
        return 0
    }

    func wait(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        try requireArgs(f, 1, "\(name) wait")
        return each(f.positionals) { n in out(String(try client.call("POST", "/containers/\(n)/wait")["StatusCode"]?.int ?? 0) + "\n") }
    }

    func diff(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        try requireArgs(f, 1, "\(name) diff")
        for c in try client.call("GET", "/containers/\(f.positionals[0])/changes").array {
            out(["C", "A", "D"][Int(c["Kind"]?.int ?? 0) % 3] + " " + (c["Path"]?.string ?? "") + "\n")
        }
        return 0
    }

    /// What `update` changes: resources and the restart policy, as docker 28's update (which no
    /// longer offers `--kernel-memory`).
    static let updateFlags = runFlags.filter {
        ["blkio-weight", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime", "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems",
         "memory", "memory-reservation", "memory-swap", "pids-limit", "restart"].contains($0.long)
    }

    func update(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.updateFlags)
        try requireArgs(f, 1, "\(name) update")
        let body = try Self.createBody(f, image: "", command: []).host
        var warnings: [String] = []
        let code = each(f.positionals) { n in
            let reply = try client.call("POST", "/containers/\(n)/update", json: body)
            out(n + "\n")
            warnings += (reply["Warnings"]?.array ?? []).compactMap(\.string)
        }
        // After every container, on stdout, as docker's update prints them.
        if !warnings.isEmpty { out(warnings.joined(separator: "\n") + "\n") }
        return code
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = firstRange(of: target) else { return self }
        return String(self[..<r.lowerBound]) + replacement + String(self[r.upperBound...])
    }
}
