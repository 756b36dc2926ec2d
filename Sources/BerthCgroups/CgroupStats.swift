import BerthSystem
import Glibc

/// A cgroup's usage, in one shape for v1 and v2 (what `docker stats` needs). CPU times are in
/// nanoseconds, memory in bytes.
public struct CgroupStats: Sendable, Equatable {
    public var cpuTotal: UInt64 = 0
    public var cpuUser: UInt64 = 0
    public var cpuSystem: UInt64 = 0
    public var perCPU: [UInt64] = []
    public var periods: UInt64 = 0
    public var throttledPeriods: UInt64 = 0
    public var throttledTime: UInt64 = 0
    public var memoryUsage: UInt64 = 0
    public var memoryMaxUsage: UInt64 = 0
    /// nil: unlimited.
    public var memoryLimit: UInt64?
    public var memoryStats: [String: UInt64] = [:]
    public var pids: UInt64 = 0
    public var pidsLimit: UInt64?
    /// (major, minor, "read"/"write", bytes).
    public var ioBytes: [(UInt32, UInt32, String, UInt64)] = []
    /// (major, minor, "read"/"write", operations).
    public var ioServiced: [(UInt32, UInt32, String, UInt64)] = []
    /// v1's other blkio counters by the API's name (`io_queue_recursive`…; the op empty for the
    /// two without one), each empty where the kernel's I/O scheduler keeps none; nil on v2,
    /// which has none of them (as dockerd shows).
    public var blkioV1: [String: [(UInt32, UInt32, String, UInt64)]]?

    public init() {}

    public static func == (a: CgroupStats, b: CgroupStats) -> Bool {
        a.cpuTotal == b.cpuTotal && a.memoryUsage == b.memoryUsage && a.pids == b.pids && a.memoryStats == b.memoryStats
    }

    /// `key value` lines (memory.stat, cpu.stat).
    static func keyed(_ text: String?) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in (text ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = UInt64(parts[1]) { out[String(parts[0])] = v }
        }
        return out
    }

    /// A limit file's value; "max" and v1's page-rounded 2^63 both mean none.
    static func limit(_ text: String?) -> UInt64? {
        guard let text, let v = UInt64(text), v < (1 << 62) else { return nil }
        return v
    }

    /// v1 blkio lines, `maj:min Op value` or `maj:min value`; a device's `Total` is left out.
    static func blkioEntries(_ text: String?, readWriteOnly: Bool) -> [(UInt32, UInt32, String, UInt64)] {
        (text ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2 || parts.count == 3, let dev = device(parts[0]), let v = parts.last.flatMap({ UInt64($0) }) else { return nil }
            let op = parts.count == 3 ? parts[1].lowercased() : ""
            if op == "total" || (readWriteOnly && op != "read" && op != "write") { return nil }
            return (dev.0, dev.1, op, v)
        }
    }

    static func device(_ text: Substring) -> (UInt32, UInt32)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else { return nil }
        return (major, minor)
    }
}

