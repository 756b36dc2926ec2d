import BerthCgroups
import BerthOCI
import BerthSystem
import CBerthLinux
import Glibc

extension Runtime {
    public struct ExecOptions {
        public var consoleSocket: String?
        public var detach: Bool
        public var pidFile: String?
        public init(consoleSocket: String? = nil, detach: Bool = false, pidFile: String? = nil) {
            self.consoleSocket = consoleSocket; self.detach = detach; self.pidFile = pidFile
        }
    }

    /// The container's own process settings, for `exec` to start from (runc copies caps,
    /// rlimits, no_new_privs, env, cwd and user from config.json unless told otherwise).
    public func baseProcess(id: String) throws -> Spec.Process {
        guard let process = try record(id: id).config.process else { throw RuntimeError.invalidConfig("container \(id) has no process") }
        return process
    }

    /// Runs `process` inside container `id`; returns its exit status (0 when detached).
    public func exec(id: String, process: Spec.Process, options: ExecOptions) throws -> Int32 {
        if !options.detach { ForegroundWaiter.blockSignals() }
        let spawned = try spawnExec(id: id, process: process, consoleSocket: options.consoleSocket, keepMaster: !options.detach)
        defer { if let master = spawned.master { close(master) } }
        if let pidFile = options.pidFile { try AtomicFile.write(pidFile, Array(String(spawned.pid).utf8)) }
        if options.detach { return 0 }
        return try ForegroundWaiter.wait(for: spawned.pid, master: spawned.master)
    }

    /// An exec'd process, our child: its pid and, for a terminal, the pty master (the caller closes it).
    public struct Spawned {
        public let pid: Int32
        public let master: Int32?
    }

    /// Starts `process` inside container `id` and returns once it has exec'd. A terminal goes to
    /// `consoleSocket` if given, else its master is returned when `keepMaster`.
    public func spawnExec(id: String, process: Spec.Process, consoleSocket: String?, keepMaster: Bool) throws -> Spawned {
        try spawnExec(try record(id: id), process: process, consoleSocket: consoleSocket, keepMaster: keepMaster)
    }

    public func spawnExec(_ record: RuntimeRecord, process: Spec.Process, consoleSocket: String?, keepMaster: Bool) throws -> Spawned {
        switch try status(record) {
        case .running: break
        case .paused: throw RuntimeError.badState("cannot exec in a paused container")
        default: throw RuntimeError.badState("cannot exec in a stopped container")
        }
        try ProcessSetup.validate(process)
        let spec = record.config
        let seccomp = try spec.linux?.seccomp.map { try SeccompCompiler.compile($0, cache: root + "/seccomp") }
        let cgroup = try Cgroups.manager(path: record.cgroupPath)

        var console: (parent: Int32?, child: Int32)?
        if process.terminal == true {
            if let path = consoleSocket {
                console = (nil, try UnixSocket.connect(path))
            } else if keepMaster {
                var fds: [Int32] = [0, 0]
                try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
                console = (fds[0], fds[1])
            } else {
                throw RuntimeError.invalidConfig("cannot allocate tty if runc will detach without setting console socket")
            }
        }
        defer { if let c = console { close(c.child); if let p = c.parent { close(p) } } }

        let joins = try Self.namespacesToJoin(pid: record.pid)
        defer { joins.forEach { close($0.1) } }
        let entry = try cgroup.openEntry()
        defer { entry.close() }
        let plan = LaunchPlan(kind: .exec, spec: spec, process: process, bundle: record.bundle, rootfs: record.rootfs,
                              created: [], joins: joins.filter { $0.0 != .pid }, unshareCgroup: false, seccomp: seccomp,
                              console: console?.child, execFifo: nil, cgroupMounts: [], unifiedCgroup: Cgroups.isUnified(),
                              cgroupEntry: entry)
        let (parentSync, childSync) = try SyncChannel.pair()
        defer { parentSync.close() }
        let pid = try Self.clone(flags: 0, entering: joins.filter { $0.0 == .pid }, cgroup: cgroup, entry: entry) {
            parentSync.close()
            plan.runChild(childSync)
        }
        childSync.close()
        do {
            try ProcessSetup.setOOMScoreAdj(process, pid: pid)
            parentSync.send("go")
            // The child's end is close-on-exec: EOF means execve succeeded.
            if let message = parentSync.receive() {
                try SyncChannel.raise(message)
            }
        } catch {
            Glibc.kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            throw error
        }
        return Spawned(pid: pid, master: try console?.parent.map(Terminal.receiveFD))
    }

    /// The container init's namespaces that differ from ours, in join order (joining one's own
    /// user namespace is an error, and joining the same others is wasted work).
    static func namespacesToJoin(pid: Int32) throws -> [(Namespace, Int32)] {
        var fds: [(Namespace, Int32)] = []
        for ns in Namespace.joinOrder where ns != .time {
            let theirs = "/proc/\(pid)/ns/\(ns.procName)"
            var a = stat(), b = stat()
            guard stat(theirs, &a) == 0 else { continue }
            if stat("/proc/self/ns/\(ns.procName)", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev { continue }
            do {
                fds.append((ns, try sys("open", theirs) { open(theirs, O_RDONLY | O_CLOEXEC) }))
            } catch {
                fds.forEach { close($0.1) }
                throw error
            }
        }
        // The user namespace first gives the later joins its capabilities, but only over what it
        // owns: what the engine made outside it (a network namespace) is joined before, as host root.
        guard let user = fds.first(where: { $0.0 == .user })?.1 else { return fds }
        let outside = fds.filter { $0.0 != .user && berth_ns_owned_by($0.1, user) == 0 }
        return outside + fds.filter { ns in !outside.contains { $0.1 == ns.1 } }
    }
}
