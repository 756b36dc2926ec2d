import BerthAPI

/// Everything berthd keeps about a container, in `<data-root>/containers/<id>/config.v2.json`.
struct ContainerRecord: Codable, Sendable {
    var id: String
    var name: String
    var created: String
    var imageID: String
    /// The image as the user named it (`busybox`), shown by `ps`.
    var imageName: String
    var path: String
    var args: [String]
    var config: ContainerConfig
    var hostConfig: HostConfig
    var state: ContainerState
    var restartCount: Int = 0
    /// Set by `stop`/`kill` from the user, so `unless-stopped` and `always` know not to restart on boot.
    var stoppedByUser: Bool = false
    var execIDs: [String] = []
    /// Per network name: the endpoint asked for (aliases, `--ip`) and, while running, what it got.
    var endpoints: [String: EndpointSettings]? = nil
    /// Published ports while running, Docker's `NetworkSettings.Ports`.
    var ports: [String: [PortBinding]?]? = nil
    /// Binds, volumes and tmpfs mounts, resolved at create.
    var mounts: [MountRecord]? = nil
    /// The namespace a running container's network lives in (`SandboxKey`).
    var sandboxKey: String? = nil
    /// Where the shim also writes the output in the kubelet's format (a CRI container's log).
    var criLogPath: String? = nil
    /// The snapshot's directories, as inspect's `GraphDriver.Data` shows them: found once at
    /// create (reading the layer chain at every inspect would make it as slow as the chain is
    /// long); nil for a container made before berthd kept them.
    var driverData: [String: String]? = nil

    var shortID: String { String(id.prefix(12)) }

    /// The container's cgroup: `<--cgroup-parent>/<id>` (cgroupfs paths, as dockerd's cgroupfs
    /// driver; a CRI pod's containers go under the kubelet's pod cgroup), `/berth/<id>` without one.
    var cgroupPath: String {
        let parent = hostConfig.CgroupParent ?? ""
        guard !parent.isEmpty else { return "/berth/" + id }
        return "/" + parent.split(separator: "/").joined(separator: "/") + "/" + id
    }

    static func initialState() -> ContainerState {
        var state = ContainerState()
        state.Status = "created"
        state.StartedAt = zeroTime
        state.FinishedAt = zeroTime
        return state
    }

    static let zeroTime = "0001-01-01T00:00:00Z"
}
