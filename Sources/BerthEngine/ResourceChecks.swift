import BerthAPI
import BerthCgroups

/// moby's `verifyPlatformContainerResources`, in its order and words: a setting this host's cgroups
/// cannot honour is discarded with dockerd's warning, an impossible one is refused. The host
/// config is changed in place, so what `inspect` shows is what the kernel was given.
public enum ResourceChecks {
    static let minimumMemory: Int64 = 6 * 1024 * 1024

    public static func verify(_ h: inout HostConfig, features f: CgroupFeatures, cpus: Int, update: Bool) throws -> [String] {
        var warnings: [String] = []
        func discard(_ message: String) { warnings.append(message) }
        if h.MemorySwappiness == -1 { h.MemorySwappiness = nil }

        if let m = h.Memory, m != 0, m < minimumMemory { throw EngineError.invalid("Minimum memory limit allowed is 6MB") }
        if (h.Memory ?? 0) > 0 && !f.memoryLimit {
            discard("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
            h.Memory = 0
            h.MemorySwap = -1
        }
        let memory = h.Memory ?? 0
        if memory > 0 && (h.MemorySwap ?? 0) != -1 && !f.swapLimit {
            discard("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
            h.MemorySwap = -1
        }
        let swap = h.MemorySwap ?? 0
        if memory > 0 && swap > 0 && swap < memory {
            throw EngineError.invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        if memory == 0 && swap > 0 && !update {
            throw EngineError.invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
        }
        if h.MemorySwappiness != nil && !f.memorySwappiness {
            discard("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
            h.MemorySwappiness = nil
        }
        if let s = h.MemorySwappiness, s < 0 || s > 100 {
            throw EngineError.invalid("Invalid value: \(s), valid memory swappiness range is 0-100")
        }
        if (h.MemoryReservation ?? 0) > 0 && !f.memoryReservation {
            discard("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
            h.MemoryReservation = 0
        }
        let reservation = h.MemoryReservation ?? 0
        if reservation > 0 && reservation < minimumMemory { throw EngineError.invalid("Minimum memory reservation allowed is 6MB") }
        if memory > 0 && reservation > 0 && memory < reservation {
            throw EngineError.invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
        }
        if (h.KernelMemory ?? 0) > 0 {
            discard("Specifying a kernel memory limit is deprecated and will be removed in a future release.")
            if !f.kernelMemory {
                discard("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
                h.KernelMemory = 0
            }
        }
        if let k = h.KernelMemory, k > 0, k < minimumMemory { throw EngineError.invalid("Minimum kernel memory limit allowed is 6MB") }
        if let disable = h.OomKillDisable, !f.oomKillDisable {
            // Only a request to disable it is worth a warning: leaving the killer on is the default.
            if disable { discard("Your kernel does not support OomKillDisable. OomKillDisable discarded.") }
            h.OomKillDisable = nil
        }
        if h.OomKillDisable == true && memory == 0 {
            discard("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
        }
        if let p = h.PidsLimit, !f.pidsLimit {
            if p > 0 { discard("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.") }
            h.PidsLimit = nil
        }

        let nano = h.NanoCpus ?? 0
        if nano > 0 && (h.CpuPeriod ?? 0) > 0 { throw EngineError.invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set") }
        if nano > 0 && (h.CpuQuota ?? 0) > 0 { throw EngineError.invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set") }
        if nano > 0 && !f.cpuCfs {
            throw EngineError.invalid("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
        }
        let (nanoLimit, overflow) = Int64(cpus).multipliedReportingOverflow(by: 1_000_000_000)
        if nano < 0 || (!overflow && nano > nanoLimit) {
            throw EngineError.invalid("Range of CPUs is from 0.01 to \(cpus).00, as there are only \(cpus) CPUs available")
        }
        if (h.CpuShares ?? 0) > 0 && !f.cpuShares {
            discard("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
            h.CpuShares = 0
        }
        if ((h.CpuPeriod ?? 0) != 0 || (h.CpuQuota ?? 0) != 0) && !f.cpuCfs {
            discard("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
            h.CpuPeriod = 0
            h.CpuQuota = 0
        }
        if let p = h.CpuPeriod, p != 0, p < 1000 || p > 1_000_000 {
            throw EngineError.invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
        }
        if let q = h.CpuQuota, q > 0, q < 1000 { throw EngineError.invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)") }
        if ((h.CpuRealtimePeriod ?? 0) > 0 || (h.CpuRealtimeRuntime ?? 0) > 0) && !f.cpuRealtime {
            throw EngineError.invalid("Your kernel does not support CPU real-time scheduler")  // dockerd's words on cgroup v2
        }
        if let p = h.CpuRealtimePeriod, let r = h.CpuRealtimeRuntime, p != 0, r != 0, r > p {
            throw EngineError.invalid("cpu real-time runtime cannot be higher than cpu real-time period")
        }
        if (h.CpuPercent ?? 0) > 0 {
            discard("linux does not support CPU percent. Percent discarded.")
            h.CpuPercent = 0
        }

        if (!(h.CpusetCpus ?? "").isEmpty || !(h.CpusetMems ?? "").isEmpty) && !f.cpuset {
            discard("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
            h.CpusetCpus = ""
            h.CpusetMems = ""
        }
        for (list, kind) in [(h.CpusetCpus, CPUList.Kind.cpus), (h.CpusetMems, .mems)] {
            if let list, !list.isEmpty, let problem = CPUList.problem(list, kind) { throw EngineError.invalid(problem) }
        }

        if (h.BlkioWeight ?? 0) > 0 && !f.blkioWeight {
            discard("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
            h.BlkioWeight = 0
        }
        if let w = h.BlkioWeight, w > 0, !(10...1000).contains(w) { throw EngineError.invalid("Range of blkio weight is from 10 to 1000") }
        if (h.IOMaximumBandwidth ?? 0) != 0 || (h.IOMaximumIOps ?? 0) != 0 {
            throw EngineError.invalid("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
        }
        if !(h.BlkioWeightDevice ?? []).isEmpty && !f.blkioWeightDevice {
            discard("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
            h.BlkioWeightDevice = []
        }
        if !f.blkioThrottle {
            let throttles: [(WritableKeyPath<HostConfig, [ThrottleDevice]?>, String)] = [
                (\.BlkioDeviceReadBps, "BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit"),
                (\.BlkioDeviceWriteBps, "BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit"),
                (\.BlkioDeviceReadIOps, "IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit"),
                (\.BlkioDeviceWriteIOps, "IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit"),
            ]
            for (field, words) in throttles where !(h[keyPath: field] ?? []).isEmpty {
                discard("Your kernel does not support \(words) discarded.")
                h[keyPath: field] = []
            }
        }
        return warnings
    }
}
