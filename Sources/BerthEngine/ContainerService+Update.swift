import BerthAPI
import BerthCgroups
import BerthSystem

extension ContainerService {
    /// `docker update`: resource limits and the restart policy, recorded for the next start and,
    /// for a running container, written into its cgroup now.
    public func update(_ ref: String, _ changes: HostConfig) throws -> [String] {
        var record = try find(ref)
        var host = record.hostConfig
        if let v = changes.Memory, v != 0 {
            host.Memory = v
            if changes.MemorySwap == nil { host.MemorySwap = 0 }
        }
        if let v = changes.MemorySwap, v != 0 { host.MemorySwap = v }
        if let v = changes.MemoryReservation, v != 0 { host.MemoryReservation = v }
        if let v = changes.NanoCpus, v != 0 { host.NanoCpus = v; host.CpuQuota = nil; host.CpuPeriod = nil }
        if let v = changes.CpuQuota, v != 0 { host.CpuQuota = v }
        if let v = changes.CpuPeriod, v != 0 { host.CpuPeriod = v }
        if let v = changes.CpuShares, v != 0 { host.CpuShares = v }
        if let v = changes.CpusetCpus, !v.isEmpty { host.CpusetCpus = v }
        if let v = changes.CpusetMems, !v.isEmpty { host.CpusetMems = v }
        if let v = changes.PidsLimit, v != 0 { host.PidsLimit = v }
        if let v = changes.BlkioWeight, v != 0 { host.BlkioWeight = v }
        if let policy = changes.RestartPolicy, let name = policy.Name, !name.isEmpty {
            if record.hostConfig.AutoRemove == true && name != "no" {
                throw EngineError.invalid("Restart policy cannot be updated because AutoRemove is enabled for the container")
            }
            host.RestartPolicy = policy
        }
        try Self.validate(host)
        if record.state.Running {
            var resources = try SpecBuilder.resources(host)
            resources.devices = nil  // the device rules were set at start and stay
            do {
                try Cgroups.manager(path: "/berth/" + record.id).apply(resources)
            } catch {
                throw EngineError.internalError("Cannot update container \(record.id): \(error)")
            }
        }
        record.hostConfig = host
        try save(record)
        emit(record, "update")
        return []
    }
}
