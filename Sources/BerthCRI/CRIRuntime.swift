import BerthCRIProto
import BerthSystem
import GRPCCore
import Logging

/// CRI's RuntimeService: what the kubelet asks first (version, readiness, cgroup driver). Pods
/// and their containers are not served yet; their RPCs answer UNIMPLEMENTED, and `Status` says
/// the pod network is not ready, so a kubelet pointed here reports the node NotReady rather than
/// scheduling pods it cannot run.
public struct CRIRuntime: Sendable {
    let log: Logger
    /// The pod CIDR the kubelet last handed over (`UpdateRuntimeConfig`), shown in verbose status.
    let podCIDR = Locked("")

    public init(log: Logger) { self.log = log }

    typealias Service = Runtime_V1_RuntimeService.Method

    /// The CRI version this server speaks, as containerd reports it in `VersionResponse.version`.
    static let kubeletAPIVersion = "0.1.0"

    func register<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.Version.descriptor, log: log) { (_: Runtime_V1_VersionRequest) in Self.version() }
        router.unary(Service.Status.descriptor, log: log) { status($0) }
        router.unary(Service.RuntimeConfig.descriptor, log: log) { (_: Runtime_V1_RuntimeConfigRequest) in Self.runtimeConfig() }
        router.unary(Service.UpdateRuntimeConfig.descriptor, log: log) { updateRuntimeConfig($0) }
    }

    static func version() -> Runtime_V1_VersionResponse {
        var response = Runtime_V1_VersionResponse()
        response.version = kubeletAPIVersion
        response.runtimeName = "berth"
        response.runtimeVersion = BerthVersion.release
        response.runtimeApiVersion = "v1"
        return response
    }

    func status(_ request: Runtime_V1_StatusRequest) -> Runtime_V1_StatusResponse {
        var runtimeReady = Runtime_V1_RuntimeCondition()
        runtimeReady.type = "RuntimeReady"
        runtimeReady.status = true
        var networkReady = Runtime_V1_RuntimeCondition()
        networkReady.type = "NetworkReady"
        networkReady.status = false
        networkReady.reason = "NetworkPluginNotReady"
        networkReady.message = "Network plugin returns error: berth's CRI does not set up pod networks yet"
        var response = Runtime_V1_StatusResponse()
        response.status.conditions = [runtimeReady, networkReady]
        if request.verbose {
            response.info["config"] = #"{"cgroupDriver":"cgroupfs","podCIDR":"\#(podCIDR.value)"}"#
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
