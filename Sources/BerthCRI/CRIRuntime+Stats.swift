import BerthAPI
import BerthCRIProto
import BerthEngine
import BerthSystem
import GRPCCore

/// Container and pod stats from the engine's cgroup samples, in the kubelet's terms: the working
/// set is usage less inactive file pages (what the kubelet evicts on), and the CPU rate comes from
/// the previous sample of the same container. A pod's figures are the sums of its running
/// containers' (its own pinned namespaces use no CPU or memory), its network the pod interface's
/// counters as one of its containers sees them.
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
        router.unary(Service.PodSandboxStats.descriptor, log: log) { (request: Runtime_V1_PodSandboxStatsRequest) in
            guard let pod = try await pods.find(request.podSandboxID), !request.podSandboxID.isEmpty else {
                throw RPCStatus.notFound("failed to find pod sandbox \"\(request.podSandboxID)\": not found")
            }
            guard pod.ready else { throw RPCError(code: .failedPrecondition, message: "sandbox \(pod.id) is not ready") }
            var response = Runtime_V1_PodSandboxStatsResponse()
            response.stats = try await podStats(pod)
            return response
        }
        router.unary(Service.ListPodSandboxStats.descriptor, log: log) { (request: Runtime_V1_ListPodSandboxStatsRequest) in
            let filter = request.filter
            var response = Runtime_V1_ListPodSandboxStatsResponse()
            for pod in await pods.all() where pod.ready && (filter.id.isEmpty || pod.id.hasPrefix(filter.id)) {
                let config = try pod.config()
                guard filter.labelSelector.allSatisfy({ config.labels[$0.key] == $0.value }) else { continue }
                response.stats.append(try await podStats(pod))
            }
            return response
        }
    }

    func stats(_ c: ContainerInspect) async throws -> Runtime_V1_ContainerStats {
        stats(c, try containers.stats(c.Id, previous: nil), now: Int64(Timestamp.epochNow() * 1e9))
    }

    func podStats(_ pod: PodSandboxRecord) async throws -> Runtime_V1_PodSandboxStats {
        let config = try pod.config()
        let now = Int64(Timestamp.epochNow() * 1e9)
        var stats = Runtime_V1_PodSandboxStats()
        stats.attributes.id = pod.id
        stats.attributes.metadata = config.metadata
        stats.attributes.labels = config.labels
        stats.attributes.annotations = config.annotations
        var linux = Runtime_V1_LinuxPodSandboxStats()
        linux.cpu.timestamp = now
        linux.memory.timestamp = now
        linux.process.timestamp = now
        var processes: UInt64 = 0
        var interfaces: [String: ContainerStats.NetworkStats]?
        let running = try await containers.list(all: false, limit: nil, filters: PodContainers.filters(pod: pod.id, labels: [:]))
        for summary in running {
            // a container that stops meanwhile is left out, as it is from ListContainerStats
            guard let found = try? await criContainer(summary.Id), let sample = try? containers.stats(found.Id, previous: nil) else { continue }
            let one = self.stats(found, sample, now: now)
            linux.containers.append(one)
            linux.cpu.usageCoreNanoSeconds.value &+= one.cpu.usageCoreNanoSeconds.value
            linux.cpu.usageNanoCores.value &+= one.cpu.usageNanoCores.value
            linux.memory.usageBytes.value &+= one.memory.usageBytes.value
            linux.memory.workingSetBytes.value &+= one.memory.workingSetBytes.value
            linux.memory.rssBytes.value &+= one.memory.rssBytes.value
            linux.memory.pageFaults.value &+= one.memory.pageFaults.value
            linux.memory.majorPageFaults.value &+= one.memory.majorPageFaults.value
            processes &+= sample.pids_stats.current ?? 0
            if interfaces == nil { interfaces = sample.networks }
        }
        linux.process.processCount.value = processes
        if let interfaces, !interfaces.isEmpty {
            linux.network.timestamp = now
            // the CNI plugins name the pod's interface eth0, as the kubelet's default
            let primary = interfaces["eth0"] != nil ? "eth0" : interfaces.keys.sorted()[0]
            for (name, counters) in interfaces.sorted(by: { $0.key < $1.key }) {
                var usage = Runtime_V1_NetworkInterfaceUsage()
                usage.name = name
                usage.rxBytes.value = counters.rx_bytes
                usage.rxErrors.value = counters.rx_errors
                usage.txBytes.value = counters.tx_bytes
                usage.txErrors.value = counters.tx_errors
                if name == primary { linux.network.defaultInterface = usage } else { linux.network.interfaces.append(usage) }
            }
        }
        stats.linux = linux
        return stats
    }

    func stats(_ c: ContainerInspect, _ sample: ContainerStats, now: Int64) -> Runtime_V1_ContainerStats {
        let labels = c.Config.Labels ?? [:]
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
