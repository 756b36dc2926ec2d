import BerthAPI
import BerthCgroups
import BerthSystem
import Glibc

extension ContainerService {
    /// One `docker stats` sample of the container's cgroup; `previous` fills `precpu_stats` (the
    /// CLI's CPU % is the difference of the two). A stopped container gives zeroes, as Docker.
    public func stats(_ ref: String, previous: ContainerStats?) throws -> ContainerStats {
        let record = try find(ref)
        var out = ContainerStats()
        out.id = record.id
        out.name = "/" + record.name
        guard record.state.Running else { return out }
        let cgroup = try Cgroups.manager(path: record.cgroupPath).stats()
        out.read = Timestamp.now()
        if let previous {
            out.preread = previous.read
            out.precpu_stats = previous.cpu_stats
        }
        out.cpu_stats.cpu_usage.total_usage = cgroup.cpuTotal
        out.cpu_stats.cpu_usage.percpu_usage = cgroup.perCPU.isEmpty ? nil : cgroup.perCPU
        out.cpu_stats.cpu_usage.usage_in_usermode = cgroup.cpuUser
        out.cpu_stats.cpu_usage.usage_in_kernelmode = cgroup.cpuSystem
        out.cpu_stats.system_cpu_usage = Self.systemCPUNanos()
        out.cpu_stats.online_cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        out.cpu_stats.throttling_data.periods = cgroup.periods
        out.cpu_stats.throttling_data.throttled_periods = cgroup.throttledPeriods
        out.cpu_stats.throttling_data.throttled_time = cgroup.throttledTime
        out.memory_stats.usage = cgroup.memoryUsage
        out.memory_stats.max_usage = Cgroups.isUnified() ? nil : cgroup.memoryMaxUsage
        out.memory_stats.stats = cgroup.memoryStats
        // Unlimited shows the host's memory, which is the real ceiling (Docker does the same).
        let host = Self.hostMemory()
        out.memory_stats.limit = min(cgroup.memoryLimit ?? host, host)
        out.pids_stats.current = cgroup.pids
        out.pids_stats.limit = cgroup.pidsLimit
        func entries(_ list: [(UInt32, UInt32, String, UInt64)]) -> [ContainerStats.BlkioEntry] {
            list.map { ContainerStats.BlkioEntry(major: $0.0, minor: $0.1, op: $0.2, value: $0.3) }
        }
        out.blkio_stats.io_service_bytes_recursive = entries(cgroup.ioBytes)
        out.blkio_stats.io_serviced_recursive = entries(cgroup.ioServiced)
        if let v1 = cgroup.blkioV1 {
            out.blkio_stats.io_queue_recursive = v1["io_queue_recursive"].map(entries)
            out.blkio_stats.io_service_time_recursive = v1["io_service_time_recursive"].map(entries)
            out.blkio_stats.io_wait_time_recursive = v1["io_wait_time_recursive"].map(entries)
            out.blkio_stats.io_merged_recursive = v1["io_merged_recursive"].map(entries)
            out.blkio_stats.io_time_recursive = v1["io_time_recursive"].map(entries)
            out.blkio_stats.sectors_recursive = v1["sectors_recursive"].map(entries)
        }
        if record.hostConfig.NetworkMode != "none", record.state.Pid > 0, let text = try? FileIO.readString("/proc/\(record.state.Pid)/net/dev") {
            let networks = ContainerStats.NetworkStats.parse(procNetDev: text)
            if !networks.isEmpty { out.networks = networks }
        }
        return out
    }

    /// All CPUs' time since boot, in nanoseconds (/proc/stat's first line, as Docker computes it).
    static func systemCPUNanos() -> UInt64 {
        guard let text = try? FileIO.readString("/proc/stat"), let line = text.split(separator: "\n").first else { return 0 }
        let ticks = line.split(separator: " ").dropFirst().prefix(7).compactMap { UInt64($0) }.reduce(0, +)
        return ticks * UInt64(1_000_000_000 / max(sysconf(Int32(_SC_CLK_TCK)), 1))
    }

    static func hostMemory() -> UInt64 {
        UInt64(sysconf(Int32(_SC_PHYS_PAGES))) * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
