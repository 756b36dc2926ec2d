/// Engine API wire models (moby `api/swagger.yaml`). Property names are the JSON keys, in
/// Docker's PascalCase, so one Codable type is the whole contract with no key tables to drift.
/// Every request field is optional: clients send subsets, and an absent field means Docker's default.

public struct ContainerConfig: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress", "StopSignal",
                                                    "StopTimeout", "Shell"]
    public static let valueKeys: Set<String> = ["Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin",
                                                "StdinOnce", "ArgsEscaped", "Image", "WorkingDir", "NetworkDisabled", "StopSignal", "MacAddress"]
    public var Hostname: String?
    public var Domainname: String?
    public var User: String?
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var ExposedPorts: [String: EmptyJSON]?
    public var Tty: Bool?
    public var OpenStdin: Bool?
    public var StdinOnce: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Healthcheck: HealthConfig?
    public var ArgsEscaped: Bool?
    public var Image: String?
    public var Volumes: [String: EmptyJSON]?
    public var WorkingDir: String?
    public var Entrypoint: [String]?
    public var NetworkDisabled: Bool?
    public var OnBuild: [String]?
    public var Labels: [String: String]?
    public var StopSignal: String?
    public var StopTimeout: Int?
    public var Shell: [String]?
    /// API < 1.44; newer clients set the MAC per endpoint.
    public var MacAddress: String?
    public init() {}
}

public struct HealthConfig: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]
    public var Test: [String]?
    public var Interval: Int64?
    public var Timeout: Int64?
    public var StartPeriod: Int64?
    /// API 1.44: the interval between probes during the start period.
    public var StartInterval: Int64?
    public var Retries: Int?
    public init() {}
}

/// `State.Health`: present only for a container with a healthcheck.
public struct HealthState: Codable, Sendable, Equatable {
    /// `starting`, `healthy` or `unhealthy`.
    public var Status: String = "starting"
    public var FailingStreak: Int = 0
    /// The last five probes, oldest first.
    public var Log: [HealthProbeResult] = []
    public init() {}
}

public struct HealthProbeResult: Codable, Sendable, Equatable {
    public var Start: String = ""
    public var End: String = ""
    /// 0 healthy, 1 unhealthy, -1 the probe could not run or timed out.
    public var ExitCode: Int = 0
    public var Output: String = ""
    public init(Start: String, End: String, ExitCode: Int, Output: String) {
        self.Start = Start; self.End = End; self.ExitCode = ExitCode; self.Output = Output
    }
    public init() {}
}

/// `{}`: the value in Docker's string sets (ExposedPorts, Volumes).
public struct EmptyJSON: Codable, Sendable, Equatable, Hashable {
    public init() {}
}

/// The create body's non-Config parts.
public struct ContainerCreateExtras: Codable, Sendable {
    public var HostConfig: HostConfig?
    public var NetworkingConfig: NetworkingConfig?
    public init() {}
}

