import BerthCgroups
import BerthOCI
import BerthSystem
import CBerthLinux
import Glibc

/// Everything a freshly cloned child needs, prepared by the parent before the clone so the child
/// only makes syscalls on ready data (the fork rule in docs/ARCHITECTURE.md).
struct LaunchPlan {
    enum Kind { case initProcess, exec }

    let kind: Kind
    let spec: Spec
    let process: Spec.Process
    let bundle: String
    let rootfs: String
    /// Namespaces created by the clone itself (cgroup is unshared later, see `unshareCgroup`).
    let created: Set<Namespace>
    /// Namespaces to join, in `Namespace.joinOrder` (the pid namespace is joined by the parent).
    let joins: [(Namespace, Int32)]
    let unshareCgroup: Bool
    let seccomp: [UInt8]?
    /// Unix socket to hand the pty master to, when the process has a terminal.
    let console: Int32?
    /// O_PATH descriptor of the state directory's `exec.fifo` (init only). Reopened through
    /// /proc/self/fd so a user-namespaced init needs no search right on the state directory.
    let execFifo: Int32?
    let cgroupMounts: [(name: String, hostPath: String)]
    let unifiedCgroup: Bool
    /// Entered first thing, before the child can be seen doing anything (see `CgroupEntry`).
    let cgroupEntry: CgroupEntry

    /// The child's whole life: never returns. Errors go to the parent over `sync`; after the
    /// parent has gone (past `ready`), to stderr.
    func runChild(_ sync: SyncChannel) -> Never {
        var reported = false
        do {
            try cgroupEntry.enter()
            if kind == .initProcess { sync.send("joined") }
            guard let go = sync.receive(), go.hasPrefix("go") else { _exit(1) }
            let stateJSON = Array(go.utf8.dropFirst(3))
            for (ns, fd) in joins {
                try sys("setns", "/proc/self/ns/\(ns.procName)") { berth_setns(fd, ns.cloneFlag) }
                close(fd)
            }
            if created.contains(.user) {
                try sys("setresgid", "0") { berth_setresgid(0, 0, 0) }
                try sys("setresuid", "0") { berth_setresuid(0, 0, 0) }
            }
            if unshareCgroup { try sys("unshare", "cgroup namespace") { berth_unshare(Namespace.cgroup.cloneFlag) } }
            let setup = ProcessSetup(process: process, seccomp: seccomp, setgroupsDenied: Self.setgroupsDenied())
            let prepared: ProcessSetup.Prepared
            switch kind {
            case .initProcess:
                prepared = try prepareInit(stateJSON: stateJSON)
            case .exec:
                if process.terminal == true { try attachTerminal(ptmx: "/dev/ptmx") }
                prepared = try setup.prepare()
            }
            if kind == .initProcess {
                sync.send("ready")
                reported = true
                try waitForStart()
                try Hooks.run(spec.hooks?.startContainer, phase: "startContainer", input: stateJSON)
            }
            try setup.finalize(prepared)
        } catch {
            let e = RuntimeError.wrap(error)
            if reported {
                FileIO.stderr("berth-runtime: \(e)\n")
            } else {
                sync.sendError(e)
            }
            _exit(e.exitCode)
        }
    }

    func prepareInit(stateJSON: [UInt8]) throws -> ProcessSetup.Prepared {
        let all = created.union(joins.map { $0.0 })
        if let name = spec.hostname, !name.isEmpty {
            guard all.contains(.uts) else { throw RuntimeError.invalidConfig("unable to set hostname without a new UTS namespace") }
            try sys("sethostname", name) { berth_sethostname(name, name.utf8.count) }
        }
        if let name = spec.domainname, !name.isEmpty {
            guard all.contains(.uts) else { throw RuntimeError.invalidConfig("unable to set domainname without a new UTS namespace") }
            try sys("setdomainname", name) { berth_setdomainname(name, name.utf8.count) }
        }
        let rootfsSetup = RootfsSetup(spec: spec, bundle: bundle, rootfs: rootfs, inUserNamespace: all.contains(.user),
                                      newNetworkNamespace: created.contains(.network), cgroupMounts: cgroupMounts,
                                      unifiedCgroup: unifiedCgroup, newCgroupNamespace: unshareCgroup)
        let ownMountNamespace = all.contains(.mount)
        if ownMountNamespace { try rootfsSetup.prepare() }
        try Hooks.run(spec.hooks?.createContainer, phase: "createContainer", input: stateJSON)
        if ownMountNamespace { try rootfsSetup.pivot() } else { try sys("chroot", rootfs) { chroot(rootfs) } }
        try RootfsSetup.applySysctls(spec.linux?.sysctl ?? [:], namespaces: all)
        _ = setsid()
        if process.terminal == true { try attachTerminal(ptmx: "/dev/ptmx", console: "/dev/console") }
        if ownMountNamespace { try rootfsSetup.finish() }
        return try ProcessSetup(process: process, seccomp: seccomp, setgroupsDenied: false).prepare()
    }

    /// Opens a pty inside the container's devpts, hands the master to the console socket and
    /// makes the slave this process's controlling terminal and stdio.
    func attachTerminal(ptmx: String, console: String? = nil) throws {
        guard let socket = self.console else {
            throw RuntimeError.invalidConfig("cannot allocate tty if runc will detach without setting console socket")
        }
        let (master, slavePath) = try Terminal.openPTY(ptmx: ptmx)
        if let size = process.consoleSize { _ = berth_set_winsize(master, size.height, size.width) }
        try Terminal.sendFD(socket, master, name: slavePath)
        close(master)
        close(socket)
        if let console {
            let fd = open(console, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 { close(fd) }
            try Mounter.mount(slavePath, console, type: nil, flags: MountFlag.bind, label: console)
        }
        if kind == .exec { _ = setsid() }
        let slave = try sys("open", slavePath) { open(slavePath, O_RDWR) }
        try sys("ioctl TIOCSCTTY", slavePath) { berth_set_controlling_tty(slave) }
        for target in Int32(0)...2 { dup2(slave, target) }
        if slave > 2 { close(slave) }
    }

    /// Blocks until `start` opens the exec fifo for reading, then tells it we are going. The
    /// writing end stays open, close-on-exec: `start` sees the fifo's EOF once execve has loaded
    /// the container's program (or the process died), and returns only then.
    func waitForStart() throws {
        guard let execFifo else { return }
        let path = RootedPath.procPath(execFifo)
        let fd = try sys("open", "exec.fifo") { open(path, O_WRONLY | O_CLOEXEC) }
        try FileIO.writeAll(fd, [UInt8(ascii: "0")], path: "exec.fifo")
        close(execFifo)
    }

    static func setgroupsDenied() -> Bool {
        (try? FileIO.readString("/proc/self/setgroups"))?.trimmed == "deny"
    }
}
