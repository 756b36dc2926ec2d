import BerthAPI
import BerthCRIProto
import BerthEngine
import BerthImage
import BerthOCI
import BerthRegistry
import GRPCCore
import BerthSystem
import Testing
@testable import BerthCRI

/// The pure mappings of the CRI server: how an image's USER and a kubelet's auth config are read,
/// and which gRPC status each of Berth's errors becomes.
@Suite struct CRIMappingTests {
    @Test(arguments: [("", nil, ""), ("1002", 1002, ""), ("1002:1002", 1002, ""), ("nobody", nil, "nobody"),
                      ("www-data:www-data", nil, "www-data"), ("0", 0, "")] as [(String, Int64?, String)])
    func imageUserAsUIDOrName(text: String, uid: Int64?, name: String) {
        let user = CRIImages.user(text)
        #expect(user.uid == uid && user.username == name)
    }

    @Test func authConfigs() {
        #expect(RegistryCredentials.given(username: "", password: "", auth: "", identityToken: "", registryToken: "") == nil)
        // `auth` is base64 of user:password and stands in for an empty username
        #expect(RegistryCredentials.given(username: "", password: "", auth: "YmVydGg6czNjcmV0", identityToken: "", registryToken: "")
                == RegistryCredentials(username: "berth", password: "s3cret"))
        #expect(RegistryCredentials.given(username: "a", password: "b", auth: "YmVydGg6czNjcmV0", identityToken: "", registryToken: "")
                == RegistryCredentials(username: "a", password: "b"))
        #expect(RegistryCredentials.given(username: "", password: "", auth: "", identityToken: "", registryToken: "t")
                == RegistryCredentials(registryToken: "t"))
    }

    @Test func errorsBecomeStatuses() throws {
        #expect(CRIStatus.rpcError(EngineError.notFound("No such container: x")).code == .notFound)
        #expect(CRIStatus.rpcError(EngineError.invalid("bad")).code == .invalidArgument)
        #expect(CRIStatus.rpcError(EngineError.conflict("busy")).code == .failedPrecondition)
        #expect(CRIStatus.rpcError(ImageError.notFound("busybox")).code == .notFound)
        #expect(CRIStatus.rpcError(ImageError.ambiguous("ab")).code == .notFound)  // as the API's 404
        #expect(CRIStatus.rpcError(RegistryError.unauthorized("no")).code == .permissionDenied)
        #expect(CRIStatus.rpcError(RegistryError.unreachable("https://r/v2/", underlying: "refused")).code == .unavailable)
        #expect(CRIStatus.rpcError(SystemError("open", "/x", errno: 2)).code == .unknown)
        let parse = try #require(throws: Reference.ParseError.self) { try Reference(parsing: "UPPERCASE") }
        #expect(CRIStatus.rpcError(parse).code == .invalidArgument)
        #expect(CRIStatus.rpcError(RPCError(code: .aborted, message: "kept")).code == .aborted)
    }
}

/// A kubelet's container config as the engine's create request.
@Suite struct PodContainerRequestTests {
    func pod(network: Runtime_V1_NamespaceMode = .pod, ipc: Runtime_V1_NamespaceMode = .pod) -> Runtime_V1_PodSandboxConfig {
        var pod = Runtime_V1_PodSandboxConfig()
        pod.metadata.name = "web"
        pod.metadata.namespace = "default"
        pod.metadata.uid = "u1"
        pod.logDirectory = "/var/log/pods/u1"
        pod.linux.securityContext.namespaceOptions.network = network
        pod.linux.securityContext.namespaceOptions.ipc = ipc
        pod.linux.cgroupParent = "/kubepods/podu1"
        return pod
    }

    func container() -> Runtime_V1_ContainerConfig {
        var c = Runtime_V1_ContainerConfig()
        c.metadata.name = "app"
        c.metadata.attempt = 2
        c.image.image = "busybox"
        c.command = ["/bin/sh"]
        c.args = ["-c", "true"]
        c.logPath = "app/2.log"
        c.linux.securityContext.namespaceOptions.pid = .container
        return c
    }