/// moby's `container.HostConfig`: every field a client may send, each optional so that a
/// request says only what it sets; `ContainerService` fills Docker's defaults at create, so
/// inspect shows what dockerd shows.
public struct HostConfig: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init", "Annotations"]
    /// Every scalar but the pointers (`Init`, `OomKillDisable`, `PidsLimit`, `MemorySwappiness`).
    public static let valueKeys: Set<String> = [
        "ContainerIDFile", "NetworkMode", "AutoRemove", "PublishAllPorts", "VolumeDriver", "Privileged", "ReadonlyRootfs", "Memory",
        "MemoryReservation", "MemorySwap", "KernelMemory", "KernelMemoryTCP", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod", "CpusetCpus",
        "CpusetMems", "BlkioWeight", "ShmSize", "OomScoreAdj", "PidMode", "UsernsMode", "IpcMode", "UTSMode", "CgroupnsMode", "Cgroup",
        "CgroupParent", "Isolation", "Runtime", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuCount", "CpuPercent", "IOMaximumIOps",
        "IOMaximumBandwidth",
    ]
    public var Binds: [String]?
    public var ContainerIDFile: String?
    public var NetworkMode: String?
    public var PortBindings: [String: [PortBinding]?]?
    public var RestartPolicy: RestartPolicy?
    public var AutoRemove: Bool?
    public var CapAdd: [String]?
    public var CapDrop: [String]?
    public var Dns: [String]?
    public var DnsOptions: [String]?
    public var DnsSearch: [String]?
    public var ExtraHosts: [String]?
    public var PublishAllPorts: Bool?
    public var VolumesFrom: [String]?
    public var VolumeDriver: String?
    public var Mounts: [MountSpec]?
    public var Privileged: Bool?
    public var ReadonlyRootfs: Bool?
    public var Init: Bool?
    public var Memory: Int64?
    public var MemoryReservation: Int64?
    public var MemorySwap: Int64?
    /// Deprecated by Docker and never applied: kept to warn as dockerd does, and shown by inspect.
    public var KernelMemory: Int64?
    public var KernelMemoryTCP: Int64?
    public var OomKillDisable: Bool?
    public var NanoCpus: Int64?
    public var CpuShares: Int64?
    public var CpuQuota: Int64?
    public var CpuPeriod: Int64?
    public var CpusetCpus: String?
    public var CpusetMems: String?
    public var BlkioWeight: Int?
    public var PidsLimit: Int64?
    public var Ulimits: [Ulimit]?
    public var LogConfig: LogConfig?
    public var ShmSize: Int64?
    public var Sysctls: [String: String]?
    public var Tmpfs: [String: String]?
    public var SecurityOpt: [String]?
    public var OomScoreAdj: Int?
    public var PidMode: String?
    /// `--userns=host`: out of the daemon's `--userns-remap` user namespace.
    public var UsernsMode: String?
    public var IpcMode: String?
    public var UTSMode: String?
    public var GroupAdd: [String]?
    public var Devices: [DeviceMapping]?
    public var Links: [String]?
    public var ConsoleSize: [Int]?
    /// `private` or `host`; the daemon's default (`host` on cgroup v1, `private` on v2) when unset.
    public var CgroupnsMode: String?
    public var Cgroup: String?
    public var CgroupParent: String?
    public var Isolation: String?
    public var Runtime: String?
    public var DeviceCgroupRules: [String]?
    public var DeviceRequests: [DeviceRequest]?
    public var MemorySwappiness: Int64?
    public var BlkioWeightDevice: [WeightDevice]?
    public var BlkioDeviceReadBps: [ThrottleDevice]?
    public var BlkioDeviceWriteBps: [ThrottleDevice]?
    public var BlkioDeviceReadIOps: [ThrottleDevice]?
    public var BlkioDeviceWriteIOps: [ThrottleDevice]?
    public var CpuRealtimePeriod: Int64?
    public var CpuRealtimeRuntime: Int64?
    public var CpuCount: Int64?
    public var CpuPercent: Int64?
    public var IOMaximumIOps: Int64?
    public var IOMaximumBandwidth: Int64?
    public var MaskedPaths: [String]?
    public var ReadonlyPaths: [String]?
    public var StorageOpt: [String: String]?
    public var Annotations: [String: String]?
    public init() {}
}

public struct WeightDevice: Codable, Sendable, Equatable {
    public var Path: String = ""
    public var Weight: Int = 0
    public init() {}
}

public struct ThrottleDevice: Codable, Sendable, Equatable {
    public var Path: String = ""
    public var Rate: Int64 = 0
    public init() {}
}

public struct DeviceRequest: Codable, Sendable, Equatable {
    public var Driver: String = ""
    public var Count: Int = 0
    public var DeviceIDs: [String]?
    public var Capabilities: [[String]]?
    public var Options: [String: String]?
    public init() {}
}

public struct PortBinding: Codable, Sendable, Equatable {
    public var HostIp: String?
    public var HostPort: String?
    public init() {}
}

public struct RestartPolicy: Codable, Sendable, Equatable {
    public var Name: String?
    public var MaximumRetryCount: Int?
    public init(Name: String? = nil, MaximumRetryCount: Int? = nil) { self.Name = Name; self.MaximumRetryCount = MaximumRetryCount }
    public init() {}
}

public struct Ulimit: Codable, Sendable, Equatable {
    public var Name: String = ""
    public var Soft: Int64 = 0
    public var Hard: Int64 = 0
    public init() {}
}

public struct LogConfig: Codable, Sendable, Equatable {
    public var `Type`: String?
    public var Config: [String: String]?
    public init() {}
}

public struct DeviceMapping: Codable, Sendable, Equatable {
    public var PathOnHost: String?
    public var PathInContainer: String?
    public var CgroupPermissions: String?
    public init() {}
}

