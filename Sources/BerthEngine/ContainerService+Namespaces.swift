import BerthDiagnostics
import BerthAPI
import BerthOCI
import BerthSystem
import Glibc

/// `--pid`, `--ipc` and `--uts`: a container's pid, IPC and UTS namespaces new, the host's, or
/// another running container's, with moby's rules and words (`daemon/oci_linux.go`
/// `WithNamespaces`, `setupIpcDirs`, `getIpcContainer`, `getPidContainer`); or, as podman's
/// `ns:<path>`, a namespace pinned at a path (how a CRI pod's containers join their pod).
struct NamespaceJoins: Equatable {
    enum Choice: Equatable {
        case new, host
        /// Another container's, by `/proc/<pid>/ns/<type>`.
        case join(String)
    }

    /// Where the container's /dev/shm comes from.
    enum Shm: Equatable {
        case ownTmpfs
        /// `--ipc none`: no /dev/shm at all.
        case none
        /// The host's (`--ipc host`) or the donor's (`--ipc container:`), bound.
        case bind(String)
    }

    /// The path of an `ns:<path>` mode (network, IPC, PID or UTS), which must be absolute.
    static func pinned(_ mode: String?) throws -> String? {
        guard let mode, mode.hasPrefix("ns:") else { return nil }
        let path = String(mode.dropFirst(3))
        guard path.hasPrefix("/") else { throw EngineError.invalid("invalid namespace path \(path): must be absolute") }
        return path
    }

    var pid = Choice.new
    var ipc = Choice.new
    var uts = Choice.new
    var shm = Shm.ownTmpfs
    /// Under `--userns-remap`, a joined namespace belongs to the donor's user namespace, which the
    /// container must join too.
    var userNamespace: String?

    /// The spec's namespaces of these three kinds (and the donor's user namespace).
    var specNamespaces: [Spec.LinuxNamespace] {
        var out: [Spec.LinuxNamespace] = []
        for (type, choice) in [("pid", pid), ("ipc", ipc), ("uts", uts)] {
            switch choice {
            case .new: out.append(.init(type: type))
            case .host: break
            case .join(let path): out.append(.init(type: type, path: path))
            }
        }
        return out
    }
}

extension ContainerService {
    /// At create, as moby's `adaptSharedNamespaceContainer`: `container:<name>` is stored as
    /// `container:<id>`, so a rename of the donor keeps the sharing. A missing donor is a 400
    /// there (a 404 would make the docker CLI try to pull the image).
    func adaptSharedNamespaces(_ host: inout HostConfig) throws {
        for mode in [\HostConfig.PidMode, \.IpcMode] {
            guard let value = host[keyPath: mode], value.hasPrefix("container:") else { continue }
            let name = String(value.dropFirst("container:".count))
            guard let donor = try? find(name) else { throw EngineError.invalid("No such container: \(name)") }
            host[keyPath: mode] = "container:" + donor.id
        }
    }

    /// Create-time refusals, in moby's words.
    static func validateNamespaceModes(_ config: ContainerConfig, _ host: HostConfig, remapped: Bool) throws {
        if host.UTSMode == "host" && !(config.Hostname ?? "").isEmpty {
            throw EngineError.invalid("conflicting options: hostname and the UTS mode")
        }
        if remapped && host.UsernsMode != "host" && host.PidMode == "host" {
            throw EngineError.invalid("cannot share the host PID namespace when user namespaces are enabled")
        }
    }

