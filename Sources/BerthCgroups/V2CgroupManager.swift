import BerthOCI
import BerthSystem
import Glibc

/// cgroup v2: one directory in the unified hierarchy; controllers enabled top-down through
/// `cgroup.subtree_control`. Values converted from the v1-shaped OCI resources as runc and crun do.
public struct V2CgroupManager: CgroupManager {
    public let root: String
    public let path: String

    public init(root: String, path: String) {
        self.root = root
        self.path = path
    }

    var directory: String { root + path }

    public func create() throws {
        var current = root
        for component in path.split(separator: "/") {
            try enableControllers(in: current)
            current += "/" + component
            try FileIO.makeDirectories(current)
        }
    }

    /// Enables in `dir`'s children every controller `dir` has (a no-op where already enabled), as
    /// runc does: a container sees the same control files under Berth as under Docker.
    func enableControllers(in dir: String) throws {
        guard let available = CgroupFiles.read(dir, "cgroup.controllers"), !available.isEmpty else { return }
        let wanted = available.split(separator: " ")
        let enabled = Set((CgroupFiles.read(dir, "cgroup.subtree_control") ?? "").split(separator: " "))
        let missing = wanted.filter { !enabled.contains($0) }
        guard !missing.isEmpty else { return }
        try CgroupFiles.write(dir, "cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "))
    }

    public func apply(_ r: Spec.Resources) throws {
        let dir = directory
        if let m = r.memory {
            if let v = m.limit { try CgroupFiles.write(dir, "memory.max", CgroupFiles.limit(v, unlimited: "max")) }
            if let v = m.reservation { try CgroupFiles.write(dir, "memory.low", CgroupFiles.limit(v, unlimited: "max")) }
            if let swap = m.swap { try CgroupFiles.write(dir, "memory.swap.max", Self.swapMax(swap: swap, limit: m.limit)) }
            if m.disableOOMKiller == true {
                throw CgroupError.unsupported("disabling the OOM killer is not supported on cgroup v2")
            }
        }
        if let c = r.cpu {
            if let shares = c.shares, shares > 0 { try CgroupFiles.write(dir, "cpu.weight", String(Self.weight(shares: shares))) }
            if c.quota != nil || c.period != nil {
                try CgroupFiles.write(dir, "cpu.max", Self.cpuMax(quota: c.quota, period: c.period))
            }
            if let v = c.cpus, !v.isEmpty { try CgroupFiles.write(dir, "cpuset.cpus", v) }
            if let v = c.mems, !v.isEmpty { try CgroupFiles.write(dir, "cpuset.mems", v) }
        }
        if let p = r.pids { try CgroupFiles.write(dir, "pids.max", CgroupFiles.pidsMax(p.limit)) }
        if let io = r.blockIO {
            if let w = io.weight, w > 0 { try CgroupFiles.write(dir, "io.weight", "default \(Self.ioWeight(blkio: w))") }
            for d in io.weightDevice ?? [] {
                if let w = d.weight, w > 0 { try CgroupFiles.write(dir, "io.weight", "\(d.major):\(d.minor) \(Self.ioWeight(blkio: w))") }
            }
            // io.max takes one key per write, as runc writes it
            for (key, devices) in [("rbps", io.throttleReadBpsDevice), ("wbps", io.throttleWriteBpsDevice),
                                   ("riops", io.throttleReadIOPSDevice), ("wiops", io.throttleWriteIOPSDevice)] {
                for d in devices ?? [] { try CgroupFiles.write(dir, "io.max", "\(d.major):\(d.minor) \(key)=\(d.rate)") }
            }
        }
        for (key, value) in (r.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !key.contains("/"), !key.hasPrefix(".") else { throw CgroupError.invalidPath(key) }
            try CgroupFiles.write(dir, key, value)
        }
        // Device rules on v2 are an eBPF program attached to the cgroup; see DeviceFilter.
        if let rules = r.devices, !rules.isEmpty { try DeviceFilter.attach(rules: rules, cgroup: dir) }
    }

    /// OCI `swap` is memory+swap (v1 semantics); v2's memory.swap.max is swap alone.
    static func swapMax(swap: Int64, limit: Int64?) -> String {
        if swap < 0 { return "max" }
        guard let limit, limit > 0 else { return String(swap) }
        return String(max(0, swap - limit))
    }

    /// cpu.shares [2, 262144] → cpu.weight [1, 10000], the conversion runc and crun share.
    static func weight(shares: UInt64) -> UInt64 {
        let s = min(max(shares, 2), 262_144)
        return 1 + ((s - 2) * 9999) / 262_142
    }

    static func cpuMax(quota: Int64?, period: UInt64?) -> String {
        let q = quota.map { $0 > 0 ? String($0) : "max" } ?? "max"
        return "\(q) \(period ?? 100_000)"
    }

    /// blkio.weight [10, 1000] → io.weight [1, 10000].
    static func ioWeight(blkio: UInt16) -> UInt64 {
        let w = UInt64(min(max(blkio, 10), 1000))
        return 1 + (w - 10) * 9999 / 990
    }

    public func add(pid: Int32) throws {
        try CgroupFiles.write(directory, "cgroup.procs", String(pid))
    }

    public func openEntry() throws -> CgroupEntry {
        let dir = directory
        return .birth(try sys("open", dir) { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
    }

    public func processes() throws -> [Int32] { try CgroupFiles.pids(directory) }

    public func freeze() throws {
        try CgroupFiles.write(directory, "cgroup.freeze", "1")
        for _ in 0..<1000 where !isFrozen { usleepShort() }
    }

    public func thaw() throws { try CgroupFiles.write(directory, "cgroup.freeze", "0") }

    public var isFrozen: Bool {
        CgroupFiles.keyedValue(named: "frozen", in: CgroupFiles.read(directory, "cgroup.events") ?? "") == 1
    }

    public func oomKillCount() -> Int {
        CgroupFiles.keyedValue(named: "oom_kill", in: CgroupFiles.read(directory, "memory.events") ?? "")
    }

    public func destroy() throws {
        try CgroupFiles.remove(directory)
    }

    public var containerMounts: [(name: String, hostPath: String)] { [("", directory)] }
}

/// The poll interval while waiting for the kernel to finish freezing a cgroup.
func usleepShort() { usleep(1000) }
