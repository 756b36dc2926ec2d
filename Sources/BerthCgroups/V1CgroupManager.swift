import BerthOCI
import BerthSystem

/// cgroup v1: one directory per controller hierarchy (`/sys/fs/cgroup/memory/berth/<id>`, …).
public struct V1CgroupManager: CgroupManager, Sendable {
    /// Controller name → hierarchy mount point.
    public let hierarchies: [String: String]
    public let path: String

    public init(hierarchies: [String: String], path: String) {
        self.hierarchies = hierarchies
        self.path = path
    }

    /// The hierarchies Berth places a container in, each in its own directory (deduplicated for
    /// co-mounts). systemd's named hierarchy is joined too so tools inside see a consistent tree.
    static let controllers = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd"]

    func directory(_ controller: String) -> String? {
        hierarchies[controller].map { $0 + path }
    }

    var directories: [String] {
        var seen = Set<String>()
        return Self.controllers.compactMap(directory).filter { seen.insert($0).inserted }
    }

    public func create() throws {
        for dir in directories { try FileIO.makeDirectories(dir) }
        if let cpuset = hierarchies["cpuset"] { try inheritCpuset(root: cpuset) }
    }

    /// A new v1 cpuset starts with empty `cpus`/`mems`, and joining it then fails with ENOSPC:
    /// copy each level's values from its parent, top down, before anything joins.
    func inheritCpuset(root: String) throws {
        var current = root
        for component in path.split(separator: "/") {
            let parent = current
            current += "/" + component
            for file in ["cpuset.cpus", "cpuset.mems"] where (CgroupFiles.read(current, file) ?? "").isEmpty {
                if let value = CgroupFiles.read(parent, file), !value.isEmpty {
                    try CgroupFiles.write(current, file, value)
                }
            }
        }
    }

