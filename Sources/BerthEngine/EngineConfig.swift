import BerthSnapshot

/// Where berthd keeps things and how it runs containers (daemon.json plus flags).
public struct EngineConfig: Sendable {
    /// Persistent state: images, containers, logs (`--data-root`, default /var/lib/berth).
    public var dataRoot: String
    /// Volatile state: bundles, shim sockets, the runtime's state (default /run/berth).
    public var execRoot: String
    public var storageDriver: String?
    public var shimPath: String
    /// `log-driver`: what a container gets when it names none (json-file, local or none).
    public var logDriver = "json-file"
    public var logMaxSize: Int64
    public var logMaxFiles: Int
    public var defaultUlimits: [String: (soft: Int64, hard: Int64)]
    public var liveRestore: Bool
    /// The real-time budget of the groups above containers (`--cpu-rt-period`, `--cpu-rt-runtime`).
    public var cpuRealtime: (period: Int64, runtime: Int64) = (0, 0)
    /// `--userns-remap`: containers' root is this range's first ID on the host.
    public var remap: IDMap?

    public init(dataRoot: String, execRoot: String, storageDriver: String?, shimPath: String, logMaxSize: Int64 = 0,
                logMaxFiles: Int = 1, defaultUlimits: [String: (soft: Int64, hard: Int64)] = [:], liveRestore: Bool = true) {
        self.dataRoot = dataRoot; self.execRoot = execRoot; self.storageDriver = storageDriver; self.shimPath = shimPath
        self.logMaxSize = logMaxSize; self.logMaxFiles = logMaxFiles; self.defaultUlimits = defaultUlimits; self.liveRestore = liveRestore
    }

    var containersRoot: String { dataRoot + "/containers" }
    var bundlesRoot: String { execRoot + "/containers" }
    var runtimeRoot: String { execRoot + "/runtime" }
}
