import BerthAPI
import BerthCRIProto
import BerthEngine
import BerthSystem
import FoundationEssentials
import Glibc
import GRPCCore

/// How a CRI container maps onto a Berth container: the same engine, shims and image store as
/// the Engine API's, so `berth ps` lists a pod's containers with the kubelet's labels. What CRI
/// says and Docker's model lacks rides in labels under `berth.cri.` (the pod, the CRI metadata,
/// the annotations, the log path), so nothing is kept twice and a restart loses nothing.
enum PodContainers {
    static let sandboxLabel = "berth.cri.sandbox"
    static let nameLabel = "berth.cri.name"
    static let attemptLabel = "berth.cri.attempt"
    static let annotationsLabel = "berth.cri.annotations"
    static let logPathLabel = "berth.cri.log-path"
    static let criLabelsLabel = "berth.cri.labels"

    /// dockershim's container name, unique per pod and attempt (as the kubelet's logs name them).
    static func name(_ config: Runtime_V1_ContainerConfig, _ pod: Runtime_V1_PodSandboxConfig) -> String {
        "k8s_\(config.metadata.name)_\(pod.metadata.name)_\(pod.metadata.namespace)_\(pod.metadata.uid)_\(config.metadata.attempt)"
    }

    /// The create request for the engine. `pins` and `files` are the pod's namespace pins and its
    /// resolv.conf/hostname/hosts; a namespace the pod shares with the node is the host's.
    static func request(_ config: Runtime_V1_ContainerConfig, pod: Runtime_V1_PodSandboxConfig, sandboxID: String,
                        pins: String, files: String, ownOOMScore: Int) throws -> (ContainerConfig, HostConfig) {
        guard config.hasMetadata, !config.metadata.name.isEmpty else { throw RPCStatus.invalid("container config must include metadata with a name") }
        guard !config.image.image.isEmpty else { throw RPCStatus.invalid("container config must include an image") }
        let podOptions = pod.linux.securityContext.namespaceOptions
        let security = config.linux.securityContext
        var body = ContainerConfig()
        body.Image = config.image.image
        if !config.command.isEmpty { body.Entrypoint = config.command }
        if !config.args.isEmpty { body.Cmd = config.args }
        body.Env = config.envs.map { (pair: Runtime_V1_KeyValue) -> String in pair.key + "=" + String(decoding: pair.value, as: UTF8.self) }
        if !config.workingDir.isEmpty { body.WorkingDir = config.workingDir }
        body.Tty = config.tty
        body.OpenStdin = config.stdin
        body.StdinOnce = config.stdinOnce
        body.User = user(security)
        var labels = config.labels
        labels[sandboxLabel] = sandboxID
        labels[nameLabel] = config.metadata.name
        labels[attemptLabel] = String(config.metadata.attempt)
        labels[annotationsLabel] = try json(config.annotations)
        labels[criLabelsLabel] = try json(config.labels)
        if !config.logPath.isEmpty && !pod.logDirectory.isEmpty { labels[logPathLabel] = pod.logDirectory + "/" + config.logPath }
        body.Labels = labels

        var host = HostConfig()
        // containerd's annotations on the runtime spec (for hooks and runtimes that ask what a
        // container is); the pod's own annotations are not passed, as containerd passes none
        // unless configured to: a runtime may act on some
        host.Annotations = [
            "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": config.metadata.name,
            "io.kubernetes.cri.sandbox-id": sandboxID, "io.kubernetes.cri.sandbox-name": pod.metadata.name,
            "io.kubernetes.cri.sandbox-namespace": pod.metadata.namespace, "io.kubernetes.cri.sandbox-uid": pod.metadata.uid,
            "io.kubernetes.cri.image-name": config.image.image,
        ]
        let shared = podOptions.network == .node
        host.NetworkMode = shared ? "host" : "ns:" + pins + "/net"
        host.UTSMode = shared ? "host" : "ns:" + pins + "/uts"
        host.IpcMode = podOptions.ipc == .node ? "host" : "ns:" + pins + "/ipc"
        switch security.namespaceOptions.pid {
        case .container: break
        case .node: host.PidMode = "host"
        case .pod:
            guard podOptions.pid == .pod else {
                throw RPCError(code: .failedPrecondition, message: "container asks for the pod's PID namespace, but the pod was not run with a shared one")
            }
            host.PidMode = "ns:" + pins + "/pid"
        case .target:
            // an ephemeral (debug) container's: the namespace of one running container of the pod
            // (checked by the caller), joined at start as `--pid container:<id>` is
            host.PidMode = "container:" + security.namespaceOptions.targetID
        default: throw RPCStatus.invalid("unknown PID namespace mode \(security.namespaceOptions.pid)")
        }
        var binds = config.mounts.map { m in m.hostPath + ":" + m.containerPath + (m.readonly ? ":ro" : "") }
        let mounted = Set(config.mounts.map(\.containerPath))
        for file in ["resolv.conf", "hostname", "hosts"] where !mounted.contains("/etc/" + file) {
            binds.append(files + "/" + file + ":/etc/" + file)
        }
        if podOptions.ipc != .node && !mounted.contains("/dev/shm") { binds.append(pins + "/shm:/dev/shm") }
        host.Binds = binds
        host.Privileged = security.privileged
        host.ReadonlyRootfs = security.readonlyRootfs
        host.CapAdd = security.capabilities.addCapabilities
        host.CapDrop = security.capabilities.dropCapabilities
        if !security.supplementalGroups.isEmpty { host.GroupAdd = security.supplementalGroups.map(String.init) }
        var options: [String] = []
        if security.noNewPrivs { options.append("no-new-privileges") }
        if let seccomp = try seccompOption(security.seccomp) { options.append(seccomp) }
        if !options.isEmpty { host.SecurityOpt = options }
        if !security.privileged {
            if !security.maskedPaths.isEmpty { host.MaskedPaths = security.maskedPaths }
            if !security.readonlyPaths.isEmpty { host.ReadonlyPaths = security.readonlyPaths }
        }
        apply(config.linux.resources, to: &host, ownOOMScore: ownOOMScore)
        if !pod.linux.sysctls.isEmpty { host.Sysctls = pod.linux.sysctls }
        let parent = pod.linux.cgroupParent
        if parent.hasSuffix(".slice") {
            throw RPCStatus.invalid("cgroup parent \(parent) is a systemd slice: Berth uses the cgroupfs driver (start the kubelet with --cgroup-driver=cgroupfs)")
        }
        if !parent.isEmpty { host.CgroupParent = parent }
        return (body, host)
    }

