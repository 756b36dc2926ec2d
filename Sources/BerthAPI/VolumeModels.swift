/// Volume and mount wire models (moby `api/swagger.yaml`: Volume, VolumeCreateOptions, Mount).

/// Marshalled as Go's: a volume without options or labels shows `null`, as dockerd's.
public struct Volume: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["CreatedAt", "UsageData"]
    public struct UsageData: Codable, Sendable {
        public var Size: Int64
        public var RefCount: Int64
        public init(Size: Int64, RefCount: Int64) { self.Size = Size; self.RefCount = RefCount }
    }
    public var CreatedAt: String = ""
    public var Driver: String = "local"
    public var Labels: [String: String]? = [:]
    public var Mountpoint: String = ""
    public var Name: String = ""
    public var Options: [String: String]? = [:]
    public var Scope: String = "local"
    public var UsageData: UsageData?
    public init() {}
}

public struct VolumeCreateRequest: Codable, Sendable {
    public var Name: String?
    public var Driver: String?
    public var DriverOpts: [String: String]?
    public var Labels: [String: String]?
    public var ClusterVolumeSpec: ClusterVolumeSpec?
    public init() {}
}

/// A swarm cluster volume's spec (API 1.42), as `volume create --group/--scope/--type…` sends
/// it: Berth runs no swarm, so a request carrying one is refused rather than made local.
public struct ClusterVolumeSpec: Codable, Sendable {
    public var Group: String?
    public var AccessMode: AccessMode?
    public var CapacityRange: CapacityRange?
    public var Availability: String?
    public struct AccessMode: Codable, Sendable {
        public var Scope: String?
        public var Sharing: String?
        public init() {}
    }
    public struct CapacityRange: Codable, Sendable {
        public var RequiredBytes: Int64?
        public var LimitBytes: Int64?
        public init() {}
    }
    public init() {}
}

/// Marshalled as Go's: no warnings is `null`, as dockerd's.
public struct VolumeListResponse: Codable, Sendable, GoEncodable {
    public var Volumes: [Volume]
    public var Warnings: [String]?
    public init(Volumes: [Volume], Warnings: [String]? = nil) { self.Volumes = Volumes; self.Warnings = Warnings }
}

public struct VolumePruneReport: Codable, Sendable {
    public var VolumesDeleted: [String]?
    public var SpaceReclaimed: Int64
    public init(VolumesDeleted: [String]?, SpaceReclaimed: Int64) { self.VolumesDeleted = VolumesDeleted; self.SpaceReclaimed = SpaceReclaimed }
}

/// `--mount` as the CLI sends it in `HostConfig.Mounts`.
public struct MountSpec: Codable, Sendable, Equatable {
    public struct BindOptions: Codable, Sendable, Equatable {
        public var Propagation: String?
        public var NonRecursive: Bool?
        public var CreateMountpoint: Bool?
        public init() {}
    }
    public struct DriverConfig: Codable, Sendable, Equatable {
        public var Name: String?
        public var Options: [String: String]?
        public init() {}
    }
    public struct VolumeOptions: Codable, Sendable, Equatable {
        public var NoCopy: Bool?
        public var Labels: [String: String]?
        public var DriverConfig: DriverConfig?
        public var Subpath: String?
        public init() {}
    }
    public struct TmpfsOptions: Codable, Sendable, Equatable {
        public var SizeBytes: Int64?
        public var Mode: UInt32?
        public init() {}
    }
    public var Target: String?
    public var Source: String?
    public var `Type`: String?
    public var ReadOnly: Bool?
    public var Consistency: String?
    public var BindOptions: BindOptions?
    public var VolumeOptions: VolumeOptions?
    public var TmpfsOptions: TmpfsOptions?
    public init() {}
}
