import BerthAPI
import BerthCRIProto
import BerthEngine
import BerthOCI
import BerthSystem
import FoundationEssentials
import GRPCCore

/// The container RPCs: each maps onto the engine's own operation on a Berth container that joins
/// its pod's pinned namespaces (`PodContainers` builds the request).
extension CRIRuntime {
    func registerContainers<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.CreateContainer.descriptor, log: log) { try await createContainer($0) }
        router.unary(Service.StartContainer.descriptor, log: log) { (request: Runtime_V1_StartContainerRequest) in
            try await containers.start(try await criContainer(request.containerID).Id)
            return Runtime_V1_StartContainerResponse()
        }
        router.unary(Service.StopContainer.descriptor, log: log) { (request: Runtime_V1_StopContainerRequest) in
            let id = try await criContainer(request.containerID).Id
            do { try await containers.stop(id, timeout: Int(clamping: request.timeout), signal: nil) } catch let error where ErrorCode.of(error) == .notModified {}
            return Runtime_V1_StopContainerResponse()
        }
        router.unary(Service.RemoveContainer.descriptor, log: log) { (request: Runtime_V1_RemoveContainerRequest) in
            // Idempotent: a container already gone is not an error.
            if let found = try? await criContainer(request.containerID) {
                try await containers.remove(found.Id, force: true)
                cpuSamples.forget(found.Id)
            }
            return Runtime_V1_RemoveContainerResponse()
        }
        router.unary(Service.ContainerStatus.descriptor, log: log) { (request: Runtime_V1_ContainerStatusRequest) in
            var response = Runtime_V1_ContainerStatusResponse()
            let found = try await criContainer(request.containerID)
            response.status = Self.status(found)
            if request.verbose { response.info["info"] = try await verboseInfo(found) }
            return response
        }
        router.unary(Service.ListContainers.descriptor, log: log) { try await listContainers($0) }
        router.unary(Service.ExecSync.descriptor, log: log) { try await execSync($0) }
        router.unary(Service.UpdateContainerResources.descriptor, log: log) { (request: Runtime_V1_UpdateContainerResourcesRequest) in
            var host = HostConfig()
            PodContainers.apply(request.linux, to: &host, ownOOMScore: PodContainers.ownOOMScore())
            host.OomScoreAdj = nil  // a running process's score is set once, at its start
            _ = try await containers.update(try await criContainer(request.containerID).Id, host)
            return Runtime_V1_UpdateContainerResourcesResponse()
        }
        router.unary(Service.ReopenContainerLog.descriptor, log: log) { (request: Runtime_V1_ReopenContainerLogRequest) in
            try await containers.reopenLog(try await criContainer(request.containerID).Id)
            return Runtime_V1_ReopenContainerLogResponse()
        }
    }

    func createContainer(_ request: Runtime_V1_CreateContainerRequest) async throws -> Runtime_V1_CreateContainerResponse {
        guard let pod = try await pods.find(request.podSandboxID) else {
            throw RPCStatus.notFound("failed to find sandbox id \"\(request.podSandboxID)\": not found")
        }
        guard pod.ready else { throw RPCError(code: .failedPrecondition, message: "sandbox \(pod.id) is not ready") }
        let podConfig = try pod.config()
        let pidOptions = request.config.linux.securityContext.namespaceOptions
        if pidOptions.pid == .target { try await validateTarget(pidOptions.targetID, sandbox: pod.id) }
        let own = PodContainers.ownOOMScore()
        let (body, host) = try PodContainers.request(request.config, pod: podConfig, sandboxID: pod.id, pins: await pods.pins(pod.id),
                                                     files: await pods.directory(pod.id), ownOOMScore: own)
        if request.config.linux.resources.oomScoreAdj < own {
            log.info("CRI: container \(request.config.metadata.name) asked oom_score_adj \(request.config.linux.resources.oomScoreAdj); berthd may set no less than its own \(own)")
        }
        // The kubelet makes the pod's log directory; a path below it is the runtime's to make.
        let logPath = request.config.logPath.isEmpty || podConfig.logDirectory.isEmpty ? nil : podConfig.logDirectory + "/" + request.config.logPath
        if let logPath, let slash = logPath.lastIndex(of: "/") { try FileIO.makeDirectories(String(logPath[..<slash]), mode: 0o755) }
        let created = try await containers.create(name: PodContainers.name(request.config, podConfig), config: body, host: host, criLogPath: logPath)
        var response = Runtime_V1_CreateContainerResponse()
        response.containerID = created.Id
        return response
    }

    /// The container whose PID namespace a `TARGET` container joins: one of the same pod, running
    /// (containerd's checks and words).
    func validateTarget(_ target: String, sandbox: String) async throws {
        func invalid(_ why: String, _ code: RPCError.Code = .unknown) -> RPCError {
            RPCError(code: code, message: "failed to generate container spec: invalid target container: " + why)
        }
        guard let found = try? await criContainer(target) else { throw invalid("container \"\(target)\" does not exist: not found", .notFound) }
        let owner = found.Config.Labels?[PodContainers.sandboxLabel] ?? ""
        guard owner == sandbox else { throw invalid("container \"\(target)\" (sandbox \(owner)) does not belong to sandbox \(sandbox)") }
        let state = Self.state(found.State.Status)
        guard state == .containerRunning else { throw invalid("container \"\(target)\" is not running - in state \(Self.stateName(state))") }
    }

    /// A container of a pod, by full ID or unique prefix; the Engine API's own containers are
    /// not CRI's to see.
    /// containerd's verbose container info (what `crictl inspect` prints): the sandbox, the
    /// init's pid, the snapshot and the runtime spec the container was started with (none
    /// before its first start, when berthd has not made one yet).
    func verboseInfo(_ c: ContainerInspect) async throws -> String {
        struct Info: Encodable {
            let sandboxID: String, pid: Int32, removing: Bool, snapshotKey: String, snapshotter: String, runtimeType: String
            let runtimeSpec: Spec?
        }
        let info = Info(sandboxID: c.Config.Labels?[PodContainers.sandboxLabel] ?? "", pid: c.State.Pid, removing: c.State.Status == "removing",
                        snapshotKey: c.Id, snapshotter: "overlayfs", runtimeType: "berth-runtime", runtimeSpec: try containers.runtimeSpec(c.Id))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(info), as: UTF8.self)
    }

    func criContainer(_ ref: String) async throws -> ContainerInspect {
        guard !ref.isEmpty, let found = try? containers.inspect(ref), found.Config.Labels?[PodContainers.sandboxLabel] != nil else {
            throw RPCStatus.notFound("an error occurred when try to find container \"\(ref)\": not found")
        }
        return found
    }

    /// The state as containerd's messages name it (the proto's enum name).
    static func stateName(_ state: Runtime_V1_ContainerState) -> String {
        switch state {
        case .containerCreated: return "CONTAINER_CREATED"
        case .containerRunning: return "CONTAINER_RUNNING"
        case .containerExited: return "CONTAINER_EXITED"
        default: return "CONTAINER_UNKNOWN"
        }
    }

    static func state(_ status: String) -> Runtime_V1_ContainerState {
        switch status {
        case "created": return .containerCreated
        case "running", "paused", "restarting": return .containerRunning
        case "exited", "dead": return .containerExited
        default: return .containerUnknown
        }
    }

    static func nanos(_ text: String) -> Int64 {
        guard !text.hasPrefix("0001-"), let seconds = Timestamp.parse(text) else { return 0 }
        return Int64(seconds * 1e9)
    }

    static func metadata(_ labels: [String: String]) -> Runtime_V1_ContainerMetadata {
        var metadata = Runtime_V1_ContainerMetadata()
        metadata.name = labels[PodContainers.nameLabel] ?? ""
        metadata.attempt = UInt32(labels[PodContainers.attemptLabel] ?? "") ?? 0
        return metadata
    }

    static func status(_ c: ContainerInspect) -> Runtime_V1_ContainerStatus {
        let labels = c.Config.Labels ?? [:]
        var status = Runtime_V1_ContainerStatus()
        status.id = c.Id
        status.metadata = metadata(labels)
        status.state = state(c.State.Status)
        status.createdAt = nanos(c.Created)
        if status.state != .containerCreated {
            status.startedAt = nanos(c.State.StartedAt)
            status.finishedAt = nanos(c.State.FinishedAt)
        }
        status.exitCode = c.State.ExitCode
        status.image.image = c.Config.Image ?? ""
        status.imageRef = c.Image
        status.imageID = c.Image
        if status.state == .containerExited {
            status.reason = c.State.OOMKilled ? "OOMKilled" : c.State.ExitCode == 0 ? "Completed" : "Error"
            status.message = c.State.Error
        }
        status.labels = PodContainers.map(labels[PodContainers.criLabelsLabel])
        status.annotations = PodContainers.map(labels[PodContainers.annotationsLabel])
        status.mounts = c.Mounts.filter { $0.Type == "bind" && !$0.Destination.hasPrefix("/etc/") && $0.Destination != "/dev/shm" }.map { m in
            var mount = Runtime_V1_Mount()
            mount.containerPath = m.Destination
            mount.hostPath = m.Source
            mount.readonly = !m.RW
            return mount
        }
        status.logPath = labels[PodContainers.logPathLabel] ?? ""
        return status
    }

    func listContainers(_ request: Runtime_V1_ListContainersRequest) async throws -> Runtime_V1_ListContainersResponse {
        let filter = request.filter
        var response = Runtime_V1_ListContainersResponse()
        let wanted = PodContainers.filters(pod: filter.podSandboxID, labels: filter.labelSelector)
        for summary in try await containers.list(all: true, limit: nil, filters: wanted) {
            if !filter.id.isEmpty && !summary.Id.hasPrefix(filter.id) { continue }
            let state = Self.state(summary.State)
            if filter.hasState && filter.state.state != state { continue }
            var item = Runtime_V1_Container()
            item.id = summary.Id
            item.podSandboxID = summary.Labels[PodContainers.sandboxLabel] ?? ""
            item.metadata = Self.metadata(summary.Labels)
            item.image.image = summary.Image
            item.imageRef = summary.ImageID
            item.imageID = summary.ImageID
            item.state = state
            item.createdAt = summary.Created * 1_000_000_000
            item.labels = PodContainers.map(summary.Labels[PodContainers.criLabelsLabel])
            item.annotations = PodContainers.map(summary.Labels[PodContainers.annotationsLabel])
            response.containers.append(item)
        }
        return response
    }

    /// At most 16 MiB of output, as the kubelet's own limit on an ExecSync reply; a timeout is
    /// DEADLINE_EXCEEDED, as containerd answers it.
    func execSync(_ request: Runtime_V1_ExecSyncRequest) async throws -> Runtime_V1_ExecSyncResponse {
        let id = try await criContainer(request.containerID).Id
        // A timeout too long to count in nanoseconds is no timeout (and must not trap berthd).
        let (nanos, overflow) = request.timeout.multipliedReportingOverflow(by: 1_000_000_000)
        let timeout = request.timeout > 0 && !overflow ? nanos : 0
        let output = try await containers.execSync(id, command: request.cmd, timeout: timeout, limit: 16 << 20)
        var response = Runtime_V1_ExecSyncResponse()
        switch output.end {
        case .timedOut: throw RPCError(code: .deadlineExceeded, message: "command \(request.cmd) timed out after \(request.timeout)s")
        case .lost: throw RPCError(code: .internalError, message: "exec in container \(id) ended without an exit status")
        case .exited(let code): response.exitCode = code
        }
        response.stdout = Data(output.chunks.filter { $0.stream == 1 }.flatMap(\.bytes))
        response.stderr = Data(output.chunks.filter { $0.stream == 2 }.flatMap(\.bytes))
        return response
    }
}