public struct ContainerCreateResponse: Codable, Sendable {
    public var Id: String = ""
    public var Warnings: [String] = []
    public init(Id: String, Warnings: [String]) { self.Id = Id; self.Warnings = Warnings }
    public init() {}
}

public struct ContainerState: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["Health"]
    public var Status: String = ""
    public var Running: Bool = false
    public var Paused: Bool = false
    public var Restarting: Bool = false
    public var OOMKilled: Bool = false
    public var Dead: Bool = false
    public var Pid: Int32 = 0
    public var ExitCode: Int32 = 0
    public var Error: String = ""
    public var StartedAt: String = ""
    public var FinishedAt: String = ""
    public var Health: HealthState?
    public init() {}
}

public struct GraphDriver: Codable, Sendable {
    public var Name: String = ""
    public var Data: [String: String] = [:]
    public init() {}
}

public struct NetworkSettings: Codable, Sendable {
    public var Bridge: String = ""
    public var SandboxID: String = ""
    public var HairpinMode: Bool = false
    public var LinkLocalIPv6Address: String = ""
    public var LinkLocalIPv6PrefixLen: Int = 0
    public var Ports: [String: [PortBinding]?] = [:]
    public var SandboxKey: String = ""
    public var SecondaryIPAddresses: [String]? = nil
    public var SecondaryIPv6Addresses: [String]? = nil
    public var EndpointID: String = ""
    public var Gateway: String = ""
    public var GlobalIPv6Address: String = ""
    public var GlobalIPv6PrefixLen: Int = 0
    public var IPAddress: String = ""
    public var IPPrefixLen: Int = 0
    public var IPv6Gateway: String = ""
    public var MacAddress: String = ""
    public var Networks: [String: EndpointSettings] = [:]
    public init() {}
}

public struct MountPoint: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["Type", "Name", "Driver"]
    public var `Type`: String = ""
    public var Name: String?
    public var Source: String = ""
    public var Destination: String = ""
    public var Driver: String?
    public var Mode: String = ""
    public var RW: Bool = false
    public var Propagation: String = ""
    public init() {}
}

/// `GET /containers/{id}/json`.
public struct ContainerInspect: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["SizeRw", "SizeRootFs"]
    public var Id: String = ""
    public var Created: String = ""
    public var Path: String = ""
    public var Args: [String] = []
    public var State: ContainerState = .init()
    public var Image: String = ""
    public var ResolvConfPath: String = ""
    public var HostnamePath: String = ""
    public var HostsPath: String = ""
    public var LogPath: String = ""
    public var Name: String = ""
    public var RestartCount: Int = 0
    public var Driver: String = ""
    public var Platform: String = ""
    public var MountLabel: String = ""
    public var ProcessLabel: String = ""
    public var AppArmorProfile: String = ""
    public var ExecIDs: [String]?
    public var HostConfig: HostConfig = .init()
    public var GraphDriver: GraphDriver = .init()
    public var SizeRw: Int64?
    public var SizeRootFs: Int64?
    public var Mounts: [MountPoint] = []
    public var Config: ContainerConfig = .init()
    public var NetworkSettings: NetworkSettings = .init()
    public init() {}
}

extension ContainerInspect {
    /// Before API 1.45 a container's short ID and hostname were among its aliases on each
    /// user-defined network (1.45 moved them to `DNSNames`): moby adds them back for an older
    /// client, and so does this.
    public mutating func addAliasesBefore145() {
        let names = [String(Id.prefix(12)), Config.Hostname ?? ""].filter { !$0.isEmpty }
        for (network, endpoint) in NetworkSettings.Networks where !["bridge", "host", "none", "default"].contains(network) {
            var aliases = endpoint.Aliases ?? []
            for name in names where !aliases.contains(name) { aliases.append(name) }
            NetworkSettings.Networks[network]?.Aliases = aliases
        }
    }
}

/// One row of `GET /containers/json`: marshalled as Go's, so an endpoint's unset fields are
/// `null` as in inspect, not missing.
public struct ContainerSummary: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["SizeRw", "SizeRootFs"]
    public var Id: String = ""
    public var Names: [String] = []
    public var Image: String = ""
    public var ImageID: String = ""
    public var Command: String = ""
    public var Created: Int64 = 0
    public var Ports: [PortSummary] = []
    public var SizeRw: Int64?
    public var SizeRootFs: Int64?
    public var Labels: [String: String] = [:]
    public var State: String = ""
    public var Status: String = ""
    public var HostConfig: [String: String] = [:]
    public var NetworkSettings: [String: [String: EndpointSettings]] = [:]
    public var Mounts: [MountPoint] = []
    public init() {}
}

