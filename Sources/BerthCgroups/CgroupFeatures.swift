import BerthSystem
import Glibc

/// Which resource settings this host's cgroups can honour, found the way moby's `pkg/sysinfo`
/// finds them, so that berthd warns about and discards exactly the settings dockerd would on the
/// same kernel (`--memory-swappiness` and `--oom-kill-disable` on v2, `--kernel-memory` on kernels
/// without kmem accounting, `--blkio-weight` without a weight-capable I/O scheduler).
public struct CgroupFeatures: Equatable, Sendable {
    public var unified = false
    public var memoryLimit = false
    public var swapLimit = false
    public var memoryReservation = false
    public var oomKillDisable = false
    public var memorySwappiness = false
    public var kernelMemory = false
    public var pidsLimit = false
    public var cpuShares = false
    public var cpuCfs = false
    public var cpuset = false
    public var blkioWeight = false
    public var blkioWeightDevice = false
    public var blkioThrottle = false
    /// v1's real-time group scheduling (`cpu.rt_*`, a kernel with RT_GROUP_SCHED); v2 has none.
    public var cpuRealtime = false

    public init() {}

    /// This host's features, read once: the hierarchy does not change under a running daemon.
    public static let host = detect()

    public static func detect(root: String = Cgroups.defaultRoot) -> CgroupFeatures {
        if Cgroups.isUnified(root) {
            let own = (try? FileIO.readString("/proc/self/cgroup")).flatMap(Self.unifiedPath) ?? "/"
            return v2(root: root, ownGroup: own)
        }
        return v1(hierarchies: Cgroups.hostHierarchies)
    }

    /// v1: a setting is supported when its control file exists in the controller's hierarchy root.
    public static func v1(hierarchies: [String: String]) -> CgroupFeatures {
        var f = CgroupFeatures()
        func has(_ controller: String, _ file: String) -> Bool {
            hierarchies[controller].map { CgroupFiles.exists($0, file) } ?? false
        }
        f.memoryLimit = hierarchies["memory"] != nil
        f.swapLimit = has("memory", "memory.memsw.limit_in_bytes")
        f.memoryReservation = has("memory", "memory.soft_limit_in_bytes")
        f.oomKillDisable = has("memory", "memory.oom_control")
        f.memorySwappiness = has("memory", "memory.swappiness")
        f.kernelMemory = has("memory", "memory.kmem.limit_in_bytes")
        f.pidsLimit = hierarchies["pids"] != nil
        f.cpuShares = has("cpu", "cpu.shares")
        f.cpuCfs = has("cpu", "cpu.cfs_quota_us")
        f.cpuset = hierarchies["cpuset"] != nil
        f.blkioWeight = has("blkio", "blkio.weight")
        f.blkioWeightDevice = has("blkio", "blkio.weight_device")
        f.blkioThrottle = has("blkio", "blkio.throttle.read_bps_device")
        f.cpuRealtime = has("cpu", "cpu.rt_period_us") && has("cpu", "cpu.rt_runtime_us")
        return f
    }

    /// v2: whole controllers from `cgroup.controllers`; swappiness, kernel memory and disabling
    /// the OOM killer do not exist there. Swap limits need swap accounting, seen as a
    /// `memory.swap.max` file in a non-root group: the daemon's own (systemd's layout), or, for a
    /// daemon in the root group, any child group that has one.
    public static func v2(root: String, ownGroup: String) -> CgroupFeatures {
        var f = CgroupFeatures()
        f.unified = true
        let controllers = Set((CgroupFiles.read(root, "cgroup.controllers") ?? "").split(separator: " ").map(String.init))
        if controllers.contains("memory") {
            f.memoryLimit = true
            f.memoryReservation = true
            f.swapLimit = swapAccounting(root: root, ownGroup: ownGroup)
        }
        f.pidsLimit = controllers.contains("pids")
        f.cpuShares = controllers.contains("cpu")
        f.cpuCfs = controllers.contains("cpu")
        f.cpuset = controllers.contains("cpuset")
        f.blkioWeight = controllers.contains("io")
        f.blkioWeightDevice = controllers.contains("io")
        f.blkioThrottle = controllers.contains("io")
        return f
    }

    static func swapAccounting(root: String, ownGroup: String) -> Bool {
        if ownGroup != "/" { return CgroupFiles.exists(root + ownGroup, "memory.swap.max") }
        guard let dir = opendir(root) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard entry.pointee.d_type == UInt8(DT_DIR), !name.hasPrefix(".") else { continue }
            if CgroupFiles.exists(root + "/" + name, "memory.swap.max") { return true }
        }
        return false
    }

    /// The `0::/path` line of /proc/self/cgroup.
    static func unifiedPath(_ text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
    }
}