extension V1CgroupManager {
    public func stats() -> CgroupStats {
        var s = CgroupStats()
        if let dir = directory("cpuacct") {
            s.cpuTotal = UInt64(CgroupFiles.read(dir, "cpuacct.usage") ?? "") ?? 0
            s.perCPU = (CgroupFiles.read(dir, "cpuacct.usage_percpu") ?? "").split(separator: " ").compactMap { UInt64($0) }
            let ticks = CgroupStats.keyed(CgroupFiles.read(dir, "cpuacct.stat"))
            let nanosPerTick = UInt64(1_000_000_000 / max(sysconf(Int32(_SC_CLK_TCK)), 1))
            s.cpuUser = (ticks["user"] ?? 0) * nanosPerTick
            s.cpuSystem = (ticks["system"] ?? 0) * nanosPerTick
        }
        if let dir = directory("cpu") {
            let cpu = CgroupStats.keyed(CgroupFiles.read(dir, "cpu.stat"))
            s.periods = cpu["nr_periods"] ?? 0
            s.throttledPeriods = cpu["nr_throttled"] ?? 0
            s.throttledTime = cpu["throttled_time"] ?? 0
        }
        if let dir = directory("memory") {
            s.memoryUsage = UInt64(CgroupFiles.read(dir, "memory.usage_in_bytes") ?? "") ?? 0
            s.memoryMaxUsage = UInt64(CgroupFiles.read(dir, "memory.max_usage_in_bytes") ?? "") ?? 0
            s.memoryLimit = CgroupStats.limit(CgroupFiles.read(dir, "memory.limit_in_bytes"))
            s.memoryStats = CgroupStats.keyed(CgroupFiles.read(dir, "memory.stat"))
        }
        if let dir = directory("pids") {
            s.pids = UInt64(CgroupFiles.read(dir, "pids.current") ?? "") ?? 0
            s.pidsLimit = CgroupStats.limit(CgroupFiles.read(dir, "pids.max"))
        }
        if let dir = directory("blkio") {
            s.ioBytes = CgroupStats.blkioEntries(CgroupFiles.read(dir, "blkio.throttle.io_service_bytes"), readWriteOnly: true)
            s.ioServiced = CgroupStats.blkioEntries(CgroupFiles.read(dir, "blkio.throttle.io_serviced"), readWriteOnly: true)
            let files = ["io_queue_recursive": "blkio.io_queued_recursive", "io_service_time_recursive": "blkio.io_service_time_recursive",
                         "io_wait_time_recursive": "blkio.io_wait_time_recursive", "io_merged_recursive": "blkio.io_merged_recursive",
                         "io_time_recursive": "blkio.time_recursive", "sectors_recursive": "blkio.sectors_recursive"]
            s.blkioV1 = files.mapValues { CgroupStats.blkioEntries(CgroupFiles.read(dir, $0), readWriteOnly: false) }
        }
        return s
    }
}

extension V2CgroupManager {
    public func stats() -> CgroupStats {
        var s = CgroupStats()
        let cpu = CgroupStats.keyed(CgroupFiles.read(directory, "cpu.stat"))
        s.cpuTotal = (cpu["usage_usec"] ?? 0) * 1000
        s.cpuUser = (cpu["user_usec"] ?? 0) * 1000
        s.cpuSystem = (cpu["system_usec"] ?? 0) * 1000
        s.periods = cpu["nr_periods"] ?? 0
        s.throttledPeriods = cpu["nr_throttled"] ?? 0
        s.throttledTime = (cpu["throttled_usec"] ?? 0) * 1000
        s.memoryUsage = UInt64(CgroupFiles.read(directory, "memory.current") ?? "") ?? 0
        s.memoryMaxUsage = UInt64(CgroupFiles.read(directory, "memory.peak") ?? "") ?? 0
        s.memoryLimit = CgroupStats.limit(CgroupFiles.read(directory, "memory.max"))
        s.memoryStats = CgroupStats.keyed(CgroupFiles.read(directory, "memory.stat"))
        s.pids = UInt64(CgroupFiles.read(directory, "pids.current") ?? "") ?? 0
        s.pidsLimit = CgroupStats.limit(CgroupFiles.read(directory, "pids.max"))
        for line in (CgroupFiles.read(directory, "io.stat") ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard let first = parts.first, let dev = CgroupStats.device(first) else { continue }
            var values: [String: UInt64] = [:]
            for pair in parts.dropFirst() {
                let kv = pair.split(separator: "=")
                if kv.count == 2, let v = UInt64(kv[1]) { values[String(kv[0])] = v }
            }
            s.ioBytes.append((dev.0, dev.1, "read", values["rbytes"] ?? 0))
            s.ioBytes.append((dev.0, dev.1, "write", values["wbytes"] ?? 0))
            s.ioServiced.append((dev.0, dev.1, "read", values["rios"] ?? 0))
            s.ioServiced.append((dev.0, dev.1, "write", values["wios"] ?? 0))
        }
        return s
    }
}