    /// At start: the namespaces to make, leave to the host or join; the donors must be running.
    func namespaceJoins(_ record: ContainerRecord) throws -> NamespaceJoins {
        var joins = NamespaceJoins()
        let host = record.hostConfig
        let remapped = idmap(for: record) != nil
        let ipcMode = host.IpcMode ?? ""
        switch ipcMode {
        case "", "private": break
        case "shareable": joins.shm = .bind(try mountShareableShm(record))
        case "none": joins.shm = .none
        case "host":
            guard FileIO.exists("/dev/shm") else { throw EngineError.invalid("/dev/shm is not mounted, but must be for --ipc=host") }
            joins.ipc = .host
            joins.shm = .bind("/dev/shm")
        case _ where ipcMode.hasPrefix("ns:"):
            joins.ipc = .join(try NamespaceJoins.pinned(ipcMode) ?? "")
        default:
            guard ipcMode.hasPrefix("container:") else { throw EngineError.invalid("Invalid IPC mode: \(ipcMode)") }
            let name = String(ipcMode.dropFirst("container:".count))
            let prefix = "can't join IPC of container " + name
            let donor: ContainerRecord
            do { donor = try find(name) } catch { throw EngineError.notFound("\(prefix): \(error)") }
            try requireRunning(donor, prefix + ": ")
            // Only a donor that offered its IPC (`shareable`: its /dev/shm mounted on the host side) may be joined.
            guard Self.isMounted(shmPath(donor.id)) else {
                throw EngineError.invalid("\(prefix): non-shareable IPC (hint: use IpcMode:shareable for the donor container)")
            }
            joins.ipc = .join("/proc/\(donor.state.Pid)/ns/ipc")
            joins.shm = .bind(shmPath(donor.id))
            if remapped { joins.userNamespace = "/proc/\(donor.state.Pid)/ns/user" }
        }
        let pidMode = host.PidMode ?? ""
        if pidMode == "host" {
            joins.pid = .host
        } else if let path = try NamespaceJoins.pinned(pidMode) {
            joins.pid = .join(path)
        } else if pidMode.hasPrefix("container:") {
            let name = String(pidMode.dropFirst("container:".count))
            let donor: ContainerRecord
            do { donor = try find(name) } catch { throw EngineError.notFound("cannot join PID of a non running container: \(name): \(error)") }
            try requireRunning(donor, "")
            joins.pid = .join("/proc/\(donor.state.Pid)/ns/pid")
            if remapped { joins.userNamespace = "/proc/\(donor.state.Pid)/ns/user" }
        }
        if host.UTSMode == "host" { joins.uts = .host }
        if let path = try NamespaceJoins.pinned(host.UTSMode) { joins.uts = .join(path) }
        return joins
    }

    /// A shareable container's /dev/shm: a tmpfs mounted on the host side (a bind from another
    /// container's mount namespace is refused by the kernel), bound into it and into those that
    /// join its IPC namespace, as moby's `setupIpcDirs`. Unmounted when the container stops.
    func shmPath(_ id: String) -> String { containerDir(id) + "/mounts/shm" }

    private func mountShareableShm(_ record: ContainerRecord) throws -> String {
        let path = shmPath(record.id)
        guard !Self.isMounted(path) else { return path }
        try FileIO.makeDirectories(path, mode: 0o700)
        let size = record.hostConfig.ShmSize.flatMap { $0 > 0 ? $0 : nil } ?? SpecBuilder.defaultShmSize
        try Mounter.mount("shm", path, type: "tmpfs", flags: MountFlag.noexec | MountFlag.nosuid | MountFlag.nodev, data: "mode=1777,size=\(size)")
        if let idmap = idmap(for: record) { try sys("chown", path) { chown(path, idmap.uid, idmap.gid) } }
        return path
    }

    func unmountShareableShm(_ id: String) {
        let path = shmPath(id)
        guard Self.isMounted(path) else { return }
        log.attempt("unmounting the shared /dev/shm of \(id)") { try Mounter.unmount(path, detach: true) }
    }

    private func requireRunning(_ donor: ContainerRecord, _ prefix: String) throws {
        guard donor.state.Running, donor.state.Pid > 0 else { throw EngineError.conflict("\(prefix)container \(donor.id) is not running") }
        if donor.state.Restarting { throw EngineError.conflict("\(prefix)Container \(donor.id) is restarting, wait until the container is running") }
    }
}
