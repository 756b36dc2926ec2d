import BerthAPI
import BerthCRIProto
import BerthEngine
import BerthSystem
import GRPCCore

/// ContainerStats and ListContainerStats from the engine's cgroup sample, in the kubelet's terms:
/// the working set is usage less inactive file pages (what the kubelet evicts on), and the CPU
/// rate comes from the previous sample of the same container.
extension CRIRuntime {
    func registerStats<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.ContainerStats.descriptor, log: log) { (request: Runtime_V1_ContainerStatsRequest) in
            var response = Runtime_V1_ContainerStatsResponse()
            response.stats = try await stats(try await criContainer(request.containerID))
            return response
        }
        router.unary(Service.ListContainerStats.descriptor, log: log) { (request: Runtime_V1_ListContainerStatsRequest) in
            let filter = request.filter
            let wanted = PodContainers.filters(pod: filter.podSandboxID, labels: filter.labelSelector)
            var response = Runtime_V1_ListContainerStatsResponse()
            for summary in try await containers.list(all: false, limit: nil, filters: wanted) where filter.id.isEmpty || summary.Id.hasPrefix(filter.id) {
                guard let found = try? await criContainer(summary.Id) else { continue }  // removed meanwhile
                response.stats.append(try await stats(found))
            }
            return response
        }
    }

    func stats(_ c: ContainerInspect) async throws -> Runtime_V1_ContainerStats {
        let sample = try await containers.stats(c.Id, previous: nil)
        let labels = c.Config.Labels ?? [:]
        let now = Int64(Timestamp.epochNow() * 1e9)
        var stats = Runtime_V1_ContainerStats()
        stats.attributes.id = c.Id
        stats.attributes.metadata = Self.metadata(labels)
        stats.attributes.labels = PodContainers.map(labels[PodContainers.criLabelsLabel])
        stats.attributes.annotations = PodContainers.map(labels[PodContainers.annotationsLabel])
        stats.cpu.timestamp = now
        let total = sample.cpu_stats.cpu_usage.total_usage
        stats.cpu.usageCoreNanoSeconds.value = total
        if let previous = cpuSamples.exchange(c.Id, (now, total)), now > previous.0, total >= previous.1 {
            stats.cpu.usageNanoCores.value = UInt64(Double(total - previous.1) / Double(now - previous.0) * 1e9)
        }
        stats.memory.timestamp = now
        let memory = sample.memory_stats
        let usage = memory.usage ?? 0
        let counters = memory.stats ?? [:]
        let inactive = counters["total_inactive_file"] ?? counters["inactive_file"] ?? 0
        let workingSet = usage > inactive ? usage - inactive : 0
        stats.memory.usageBytes.value = usage
        stats.memory.workingSetBytes.value = workingSet
        if let limit = memory.limit { stats.memory.availableBytes.value = limit > workingSet ? limit - workingSet : 0 }
        if let rss = counters["total_rss"] ?? counters["anon"] { stats.memory.rssBytes.value = rss }
        if let faults = counters["total_pgfault"] ?? counters["pgfault"] { stats.memory.pageFaults.value = faults }
        if let major = counters["total_pgmajfault"] ?? counters["pgmajfault"] { stats.memory.majorPageFaults.value = major }
        return stats
    }
}

/// The last CPU sample of each container (time in nanoseconds, CPU nanoseconds used).
final class CPUSamples: @unchecked Sendable {
    private let lock = Lock()
    private var samples: [String: (Int64, UInt64)] = [:]

    /// Records `sample` for `id` and returns the one it replaces.
    func exchange(_ id: String, _ sample: (Int64, UInt64)) -> (Int64, UInt64)? {
        lock.locked {
            defer { samples[id] = sample }
            return samples[id]
        }
    }

    func forget(_ id: String) { lock.locked { samples[id] = nil } }
}
