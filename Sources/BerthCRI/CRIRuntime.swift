import BerthCRIProto
import BerthEngine
import BerthSystem
import FoundationEssentials
import GRPCCore
import Logging

/// CRI's RuntimeService: what the kubelet asks first (version, readiness, cgroup driver), pod
/// sandboxes, and the containers in them. An RPC not registered here answers UNIMPLEMENTED.
public struct CRIRuntime: Sendable {
    let log: Logger
    let pods: PodSandboxes
    let containers: ContainerService
    /// The pod CIDR the kubelet last handed over (`UpdateRuntimeConfig`), shown in verbose status.
    let podCIDR = Locked("")
    let cpuSamples = CPUSamples()
    /// Where Exec, Attach and PortForward send their clients; berthd binds it at start.
    public let streaming: StreamingServer

    /// `stateRoot` keeps pod records across restarts; `runRoot` holds the namespace pins.
    public init(containers: ContainerService, stateRoot: String, runRoot: String, cniConfigDirectory: String, cniBinDirectories: [String],
                shimPath: String, log: Logger) throws {
        self.log = log
        self.containers = containers
        self.streaming = StreamingServer(containers: containers, log: log)
        self.pods = try PodSandboxes(settings: .init(stateRoot: stateRoot, runRoot: runRoot, cniConfigDirectory: cniConfigDirectory,
                                                     cniBinDirectories: cniBinDirectories, shimPath: shimPath), log: log)
    }

    typealias Service = Runtime_V1_RuntimeService.Method

    /// The CRI version this server speaks, as containerd reports it in `VersionResponse.version`.
    static let kubeletAPIVersion = "0.1.0"

    func register<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.Version.descriptor, log: log) { (_: Runtime_V1_VersionRequest) in Self.version() }
        router.unary(Service.Status.descriptor, log: log) { await status($0) }
        router.unary(Service.RuntimeConfig.descriptor, log: log) { (_: Runtime_V1_RuntimeConfigRequest) in Self.runtimeConfig() }
        router.unary(Service.UpdateRuntimeConfig.descriptor, log: log) { updateRuntimeConfig($0) }
        registerSandboxes(&router)
        registerContainers(&router)
        registerStats(&router)
        registerStreaming(&router)
        registerEvents(&router)
    }

    static func version() -> Runtime_V1_VersionResponse {
        var response = Runtime_V1_VersionResponse()
        response.version = kubeletAPIVersion
        response.runtimeName = "berth"
        response.runtimeVersion = BerthVersion.release
        response.runtimeApiVersion = "v1"
        return response
    }

    func status(_ request: Runtime_V1_StatusRequest) async -> Runtime_V1_StatusResponse {
        let network = await pods.network()
        var runtimeReady = Runtime_V1_RuntimeCondition()
        runtimeReady.type = "RuntimeReady"
        runtimeReady.status = true
        var networkReady = Runtime_V1_RuntimeCondition()
        networkReady.type = "NetworkReady"
        networkReady.status = network != nil
        if network == nil {
            networkReady.reason = "NetworkPluginNotReady"
            networkReady.message = "Network plugin returns error: cni plugin not initialized"
        }
        var response = Runtime_V1_StatusResponse()
        response.status.conditions = [runtimeReady, networkReady]
        if request.verbose {
            struct Config: Encodable { let cgroupDriver: String; let podCIDR: String; let cniConfig: String }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let config = Config(cgroupDriver: "cgroupfs", podCIDR: podCIDR.value, cniConfig: network?.file ?? "")
            response.info["config"] = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"  // three strings always encode
        }
        return response
    }

    /// Berth places containers with cgroupfs paths (`/sys/fs/cgroup/…/berth/<id>`), never systemd
    /// slices; the kubelet must be started with the same driver.
    static func runtimeConfig() -> Runtime_V1_RuntimeConfigResponse {
        var response = Runtime_V1_RuntimeConfigResponse()
        response.linux.cgroupDriver = .cgroupfs
        return response
    }

    func updateRuntimeConfig(_ request: Runtime_V1_UpdateRuntimeConfigRequest) -> Runtime_V1_UpdateRuntimeConfigResponse {
        let cidr = request.runtimeConfig.networkConfig.podCidr
        if !cidr.isEmpty && podCIDR.exchange(cidr) != cidr { log.info("CRI: the kubelet set the pod CIDR to \(cidr)") }
        return Runtime_V1_UpdateRuntimeConfigResponse()
    }
}
