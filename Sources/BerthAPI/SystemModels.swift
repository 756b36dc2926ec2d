/// `GET /version`.
public struct VersionResponse: Codable, Sendable {
    public struct Component: Codable, Sendable {
        public var Name: String = ""
        public var Version: String = ""
        public var Details: [String: String]?
        public init() {}
    }
    public struct PlatformName: Codable, Sendable { public var Name: String = ""; public init(_ v: String = "") { Name = v } }
    public var Platform: PlatformName = .init()
    public var Components: [Component] = []
    public var Version: String = ""
    public var ApiVersion: String = ""
    public var MinAPIVersion: String = ""
    public var GitCommit: String = ""
    public var GoVersion: String = ""
    public var Os: String = ""
    public var Arch: String = ""
    public var KernelVersion: String = ""
    public var BuildTime: String = ""
    public init() {}
}

/// `GET /info`, moby's `system.Info` in its order, marshalled as Go's (no warnings is `null`).
public struct InfoResponse: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["DefaultAddressPools"]
    public struct AddressPool: Codable, Sendable {
        public var Base: String = ""
        public var Size: Int = 0
        public init(Base: String, Size: Int) { self.Base = Base; self.Size = Size }
    }
    public struct Commit: Codable, Sendable {
        public var ID: String = ""
        public var Expected: String = ""
        public init(_ id: String = "") { ID = id; Expected = id }
    }
    public struct Plugins: Codable, Sendable {
        public var Volume: [String] = []
        public var Network: [String] = []
        public var Authorization: [String]?
        public var Log: [String] = []
        public init() {}
    }
    public struct Runtime: Codable, Sendable { public var path: String = ""; public init(_ v: String = "") { path = v } }
    public struct Swarm: Codable, Sendable {
        public var LocalNodeState: String = ""
        public var ControlAvailable: Bool = false
        public var NodeID: String = ""
        public var NodeAddr: String = ""
        public var Error: String = ""
        public var RemoteManagers: [String]?
        public init() {}
    }
    public struct RegistryConfig: Codable, Sendable {
        public var AllowNondistributableArtifactsCIDRs: [String] = []
        public var AllowNondistributableArtifactsHostnames: [String] = []
        public var IndexConfigs: [String: IndexInfo] = [:]
        public var InsecureRegistryCIDRs: [String] = []
        public var Mirrors: [String] = []
        public init() {}
    }
    public struct IndexInfo: Codable, Sendable {
        public var Name: String = ""
        public var Mirrors: [String] = []
        public var Secure: Bool = false
        public var Official: Bool = false
        public init() {}
    }
    public var ID: String = ""
    public var Containers: Int = 0
    public var ContainersRunning: Int = 0
    public var ContainersPaused: Int = 0
    public var ContainersStopped: Int = 0
    public var Images: Int = 0
    public var Driver: String = ""
    public var DriverStatus: [[String]] = []
    public var Plugins: Plugins = .init()
    public var MemoryLimit: Bool = false
    public var SwapLimit: Bool = false
    public var KernelMemory: Bool = false
    public var KernelMemoryTCP: Bool = false
    public var CpuCfsPeriod: Bool = false
    public var CpuCfsQuota: Bool = false
    public var CPUShares: Bool = false
    public var CPUSet: Bool = false
    public var PidsLimit: Bool = false
    public var IPv4Forwarding: Bool = false
    public var BridgeNfIptables: Bool = false
    public var BridgeNfIp6tables: Bool = false
    public var Debug: Bool = false
    public var NFd: Int = 0
    public var OomKillDisable: Bool = false
    public var NGoroutines: Int = 0
    public var SystemTime: String = ""
    public var LoggingDriver: String = ""
    public var CgroupDriver: String = ""
    public var CgroupVersion: String = ""
    public var NEventsListener: Int = 0
    public var KernelVersion: String = ""
    public var OperatingSystem: String = ""
    public var OSVersion: String = ""
    public var OSType: String = ""
    public var Architecture: String = ""
    public var IndexServerAddress: String = ""
    public var RegistryConfig: RegistryConfig = .init()
    public var NCPU: Int = 0
    public var MemTotal: Int64 = 0
    /// A swarm node's; never any here.
    public var GenericResources: [String]?
    public var DockerRootDir: String = ""
    public var HttpProxy: String = ""
    public var HttpsProxy: String = ""
    public var NoProxy: String = ""
    public var Name: String = ""
    public var Labels: [String] = []
    public var ExperimentalBuild: Bool = false
    public var ServerVersion: String = ""
    public var Runtimes: [String: Runtime] = [:]
    public var DefaultRuntime: String = ""
    public var Swarm: Swarm = .init()
    public var LiveRestoreEnabled: Bool = false
    public var Isolation: String = ""
    public var InitBinary: String = ""
    public var ContainerdCommit: Commit = .init()
    public var RuncCommit: Commit = .init()
    public var InitCommit: Commit = .init()
    public var SecurityOptions: [String] = []
    /// The configured `default-address-pools` (none when Docker's own are used, as dockerd).
    public var DefaultAddressPools: [AddressPool]?
    public var Warnings: [String]?
    public init() {}
}

/// `GET /system/check` (Berth's own): what was verified and every inconsistency found.
public struct SystemCheckReport: Codable, Sendable {
    public var Blobs = 0
    public var Snapshots = 0
    public var Images = 0
    public var Containers = 0
    public var Problems: [String] = []
    public init() {}
}

/// One record of `system df`'s `BuildCache` (moby's `types.BuildCache`): here, the directory of a
/// `RUN --mount=type=cache` id, BuildKit's `exec.cachemount` record.
public struct BuildCacheRecord: Codable, Sendable, Equatable, GoEncodable {
    /// moby's `Parents` is omitempty (`system df` marshals these as Go's).
    public static let omitEmptyKeys: Set<String> = ["Parents"]
    public var ID: String
    public var Parents: [String]?
    public var `Type`: String
    public var Description: String
    public var InUse: Bool
    public var Shared: Bool
    public var Size: Int64
    public var CreatedAt: String
    public var LastUsedAt: String?
    public var UsageCount: Int
    public init(ID: String, Type: String, Description: String, InUse: Bool, Shared: Bool, Size: Int64, CreatedAt: String,
                LastUsedAt: String?, UsageCount: Int) {
        self.ID = ID; self.Type = Type; self.Description = Description; self.InUse = InUse; self.Shared = Shared; self.Size = Size
        self.CreatedAt = CreatedAt; self.LastUsedAt = LastUsedAt; self.UsageCount = UsageCount
    }
}
