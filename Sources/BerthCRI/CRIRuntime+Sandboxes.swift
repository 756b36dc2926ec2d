import BerthCRIProto
import BerthEngine
import BerthSystem
import FoundationEssentials
import GRPCCore

/// The pod sandbox RPCs, answered from `PodSandboxes` in the shapes containerd's CRI plugin uses.
extension CRIRuntime {
    func registerSandboxes<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.RunPodSandbox.descriptor, log: log) { (request: Runtime_V1_RunPodSandboxRequest) in
            var response = Runtime_V1_RunPodSandboxResponse()
            response.podSandboxID = try await pods.run(request.config, runtimeHandler: request.runtimeHandler)
            return response
        }
        router.unary(Service.StopPodSandbox.descriptor, log: log) { (request: Runtime_V1_StopPodSandboxRequest) in
            guard let pod = try await pods.find(request.podSandboxID) else {
                throw RPCStatus.notFound("an error occurred when try to find sandbox: not found")
            }
            // Its containers are killed with no grace period, as containerd stops them, all at once
            // and while the CNI plugins detach the pod: the plugins' DEL (a veth deleted inside the
            // namespace, rules removed) does not need the processes gone, and was half the stop.
            let ids = try await podContainers(pod.id)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in ids {
                    group.addTask { do { try await containers.stop(id, timeout: 0, signal: nil) } catch let error where ErrorCode.of(error) == .notModified {} }
                }
                group.addTask { try await pods.stop(pod.id) }
                try await group.waitForAll()
            }
            return Runtime_V1_StopPodSandboxResponse()
        }
        router.unary(Service.RemovePodSandbox.descriptor, log: log) { (request: Runtime_V1_RemovePodSandboxRequest) in
            guard let pod = try await pods.find(request.podSandboxID) else { return Runtime_V1_RemovePodSandboxResponse() }
            let ids = try await podContainers(pod.id)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in ids { group.addTask { try await containers.remove(id, force: true) } }
                try await group.waitForAll()
            }
            try await pods.remove(pod.id)
            return Runtime_V1_RemovePodSandboxResponse()
        }
        router.unary(Service.PodSandboxStatus.descriptor, log: log) { try await sandboxStatus($0) }
        router.unary(Service.ListPodSandbox.descriptor, log: log) { try await listSandboxes($0) }
    }

    func podContainers(_ sandbox: String) async throws -> [String] {
        try await containers.list(all: true, limit: nil, filters: PodContainers.filters(pod: sandbox, labels: [:])).map(\.Id)
    }

    func sandboxStatus(_ request: Runtime_V1_PodSandboxStatusRequest) async throws -> Runtime_V1_PodSandboxStatusResponse {
        guard let record = try await pods.find(request.podSandboxID) else {
            throw RPCStatus.notFound("an error occurred when try to find sandbox: not found")
        }
        let config = try record.config()
        var status = Runtime_V1_PodSandboxStatus()
        status.id = record.id
        status.metadata = config.metadata
        status.state = record.ready ? .sandboxReady : .sandboxNotready
        status.createdAt = record.createdAt
        status.network.ip = record.addresses.first ?? ""
        status.network.additionalIps = record.addresses.dropFirst().map { var ip = Runtime_V1_PodIP(); ip.ip = $0; return ip }
        status.linux.namespaces.options = config.linux.securityContext.namespaceOptions
        status.labels = config.labels
        status.annotations = config.annotations
        status.runtimeHandler = record.runtimeHandler
        var response = Runtime_V1_PodSandboxStatusResponse()
        response.status = status
        if request.verbose { response.info["info"] = try await verboseInfo(record, config) }
        return response
    }

    /// Where the pod's namespaces are, in the shape of containerd's verbose info (`runtimeSpec`'s
    /// namespaces, which its containers join), and the files they bind.
    func verboseInfo(_ record: PodSandboxRecord, _ config: Runtime_V1_PodSandboxConfig) async throws -> String {
        struct Namespace: Encodable { let type: String; let path: String }
        struct Linux: Encodable { let namespaces: [Namespace] }
        struct Spec: Encodable { let linux: Linux; let hostname: String }
        struct Info: Encodable { let runtimeSpec: Spec; let resolvConf: String; let hostsFile: String; let shm: String?; let cniResult: [String] }
        let pins = await pods.pins(record.id), dir = await pods.directory(record.id)
        let options = config.linux.securityContext.namespaceOptions
        var namespaces: [Namespace] = []
        if options.network != .node { namespaces += [Namespace(type: "network", path: pins + "/net"), Namespace(type: "uts", path: pins + "/uts")] }
        if options.ipc != .node { namespaces.append(Namespace(type: "ipc", path: pins + "/ipc")) }
        if options.pid == .pod { namespaces.append(Namespace(type: "pid", path: pins + "/pid")) }
        let written = try FileIO.read(dir + "/hostname")
        let hostname = String(decoding: written.prefix { $0 != 0x0a }, as: UTF8.self)
        let info = Info(runtimeSpec: Spec(linux: Linux(namespaces: namespaces), hostname: hostname), resolvConf: dir + "/resolv.conf",
                        hostsFile: dir + "/hosts", shm: options.ipc == .node ? nil : pins + "/shm", cniResult: record.addresses)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(info), as: UTF8.self)
    }

    func listSandboxes(_ request: Runtime_V1_ListPodSandboxRequest) async throws -> Runtime_V1_ListPodSandboxResponse {
        let filter = request.filter
        var response = Runtime_V1_ListPodSandboxResponse()
        for record in await pods.all() {
            if !filter.id.isEmpty && !record.id.hasPrefix(filter.id) { continue }
            if filter.hasState && (record.ready ? Runtime_V1_PodSandboxState.sandboxReady : .sandboxNotready) != filter.state.state { continue }
            let config = try record.config()
            if !filter.labelSelector.allSatisfy({ config.labels[$0.key] == $0.value }) { continue }
            var item = Runtime_V1_PodSandbox()
            item.id = record.id
            item.metadata = config.metadata
            item.state = record.ready ? .sandboxReady : .sandboxNotready
            item.createdAt = record.createdAt
            item.labels = config.labels
            item.annotations = config.annotations
            item.runtimeHandler = record.runtimeHandler
            response.items.append(item)
        }
        return response
    }
}
