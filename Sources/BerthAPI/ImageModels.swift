/// One row of `GET /images/json`.
public struct ImageSummary: Codable, Sendable {
    public var Id: String = ""
    public var ParentId: String = ""
    public var RepoTags: [String] = []
    public var RepoDigests: [String] = []
    public var Created: Int64 = 0
    public var Size: Int64 = 0
    public var SharedSize: Int64 = 0
    public var VirtualSize: Int64?
    public var Labels: [String: String] = [:]
    public var Containers: Int = 0
    public init(Id: String, ParentId: String, RepoTags: [String], RepoDigests: [String], Created: Int64, Size: Int64,
                SharedSize: Int64, Labels: [String: String], Containers: Int) {
        self.Id = Id; self.ParentId = ParentId; self.RepoTags = RepoTags; self.RepoDigests = RepoDigests; self.Created = Created
        self.Size = Size; self.SharedSize = SharedSize; self.VirtualSize = Size; self.Labels = Labels; self.Containers = Containers
    }
    public init() {}
}

/// `GET /images/{name}/json`.
public struct ImageInspect: Codable, Sendable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["Variant", "OsVersion"]
    public struct RootFS: Codable, Sendable {
        public var `Type`: String = ""
        public var Layers: [String] = []
        public init() {}
    }
    public struct Metadata: Codable, Sendable {
        public var LastTagTime: String = ""
        public init() {}
    }
    public var Id: String = ""
    public var RepoTags: [String] = []
    public var RepoDigests: [String] = []
    public var Parent: String = ""
    public var Comment: String = ""
    public var Created: String = ""
    /// Deprecated by moby (gone from API 1.45), kept: docker-compose 1.29 reads
    /// `ContainerConfig.Volumes` when it recreates a container and fails without the key.
    public var Container: String = ""
    public var ContainerConfig: ContainerConfig = .init()
    public var DockerVersion: String = ""
    public var Author: String = ""
    public var Config: ContainerConfig = .init()
    public var Architecture: String = ""
    public var Variant: String?
    public var Os: String = ""
    public var Size: Int64 = 0
    public var VirtualSize: Int64 = 0
    public var GraphDriver: GraphDriver = .init()
    public var RootFS: RootFS = .init()
    public var Metadata: Metadata = .init()
    public init() {}
}

/// One row of `GET /images/{name}/history`.
public struct HistoryItem: Codable, Sendable {
    public var Id: String = ""
    public var Created: Int64 = 0
    public var CreatedBy: String = ""
    public var Tags: [String]?
    public var Size: Int64 = 0
    public var Comment: String = ""
    public init() {}
}