    /// A real-time budget for the groups above the container (dockerd's `--cpu-rt-period` and
    /// `--cpu-rt-runtime`, its initCPURtController): a new group gets no RT runtime, and a child
    /// can never have more than its parent, so each level from the top gets the daemon's values
    /// (0 leaves a value alone).
    public func grantRealtimeToParents(period: Int64, runtime: Int64) throws {
        guard var current = hierarchies["cpu"] else { return }
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            try FileIO.makeDirectories(current)
            if period != 0 { try CgroupFiles.write(current, "cpu.rt_period_us", String(period)) }
            if runtime != 0 { try CgroupFiles.write(current, "cpu.rt_runtime_us", String(runtime)) }
        }
    }

    public func apply(_ r: Spec.Resources) throws {
        if let unified = r.unified, !unified.isEmpty {
            throw CgroupError.unsupported("linux.resources.unified needs cgroup v2; this host uses cgroup v1")
        }
        if let m = r.memory, let dir = directory("memory") { try applyMemory(m, dir) }
        if let c = r.cpu {
            if let dir = directory("cpu") {
                if let v = c.period, v > 0 { try CgroupFiles.write(dir, "cpu.cfs_period_us", String(v)) }
                if let v = c.quota { try CgroupFiles.write(dir, "cpu.cfs_quota_us", CgroupFiles.limit(v <= 0 ? -1 : v, unlimited: "-1")) }
                if let v = c.shares, v > 0 { try CgroupFiles.write(dir, "cpu.shares", String(v)) }
                if let v = c.realtimePeriod, v > 0 { try CgroupFiles.write(dir, "cpu.rt_period_us", String(v)) }
                if let v = c.realtimeRuntime { try CgroupFiles.write(dir, "cpu.rt_runtime_us", String(v)) }
            }
            if let dir = directory("cpuset") {
                if let v = c.cpus, !v.isEmpty { try CgroupFiles.write(dir, "cpuset.cpus", v) }
                if let v = c.mems, !v.isEmpty { try CgroupFiles.write(dir, "cpuset.mems", v) }
            }
        }
        if let p = r.pids, let dir = directory("pids") {
            try CgroupFiles.write(dir, "pids.max", CgroupFiles.pidsMax(p.limit))
        }
        if let io = r.blockIO, let dir = directory("blkio") {
            let bfq = !CgroupFiles.exists(dir, "blkio.weight")
            if let w = io.weight { try CgroupFiles.write(dir, bfq ? "blkio.bfq.weight" : "blkio.weight", String(w)) }
            for d in io.weightDevice ?? [] {
                if let w = d.weight { try CgroupFiles.write(dir, bfq ? "blkio.bfq.weight_device" : "blkio.weight_device", "\(d.major):\(d.minor) \(w)") }
            }
            for (file, devices) in [("blkio.throttle.read_bps_device", io.throttleReadBpsDevice), ("blkio.throttle.write_bps_device", io.throttleWriteBpsDevice),
                                    ("blkio.throttle.read_iops_device", io.throttleReadIOPSDevice), ("blkio.throttle.write_iops_device", io.throttleWriteIOPSDevice)] {
                for d in devices ?? [] { try CgroupFiles.write(dir, file, "\(d.major):\(d.minor) \(d.rate)") }
            }
        }
        if let rules = r.devices, let dir = directory("devices") {
            for rule in rules {
                try CgroupFiles.write(dir, rule.allow ? "devices.allow" : "devices.deny", DeviceRules.v1Line(rule))
            }
        }
    }

    /// memory.limit must stay ≤ memory.memsw.limit at every step, so the order depends on
    /// whether the new limit grows or shrinks: try limit-then-swap, and swap-then-limit on EINVAL.
    func applyMemory(_ m: Spec.Memory, _ dir: String) throws {
        let limit = m.limit.map { CgroupFiles.limit($0, unlimited: "-1") }
        let swap = m.swap.flatMap { CgroupFiles.exists(dir, "memory.memsw.limit_in_bytes") ? CgroupFiles.limit($0, unlimited: "-1") : nil }
        func write(_ first: (String, String?), _ second: (String, String?)) throws {
            if let v = first.1 { try CgroupFiles.write(dir, first.0, v) }
            if let v = second.1 { try CgroupFiles.write(dir, second.0, v) }
        }
        let limitFile = ("memory.limit_in_bytes", limit), swapFile = ("memory.memsw.limit_in_bytes", swap)
        do { try write(limitFile, swapFile) } catch let e as SystemError where e.errno == 22 /* EINVAL */ {
            try write(swapFile, limitFile)
        }
        if let v = m.reservation { try CgroupFiles.write(dir, "memory.soft_limit_in_bytes", CgroupFiles.limit(v, unlimited: "-1")) }
        if let v = m.swappiness, v <= 100 { try CgroupFiles.write(dir, "memory.swappiness", String(v)) }
        if m.disableOOMKiller == true { try CgroupFiles.write(dir, "memory.oom_control", "1") }
    }

    public func add(pid: Int32) throws {
        for dir in directories { try CgroupFiles.write(dir, "cgroup.procs", String(pid)) }
    }

    public func openEntry() throws -> CgroupEntry {
        try CgroupEntry.openTasks(in: directories)
    }

    public func processes() throws -> [Int32] {
        guard let dir = directory("pids") ?? directory("memory") ?? directories.first else { return [] }
        return try CgroupFiles.pids(dir)
    }

    public func freeze() throws {
        guard let dir = directory("freezer") else { throw CgroupError.unsupported("the freezer cgroup is not mounted") }
        try CgroupFiles.write(dir, "freezer.state", "FROZEN")
        for _ in 0..<1000 where CgroupFiles.read(dir, "freezer.state") != "FROZEN" {
            try CgroupFiles.write(dir, "freezer.state", "FROZEN")
            usleepShort()
        }
    }

    public func thaw() throws {
        guard let dir = directory("freezer") else { throw CgroupError.unsupported("the freezer cgroup is not mounted") }
        try CgroupFiles.write(dir, "freezer.state", "THAWED")
    }

    public var isFrozen: Bool {
        directory("freezer").flatMap { CgroupFiles.read($0, "freezer.state") } == "FROZEN"
    }

    public func oomKillCount() -> Int {
        guard let dir = directory("memory"), let text = CgroupFiles.read(dir, "memory.oom_control") else { return 0 }
        return CgroupFiles.keyedValue(named: "oom_kill", in: text)
    }

    public func destroy() throws {
        for dir in directories { try CgroupFiles.remove(dir) }
    }

    public var containerMounts: [(name: String, hostPath: String)] {
        var seen = Set<String>()
        return hierarchies.sorted { $0.key < $1.key }.compactMap { entry in
            let name = String(entry.value.split(separator: "/").last ?? "")
            guard seen.insert(name).inserted else { return nil }
            return (name, entry.value + path)
        }
    }
}