    @Test func joinsThePodsPinnedNamespacesAndBindsItsFiles() throws {
        let (body, host) = try PodContainers.request(container(), pod: pod(), sandboxID: "s1", pins: "/run/berth/cri/s1", files: "/var/lib/berth/cri/sandboxes/s1",
                                                     ownOOMScore: 0)
        #expect(body.Entrypoint == ["/bin/sh"] && body.Cmd == ["-c", "true"])
        #expect(host.NetworkMode == "ns:/run/berth/cri/s1/net" && host.UTSMode == "ns:/run/berth/cri/s1/uts" && host.IpcMode == "ns:/run/berth/cri/s1/ipc")
        #expect(host.PidMode == nil && host.CgroupParent == "/kubepods/podu1")
        #expect(host.Binds == ["/var/lib/berth/cri/sandboxes/s1/resolv.conf:/etc/resolv.conf", "/var/lib/berth/cri/sandboxes/s1/hostname:/etc/hostname",
                               "/var/lib/berth/cri/sandboxes/s1/hosts:/etc/hosts", "/run/berth/cri/s1/shm:/dev/shm"])
        #expect(body.Labels?[PodContainers.sandboxLabel] == "s1" && body.Labels?[PodContainers.attemptLabel] == "2")
        #expect(body.Labels?[PodContainers.logPathLabel] == "/var/log/pods/u1/app/2.log")
        #expect(PodContainers.name(container(), pod()) == "k8s_app_web_default_u1_2")
    }

    @Test func theNodesNamespacesAreTheHosts() throws {
        var c = container()
        c.linux.securityContext.namespaceOptions.pid = .node
        var mount = Runtime_V1_Mount()
        mount.containerPath = "/etc/hosts"
        mount.hostPath = "/var/lib/kubelet/pods/u1/etc-hosts"
        c.mounts = [mount]
        let (_, host) = try PodContainers.request(c, pod: pod(network: .node, ipc: .node), sandboxID: "s1", pins: "/p", files: "/f", ownOOMScore: 0)
        #expect(host.NetworkMode == "host" && host.UTSMode == "host" && host.IpcMode == "host" && host.PidMode == "host")
        // the kubelet's own /etc/hosts wins; no pod /dev/shm when IPC is the node's
        #expect(host.Binds == ["/var/lib/kubelet/pods/u1/etc-hosts:/etc/hosts", "/f/resolv.conf:/etc/resolv.conf", "/f/hostname:/etc/hostname"])
    }

    @Test func securityContextAndRefusals() throws {
        var c = container()
        c.linux.securityContext.runAsUser.value = 1000
        c.linux.securityContext.runAsGroup.value = 3000
        c.linux.securityContext.supplementalGroups = [4000]
        c.linux.securityContext.noNewPrivs = true
        c.linux.securityContext.seccomp.profileType = .unconfined
        c.linux.resources.oomScoreAdj = -998
        let (body, host) = try PodContainers.request(c, pod: pod(), sandboxID: "s", pins: "/p", files: "/f", ownOOMScore: -500)
        #expect(body.User == "1000:3000" && host.GroupAdd == ["4000"])
        #expect(host.SecurityOpt == ["no-new-privileges", "seccomp=unconfined"] && host.OomScoreAdj == -500)
        c.linux.securityContext.namespaceOptions.pid = .pod
        // the pod's PID namespace (the proto's default, POD) only in a pod that has one
        #expect(try PodContainers.request(c, pod: pod(), sandboxID: "s", pins: "/p", files: "/f", ownOOMScore: 0).1.PidMode == "ns:/p/pid")
        var apart = pod()
        apart.linux.securityContext.namespaceOptions.pid = .container
        #expect(throws: RPCError.self) { try PodContainers.request(c, pod: apart, sandboxID: "s", pins: "/p", files: "/f", ownOOMScore: 0) }
        var slice = pod()
        slice.linux.cgroupParent = "kubepods-besteffort.slice"
        #expect(throws: RPCError.self) { try PodContainers.request(container(), pod: slice, sandboxID: "s", pins: "/p", files: "/f", ownOOMScore: 0) }
    }

    @Test func theEnginesContainerActionsAreTheKubeletsEvents() {
        #expect(["create", "start", "die", "destroy"].map(CRIRuntime.eventType)
                == [.containerCreatedEvent, .containerStartedEvent, .containerStoppedEvent, .containerDeletedEvent])
        #expect(CRIRuntime.eventType("kill") == nil && CRIRuntime.eventType("exec_start: sh") == nil)
    }
}
