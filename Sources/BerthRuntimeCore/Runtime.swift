import BerthCgroups
import BerthOCI
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc

/// The OCI runtime operations (runtime.md "Operations"), synchronous and single-threaded from
/// entry to the last clone. State lives under `root`, one directory per container.
public struct Runtime {
    public let root: String

    public init(root: String) { self.root = root }

    public struct CreateOptions {
        public var bundle: String
        public var pidFile: String?
        public var consoleSocket: String?
        public init(bundle: String, pidFile: String? = nil, consoleSocket: String? = nil) {
            self.bundle = bundle; self.pidFile = pidFile; self.consoleSocket = consoleSocket
        }
    }

    /// A created container whose init is our child (for `run` and the shim, which wait on it).
    public struct Launched {
        public let record: RuntimeRecord
        /// The pty master when the process has a terminal and no console socket was given.
        public let master: Int32?
    }

    public func create(id: String, options: CreateOptions) throws {
        _ = try launch(id: id, options: options, foregroundTerminal: false)
    }

    /// `run`: create, start, and (unless detached) wait, forward signals, then delete.
    public func run(id: String, options: CreateOptions, detach: Bool) throws -> Int32 {
        if !detach { ForegroundWaiter.blockSignals() }
        let launched = try launch(id: id, options: options, foregroundTerminal: !detach && options.consoleSocket == nil)
        // The record just written is reused: decoding it back twice would cost more than the rest of `run`.
        let dir = try StateDirectory(root: root, id: id)
        do {
            try start(dir, launched.record)
        } catch {
            try? delete(dir, launched.record, force: true)
            throw error
        }
        if detach { return 0 }
        let code = try ForegroundWaiter.wait(for: launched.record.pid, master: launched.master)
        try? delete(dir, launched.record, force: true)
        return code
    }

    /// `create`, keeping the init as the caller's child; with `foregroundTerminal` a terminal's
    /// master comes back to the caller instead of going to a console socket.
    public func launch(id: String, options: CreateOptions, foregroundTerminal: Bool) throws -> Launched {
        let dir = try StateDirectory(root: root, id: id)
        let bundle = try Self.absolute(options.bundle)
        let (spec, specBytes) = try Self.loadSpec(bundle: bundle)
        guard let process = spec.process else { throw RuntimeError.invalidConfig("process property must not be empty") }
        try ProcessSetup.validate(process)
        let rootfs = try Self.rootfs(spec, bundle: bundle)
        let namespaces = try NamespaceConfig(spec)

        var cleanup = Cleanup()
        defer { cleanup.run() }
        try dir.claim()
        cleanup.push { try? dir.remove() }

        let cgroupPath = spec.linux?.cgroupsPath.flatMap { $0.isEmpty ? nil : $0 } ?? "/berth/\(id)"
        let cgroup = try Cgroups.manager(path: cgroupPath)
        try cgroup.create()
        cleanup.push { try? cgroup.destroy() }
        if var resources = spec.linux?.resources {
            if resources.devices != nil {
                resources.devices = (resources.devices ?? []) + DeviceRules.defaultAllows(extra: spec.linux?.devices ?? [])
            }
            try cgroup.apply(resources)
        }
        let seccomp = try spec.linux?.seccomp.map { try SeccompCompiler.compile($0, cache: root + "/seccomp") }

        try sys("mkfifo", dir.fifoPath) { berth_mkfifo(dir.fifoPath, 0o622) }
        // Owned by the init's own identity (root, or its host id in a user namespace), as runc does.
        try sys("chown", dir.fifoPath) { chown(dir.fifoPath, namespaces.hostID(ofRoot: \.uidMappings), namespaces.hostID(ofRoot: \.gidMappings)) }
        let fifoFD = try sys("open", dir.fifoPath) { open(dir.fifoPath, O_PATH | O_CLOEXEC) }
        defer { close(fifoFD) }

        let terminal = process.terminal == true
        var console: (parent: Int32?, child: Int32)?
        if terminal {
            if let socketPath = options.consoleSocket {
                console = (nil, try UnixSocket.connect(socketPath))
            } else if foregroundTerminal {
                var fds: [Int32] = [0, 0]
                try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
                console = (fds[0], fds[1])
            } else {
                throw RuntimeError.invalidConfig("cannot allocate tty if runc will detach without setting console socket")
            }
        }
        defer {
            if let c = console { close(c.child); if let p = c.parent { close(p) } }
        }

        let joins = try namespaces.openJoins()
        defer { joins.forEach { close($0.1) } }
        let entry = try cgroup.openEntry()
        defer { entry.close() }
        // A new user namespace may not join what its parent owns (the engine's network namespace):
        // the clone inherits those instead, entered by this process while still root on the host.
        let inherited: Set<Namespace> = namespaces.created.contains(.user) ? Set(joins.map(\.0)).subtracting([.mount]) : [.pid]
        let plan = LaunchPlan(kind: .initProcess, spec: spec, process: process, bundle: bundle, rootfs: rootfs,
                              created: namespaces.created, joins: joins.filter { !inherited.contains($0.0) },
                              unshareCgroup: namespaces.unshareCgroup, seccomp: seccomp, console: console?.child,
                              execFifo: fifoFD, cgroupMounts: cgroup.containerMounts,
                              unifiedCgroup: Cgroups.isUnified(), cgroupEntry: entry)
        let (parentSync, childSync) = try SyncChannel.pair()
        defer { parentSync.close() }

        let pid = try Self.clone(flags: namespaces.cloneFlags, entering: joins.filter { inherited.contains($0.0) },
                                 cgroup: cgroup, entry: entry) {
            parentSync.close()
            plan.runChild(childSync)
        }
        childSync.close()
        cleanup.push {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }

        if namespaces.created.contains(.user) { try namespaces.writeMappings(pid: pid) }
        try ProcessSetup.setOOMScoreAdj(process, pid: pid)
        // Hooks may read the init's cgroup from /proc (a device plugin's does).
        try parentSync.expect("joined")
        let record = RuntimeRecord(id: id, pid: pid, startTime: ProcessStatus.startTime(pid), bundle: bundle, rootfs: rootfs,
                                     created: Timestamp.now(), cgroupPath: cgroupPath, config: spec)
        let state = record.state(status: .creating)
        try Hooks.run(spec.hooks?.prestart, phase: "prestart", state: state)
        try Hooks.run(spec.hooks?.createRuntime, phase: "createRuntime", state: state)
        parentSync.send("go\n" + record.state(status: .created).prettyJSON)
        // Saved while the child sets up its rootfs; until `ready`, observers see `created` and a
        // `start` simply waits on the fifo, so nothing depends on the order.
        try dir.save(record, config: specBytes)
        try parentSync.expect("ready")

        var master: Int32?
        if let parent = console?.parent { master = try Terminal.receiveFD(parent) }
        if let pidFile = options.pidFile { try AtomicFile.write(pidFile, Array(String(pid).utf8)) }
        cleanup.cancel()
        return Launched(record: record, master: master)
    }