    /// CPU and memory limits at create and in UpdateContainerResources; zero means "not set".
    static func apply(_ resources: Runtime_V1_LinuxContainerResources, to host: inout HostConfig, ownOOMScore: Int) {
        if resources.cpuPeriod > 0 { host.CpuPeriod = resources.cpuPeriod }
        if resources.cpuQuota > 0 { host.CpuQuota = resources.cpuQuota }
        if resources.cpuShares > 0 { host.CpuShares = resources.cpuShares }
        if resources.memoryLimitInBytes > 0 { host.Memory = resources.memoryLimitInBytes }
        if !resources.cpusetCpus.isEmpty { host.CpusetCpus = resources.cpusetCpus }
        if !resources.cpusetMems.isEmpty { host.CpusetMems = resources.cpusetMems }
        if resources.oomScoreAdj != 0 { host.OomScoreAdj = clampedOOMScore(Int(resources.oomScoreAdj), own: ownOOMScore) }
    }

    /// The engine's list filters for CRI containers: those of one pod (or of every pod) that
    /// carry the kubelet's label selector.
    static func filters(pod: String, labels: [String: String]) -> [String: [String]] {
        ["label": [sandboxLabel + (pod.isEmpty ? "" : "=" + pod)] + labels.map { $0.key + "=" + $0.value }]
    }

    /// `run_as_user`/`run_as_username` with `run_as_group`, as Docker's `User` (`uid:gid`).
    static func user(_ security: Runtime_V1_LinuxContainerSecurityContext) -> String? {
        let user = security.hasRunAsUser ? String(security.runAsUser.value) : security.runAsUsername
        guard !user.isEmpty else { return nil }
        return security.hasRunAsGroup ? user + ":" + String(security.runAsGroup.value) : user
    }

    /// RuntimeDefault (or nothing) is Berth's default profile; a localhost profile is read from
    /// its file, as the engine takes a profile's JSON.
    static func seccompOption(_ profile: Runtime_V1_SecurityProfile) throws -> String? {
        switch profile.profileType {
        case .runtimeDefault: return nil
        case .unconfined: return "seccomp=unconfined"
        case .localhost:
            let path = profile.localhostRef
            guard path.hasPrefix("/") else { throw RPCStatus.invalid("seccomp profile \"\(path)\" must be an absolute path") }
            do { return "seccomp=" + String(decoding: try FileIO.read(path), as: UTF8.self) } catch {
                throw RPCStatus.invalid("cannot load seccomp profile \"\(path)\": \(error)")
            }
        default: return nil
        }
    }

    /// Without CAP_SYS_RESOURCE no process may lower its score below its own (the kubelet asks
    /// -998 for critical pods): as containerd's `restrict_oom_score_adj`, the request is raised to
    /// berthd's own score.
    static func clampedOOMScore(_ wanted: Int, own: Int) -> Int { max(wanted, own) }

    static func json(_ map: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(map), as: UTF8.self)
    }

    static func map(_ text: String?) -> [String: String] {
        guard let text, let map = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else { return [:] }
        return map
    }

    /// berthd's own oom_score_adj, the floor of what it may give a container.
    static func ownOOMScore() -> Int {
        guard let text = try? FileIO.read("/proc/self/oom_score_adj") else { return 0 }
        return Int(String(decoding: text.filter { $0 != 0x0a }, as: UTF8.self)) ?? 0
    }
}