public struct PortSummary: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["IP", "PublicPort"]
    public var IP: String?
    public var PrivatePort: Int = 0
    public var PublicPort: Int?
    public var `Type`: String = ""
    public init() {}
}

public struct WaitResponse: Codable, Sendable {
    public struct WaitError: Codable, Sendable { public var Message: String = ""; public init(_ v: String = "") { Message = v } }
    public var StatusCode: Int32 = 0
    public var Error: WaitError?
    public init(StatusCode: Int32, Error: WaitError? = nil) { self.StatusCode = StatusCode; self.Error = Error }
}

public struct ExecConfig: Codable, Sendable {
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var DetachKeys: String?
    public var Tty: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Privileged: Bool?
    public var User: String?
    public var WorkingDir: String?
    public var ConsoleSize: [Int]?
    public init() {}
}

public struct ExecStartConfig: Codable, Sendable {
    public var Detach: Bool?
    public var Tty: Bool?
    public var ConsoleSize: [Int]?
    public init() {}
}

public struct IDResponse: Codable, Sendable {
    public var Id: String = ""
    public init(Id: String) { self.Id = Id }
    public init() {}
}

/// Marshalled as Go's: an unset exit code is `null`, an empty user left out.
public struct ExecInspect: Codable, Sendable, GoEncodable {
    public struct ProcessConfig: Codable, Sendable, GoEncodable {
        public static let omitEmptyKeys: Set<String> = ["user"]
        public var tty: Bool = false
        public var entrypoint: String = ""
        public var arguments: [String] = []
        public var privileged: Bool = false
        public var user: String = ""
        public init() {}
    }
    public var CanRemove: Bool = false
    public var ContainerID: String = ""
    public var DetachKeys: String = ""
    public var ExitCode: Int32?
    public var ID: String = ""
    public var OpenStderr: Bool = false
    public var OpenStdin: Bool = false
    public var OpenStdout: Bool = false
    public var ProcessConfig: ProcessConfig = .init()
    public var Running: Bool = false
    public var Pid: Int32 = 0
    public init() {}
}

public struct ContainerTop: Codable, Sendable {
    public var Titles: [String] = []
    public var Processes: [[String]] = []
    public init() {}
}

public struct PruneReport: Codable, Sendable {
    public var ContainersDeleted: [String]?
    public var ImagesDeleted: [ImageDeleteItem]?
    public var SpaceReclaimed: Int64 = 0
    public init(ContainersDeleted: [String]? = nil, ImagesDeleted: [ImageDeleteItem]? = nil, SpaceReclaimed: Int64) {
        self.ContainersDeleted = ContainersDeleted; self.ImagesDeleted = ImagesDeleted; self.SpaceReclaimed = SpaceReclaimed
    }
    public init() {}
}

public struct ImageDeleteItem: Codable, Sendable, Equatable {
    public var Untagged: String?
    public var Deleted: String?
    public init(Untagged: String? = nil, Deleted: String? = nil) { self.Untagged = Untagged; self.Deleted = Deleted }
    public init() {}
}

/// Docker's error body.
public struct ErrorResponse: Codable, Sendable {
    public var message: String = ""
    public init(message: String) { self.message = message }
    public init() {}
}

/// One entry of `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted.
public struct ChangeItem: Codable, Sendable, Equatable {
    public var Path: String
    public var Kind: Int
    public init(Path: String, Kind: Int) { self.Path = Path; self.Kind = Kind }
}

/// The `X-Docker-Container-Path-Stat` header of the archive endpoints (base64 JSON); `mode` is
/// Go's `os.FileMode`, whose type bits the docker CLI tests.
public struct PathStat: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var mode: UInt32
    public var mtime: String
    public var linkTarget: String
    public init(name: String, size: Int64, mode: UInt32, mtime: String, linkTarget: String) {
        self.name = name; self.size = size; self.mode = mode; self.mtime = mtime; self.linkTarget = linkTarget
    }
}