    /// Clones the child (`body` runs in it and never returns) inside `entering`: the parent
    /// enters them just around the clone and steps back out (joining a pid namespace affects
    /// only children; the others are entered here when a new user namespace could not). On v2 the
    /// child is born in `cgroup`; a kernel without CLONE_INTO_CGROUP (before 5.7) moves it there.
    static func clone(flags: Int32, entering: [(Namespace, Int32)], cgroup: CgroupManager, entry: CgroupEntry,
                      body: () -> Never) throws -> Int32 {
        var own: [(Namespace, Int32)] = []
        defer {
            for (ns, fd) in own.reversed() {
                _ = berth_setns(fd, ns.cloneFlag)
                close(fd)
            }
        }
        for (ns, fd) in entering {
            let path = "/proc/self/ns/\(ns.procName)"
            own.append((ns, try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }))
            try sys("setns", "\(ns.procName) namespace") { berth_setns(fd, ns.cloneFlag) }
        }
        let cloneFlags = UInt(UInt32(bitPattern: flags))
        var pid: pid_t, moveAfter = false
        switch entry {
        case .birth(let directory):
            pid = berth_clone_into(cloneFlags, directory)
            if pid < 0 && [ENOSYS, E2BIG, EINVAL].contains(errno) {
                moveAfter = true
                pid = berth_clone(cloneFlags)
            }
        case .ownThread:
            pid = berth_clone(cloneFlags)
        }
        if pid == 0 {
            // Non-dumpable until it execs the container's program: processes already in the
            // container cannot open this child's /proc/<pid>/exe (the host's runtime binary, the
            // CVE-2019-5736 route) or its fds; execve makes the new program dumpable again.
            _ = berth_prctl(4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0)
            body()
        }
        let cloneErrno = errno
        if pid < 0 { throw RuntimeError.system(SystemError("clone", nil, errno: cloneErrno)) }
        if moveAfter {
            do { try cgroup.add(pid: pid) } catch {
                Glibc.kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                throw error
            }
        }
        return pid
    }

    /// The container's saved record. The shim holds the lean one its create sent back
    /// (`RuntimeRecord.leanEncoding`: all that start, kill, pause, pids and delete read) for the
    /// container's life and passes it to the record forms below, so those decode nothing; an
    /// exec, which needs the whole spec, and the CLI, which has nothing in memory, read it here.
    public func record(id: String) throws -> RuntimeRecord {
        try StateDirectory(root: root, id: id).load()
    }

    public func start(id: String) throws { try start(try record(id: id)) }

    public func start(_ record: RuntimeRecord) throws {
        try start(try StateDirectory(root: root, id: record.id), record)
    }

    func start(_ dir: StateDirectory, _ record: RuntimeRecord) throws {
        switch record.status(fifoPath: dir.fifoPath) {
        case .created: break
        case .stopped: throw RuntimeError.badState("cannot start a container that has stopped")
        default: throw RuntimeError.badState("cannot start an already running container")
        }
        let fd = try sys("open", dir.fifoPath) { open(dir.fifoPath, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        defer { close(fd) }
        // The init's byte says it is going; the fifo's EOF (its end is close-on-exec) says the
        // container's program is loaded: a client that reads the logs as soon as `start` returns
        // then finds the output of a program that writes at once.
        var going = false
        while true {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&entry, 1, 100)
            if rc > 0 && entry.revents & Int16(POLLIN | POLLHUP) != 0 {
                var byte: UInt8 = 0
                let n = read(fd, &byte, 1)
                if n == 1 { going = true; continue }
                if n == 0 {
                    if going { break }
                    throw RuntimeError.badState("the container's init closed the exec fifo without starting")
                }
            }
            if !ProcessStatus.isAlive(record.pid, startTime: record.startTime) {
                if going { break }  // it ran and is over already: the exit is the shim's to report
                throw RuntimeError.badState("cannot start a container that has stopped")
            }
        }
        unlink(dir.fifoPath)
        do {
            try Hooks.run(record.config.hooks?.poststart, phase: "poststart", state: record.state(status: .running))
        } catch {
            RuntimeLog.warning("\(error)")
        }
    }

    public func state(id: String) throws -> RuntimeState {
        let dir = try StateDirectory(root: root, id: id)
        let record = try dir.load()
        return record.state(status: record.status(fifoPath: dir.fifoPath))
    }

    public func list() -> [RuntimeState] {
        StateDirectory.list(root: root).compactMap { try? state(id: $0) }
    }

    public func kill(id: String, signal: Int32, all: Bool) throws {
        try kill(try record(id: id), signal: signal, all: all)
    }

    public func kill(_ record: RuntimeRecord, signal: Int32, all: Bool) throws {
        let status = try status(record)
        guard status != .stopped else { throw RuntimeError.badState("container not running") }
        if all {
            let cgroup = try Cgroups.manager(path: record.cgroupPath)
            for pid in (try? cgroup.processes()) ?? [] { Glibc.kill(pid, signal) }
            if status == .paused && signal == SIGKILL { try? cgroup.thaw() }
            return
        }
        let pidfd = try sys("pidfd_open", String(record.pid)) { berth_pidfd_open(record.pid) }
        defer { close(pidfd) }
        try sys("kill", "container \(record.id)") { berth_pidfd_send_signal(pidfd, signal) }
    }

    public func delete(id: String, force: Bool) throws {
        let dir = try StateDirectory(root: root, id: id)
        guard let record = try? dir.load() else {
            // A crash between claiming the id and writing state leaves a bare directory.
            if FileIO.isDirectory(dir.path) { try dir.remove(); return }
            throw RuntimeError.notFound(id)
        }
        try delete(dir, record, force: force)
    }

    public func delete(_ record: RuntimeRecord, force: Bool) throws {
        try delete(try StateDirectory(root: root, id: record.id), record, force: force)
    }

    func delete(_ dir: StateDirectory, _ record: RuntimeRecord, force: Bool) throws {
        let id = record.id
        let status = record.status(fifoPath: dir.fifoPath)
        if (status == .running || status == .paused) && !force {
            throw RuntimeError.badState("cannot delete container \(id) that is not stopped: \(status.rawValue)")
        }
        let cgroup = try Cgroups.manager(path: record.cgroupPath)
        if status != .stopped {
            try killAll(record, cgroup: cgroup)
        }
        do {
            try Hooks.run(record.config.hooks?.poststop, phase: "poststop", state: record.state(status: .stopped))
        } catch {
            RuntimeLog.warning("\(error)")
        }
        try cgroup.destroy()
        try dir.remove()
    }

    /// SIGKILL to every process in the container, thawing a frozen cgroup so the kill lands,
    /// then waits (bounded) for the init to die.
    func killAll(_ record: RuntimeRecord, cgroup: CgroupManager) throws {
        Glibc.kill(record.pid, SIGKILL)
        for pid in (try? cgroup.processes()) ?? [] { Glibc.kill(pid, SIGKILL) }
        if cgroup.isFrozen { try? cgroup.thaw() }
        for _ in 0..<1000 {
            var status: Int32 = 0
            _ = waitpid(record.pid, &status, WNOHANG)
            let remaining = (try? cgroup.processes()) ?? []
            if !ProcessStatus.isAlive(record.pid, startTime: record.startTime) && remaining.isEmpty { return }
            remaining.forEach { Glibc.kill($0, SIGKILL) }
            usleep(10_000)
        }
        throw RuntimeError.other("container \(record.id): processes did not exit after SIGKILL")
    }

    /// Whether container `id` has state here (perhaps a bare directory a crash left).
    public func exists(id: String) -> Bool {
        guard let dir = try? StateDirectory(root: root, id: id) else { return false }
        return FileIO.isDirectory(dir.path)
    }

    public func pause(id: String) throws { try pause(try record(id: id)) }

    public func pause(_ record: RuntimeRecord) throws {
        guard try status(record) == .running else { throw RuntimeError.badState("container not running") }
        try Cgroups.manager(path: record.cgroupPath).freeze()
    }

    public func resume(id: String) throws { try resume(try record(id: id)) }

    public func resume(_ record: RuntimeRecord) throws {
        guard try status(record) == .paused else { throw RuntimeError.badState("container not paused") }
        try Cgroups.manager(path: record.cgroupPath).thaw()
    }

    public func processes(id: String) throws -> [Int32] { try processes(try record(id: id)) }

    public func processes(_ record: RuntimeRecord) throws -> [Int32] {
        try Cgroups.manager(path: record.cgroupPath).processes()
    }

    func status(_ record: RuntimeRecord) throws -> RuntimeState.Status {
        record.status(fifoPath: try StateDirectory(root: root, id: record.id).fifoPath)
    }

    static func absolute(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else { throw RuntimeError.system(SystemError("realpath", path)) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// What a create decodes and compiles (the spec, its seccomp program) and the lean record a
    /// shim's create sends and the shim decodes, done once by a process that forks shims, so
    /// that they find it ready (`ShimTemplate`).
    public static func warmUp(bundle: String, root: String) throws {
        let (spec, _) = try loadSpec(bundle: bundle)
        _ = try spec.linux?.seccomp.map { try SeccompCompiler.compile($0, cache: root + "/seccomp") }
        let record = RuntimeRecord(id: "warm-up", pid: 0, startTime: nil, bundle: bundle, rootfs: "", created: "",
                                   cgroupPath: "", config: spec)
        _ = try JSONDecoder().decode(RuntimeRecord.self, from: Data(try record.leanEncoding()))
    }

    /// The bundle's spec, and its bytes as read (the state file embeds them as they are).
    static func loadSpec(bundle: String) throws -> (Spec, [UInt8]) {
        let path = bundle + "/config.json"
        guard let bytes = try? FileIO.read(path) else {
            throw RuntimeError.invalidConfig("JSON specification file config.json not found in \(bundle)")
        }
        do {
            return (try JSONDecoder().decode(Spec.self, from: Data(bytes)), bytes)
        } catch let DecodingError.keyNotFound(key, context) {
            throw RuntimeError.invalidConfig("config.json: missing field \"\(Self.codingPath(context.codingPath + [key]))\"")
        } catch let DecodingError.typeMismatch(_, context) {
            throw RuntimeError.invalidConfig("config.json: wrong type at \"\(Self.codingPath(context.codingPath))\"")
        } catch {
            throw RuntimeError.invalidConfig("config.json: invalid JSON: \(error)")
        }
    }

    static func codingPath(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func rootfs(_ spec: Spec, bundle: String) throws -> String {
        guard let path = spec.root?.path, !path.isEmpty else { throw RuntimeError.invalidConfig("root.path must be set") }
        let full = path.hasPrefix("/") ? path : bundle + "/" + path
        guard FileIO.isDirectory(full) else { throw RuntimeError.invalidConfig("rootfs (\(full)) does not exist") }
        return try absolute(full)
    }
}

/// LIFO undo actions for a multi-step operation: what a failure half-way must take back.
struct Cleanup {
    private var actions: [() -> Void] = []
    mutating func push(_ action: @escaping () -> Void) { actions.append(action) }
    mutating func cancel() { actions.removeAll() }
    func run() { actions.reversed().forEach { $0() } }
}
