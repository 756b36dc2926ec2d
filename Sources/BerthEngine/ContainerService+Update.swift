import BerthAPI
import BerthCgroups
import BerthSystem

extension ContainerService {
    /// `docker update`, as moby's `ContainerUpdate`: the request is checked on its own (update
    /// rules), then merged field by field into the stored settings (a zero leaves a field alone)
    /// and, for a running container, written into its cgroup now. Returns dockerd's warnings.
    public func update(_ ref: String, _ request: HostConfig) async throws -> [String] {
        try await serialized(ref) { try await updateHeld($0, request) }
    }

    func updateHeld(_ id: String, _ request: HostConfig) async throws -> [String] {
        var record = try find(id)
        var changes = request
        if let p = changes.PidsLimit, p <= 0 { changes.PidsLimit = 0 }  // 0 and -1 both mean unlimited
        try Self.validate(changes)
        let warnings = try ResourceChecks.verify(&changes, features: .host, cpus: Self.onlineCPUs, update: true)
        var host = record.hostConfig
        func cannot(_ why: String) -> EngineError { .invalid("Cannot update container \(record.id): \(why)") }
        let nano = changes.NanoCpus ?? 0, quota = changes.CpuQuota ?? 0, period = changes.CpuPeriod ?? 0
        if nano > 0 && (host.CpuPeriod ?? 0) > 0 { throw cannot("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set") }
        if nano > 0 && (host.CpuQuota ?? 0) > 0 { throw cannot("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set") }
        if period > 0 && (host.NanoCpus ?? 0) > 0 { throw cannot("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set") }
        if quota > 0 && (host.NanoCpus ?? 0) > 0 { throw cannot("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set") }
        if let v = changes.BlkioWeight, v != 0 { host.BlkioWeight = v }
        if let v = changes.CpuShares, v != 0 { host.CpuShares = v }
        if nano != 0 { host.NanoCpus = nano }
        if period != 0 { host.CpuPeriod = period }
        if quota != 0 { host.CpuQuota = quota }
        if let v = changes.CpuRealtimePeriod, v != 0 { host.CpuRealtimePeriod = v }
        if let v = changes.CpuRealtimeRuntime, v != 0 { host.CpuRealtimeRuntime = v }
        if let v = changes.CpusetCpus, !v.isEmpty { host.CpusetCpus = v }
        if let v = changes.CpusetMems, !v.isEmpty { host.CpusetMems = v }
        if let v = changes.Memory, v != 0 {
            // A memory limit above the swap already set needs a new swap limit with it (dockerd's
            // rule, unlimited swap included).
            if v > (host.MemorySwap ?? 0) && (changes.MemorySwap ?? 0) == 0 {
                throw cannot("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
            }
            host.Memory = v
        }
        if let v = changes.MemorySwap, v != 0 { host.MemorySwap = v }
        if let v = changes.MemoryReservation, v != 0 { host.MemoryReservation = v }
        if let v = changes.KernelMemory, v != 0 { host.KernelMemory = v }
        if let v = changes.PidsLimit { host.PidsLimit = v }
        if let policy = changes.RestartPolicy, let name = policy.Name, !name.isEmpty {
            if record.hostConfig.AutoRemove == true && name != "no" {
                throw cannot("Restart policy cannot be updated because AutoRemove is enabled for the container")
            }
            host.RestartPolicy = policy
        }
        if record.state.Running {
            var resources = try SpecBuilder.resources(host)
            resources.devices = nil  // the device rules were set at start and stay
            do {
                try await task(record.id).update(resources)
            } catch let error where ErrorCode.of(error) == .conflict {
                // exited since the record said running: the settings apply from its next start
            } catch let refusal as EngineError where refusal.code == .invalid {
                throw EngineError.invalid("Cannot update container \(record.id): \(refusal.message)", cause: refusal.cause)
            } catch {
                throw EngineError.internalError("Cannot update container \(record.id): \(error)", cause: error)
            }
        }
        record.hostConfig = host
        try save(record)
        emit(record, "update")
        return warnings
    }
}
