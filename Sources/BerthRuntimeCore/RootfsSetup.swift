import BerthOCI
import BerthSystem
import CBerthLinux
import Glibc

/// Builds the container's filesystem view inside its new mount namespace and pivots into it.
/// Every mount target is resolved inside the rootfs by the kernel (`RootedPath`), so a
/// symlink planted in an image cannot redirect a mount onto the host.
struct RootfsSetup {
    let spec: Spec
    let bundle: String
    let rootfs: String
    let inUserNamespace: Bool
    let newNetworkNamespace: Bool
    let cgroupMounts: [(name: String, hostPath: String)]
    let unifiedCgroup: Bool
    let newCgroupNamespace: Bool

    /// Everything up to, not including, pivot_root.
    func prepare() throws {
        let propagation = spec.linux?.rootfsPropagation
        let initial = propagation.flatMap(MountOptions.propagation(named:)).flatMap { $0 & MountFlag.shared == 0 ? $0 : nil }
            ?? (MountFlag.slave | MountFlag.rec)
        try Mounter.mount(nil, "/", type: nil, flags: initial, label: "/ (propagation)")
        try Mounter.mount(rootfs, rootfs, type: nil, flags: MountFlag.bind | MountFlag.rec, label: rootfs)
        let root = try RootedPath(root: rootfs)
        var devMounted = false
        for mount in spec.mounts ?? [] {
            try self.mount(mount, in: root)
            if mount.destination == "/dev" || mount.destination == "/dev/" { devMounted = mount.type != "bind" && !(mount.options ?? []).contains("bind") && !(mount.options ?? []).contains("rbind") }
        }
        if devMounted { try makeDefaultDevices(in: root) }
        try makeDevices(spec.linux?.devices ?? [], in: root)
    }

    func mount(_ m: Spec.Mount, in root: RootedPath) throws {
        guard m.destination.hasPrefix("/") else {
            throw RuntimeError.invalidConfig("mount destination \(m.destination) is not absolute")
        }
        let options = MountOptions(m.options ?? [])
        let type = m.type ?? (options.isBind ? "bind" : "none")
        let label = m.destination
        if options.isBind || type == "bind" {
            return try bindMount(m, options: options, in: root)
        }
        if type == "cgroup" || type == "cgroup2" {
            return try mountCgroup(m, options: options, in: root)
        }
        let target = try root.makeDirectories(m.destination)
        defer { close(target) }
        var flags = options.flags
        if type == "sysfs" && inUserNamespace { flags |= MountFlag.nosuid | MountFlag.nodev | MountFlag.noexec }
        do {
            try Mounter.mount(m.source ?? type, RootedPath.procPath(target), type: type, flags: flags,
                              data: options.data.isEmpty ? nil : options.data.joined(separator: ","), label: label)
        } catch let e as SystemError where e.errno == EPERM && inUserNamespace && (type == "sysfs" || type == "mqueue") {
            // Without their own netns/ipcns a user namespace may not mount these: bind the host's, as runc does.
            try Mounter.mount(type == "sysfs" ? "/sys" : "/dev/mqueue", RootedPath.procPath(target), type: nil,
                              flags: MountFlag.bind | MountFlag.rec, label: label)
        }
        try applyPropagation(options, path: m.destination, in: root)
    }

    func bindMount(_ m: Spec.Mount, options: MountOptions, in root: RootedPath) throws {
        guard let rawSource = m.source else { throw RuntimeError.invalidConfig("bind mount \(m.destination) has no source") }
        let source = rawSource.hasPrefix("/") ? rawSource : bundle + "/" + rawSource
        var st = stat()
        guard stat(source, &st) == 0 else { throw RuntimeError.system(SystemError("stat", source)) }
        let target = (st.st_mode & S_IFMT) == S_IFDIR ? try root.makeDirectories(m.destination) : try root.makeFile(m.destination)
        close(target)
        let fresh = try root.open(m.destination, flags: O_PATH)
        defer { close(fresh) }
        try Mounter.mount(source, RootedPath.procPath(fresh), type: nil, flags: MountFlag.bind | (options.flags & MountFlag.rec), label: m.destination)
        try remountIfNeeded(m.destination, flags: options.flags, source: source, in: root)
        try applyPropagation(options, path: m.destination, in: root)
    }

    /// A bind mount ignores most flags; apply them with a remount, keeping flags the kernel
    /// locks on mounts inherited from a less privileged namespace.
    func remountIfNeeded(_ destination: String, flags: UInt, source: String, in root: RootedPath) throws {
        let wanted = flags & ~(MountFlag.bind | MountFlag.rec | MountFlag.remount)
        guard wanted & MountFlag.lockable != 0 else { return }
        let fd = try root.open(destination, flags: O_PATH)
        defer { close(fd) }
        let locked = inUserNamespace ? Mounter.currentFlags(source) : 0
        try Mounter.mount(nil, RootedPath.procPath(fd), type: nil,
                          flags: MountFlag.bind | MountFlag.remount | wanted | locked, label: destination)
    }

    func applyPropagation(_ options: MountOptions, path: String, in root: RootedPath) throws {
        guard !options.propagation.isEmpty else { return }
        let fd = try root.open(path, flags: O_PATH)
        defer { close(fd) }
        for flag in options.propagation {
            try Mounter.mount(nil, RootedPath.procPath(fd), type: nil, flags: flag, label: path)
        }
    }

    /// `cgroup` mounts: the container sees only its own cgroup. v2 with a cgroup namespace mounts
    /// cgroup2 afresh; otherwise each hierarchy's container directory is bound in place.
    func mountCgroup(_ m: Spec.Mount, options: MountOptions, in root: RootedPath) throws {
        let readOnly = options.flags & MountFlag.rdonly
        let base = options.flags & ~(MountFlag.rdonly | MountFlag.bind | MountFlag.rec)
        let target = try root.makeDirectories(m.destination)
        defer { close(target) }
        if unifiedCgroup {
            if newCgroupNamespace {
                try Mounter.mount("cgroup2", RootedPath.procPath(target), type: "cgroup2", flags: options.flags, label: m.destination)
            } else {
                try Mounter.mount(cgroupMounts.first?.hostPath ?? "/sys/fs/cgroup", RootedPath.procPath(target), type: nil,
                                  flags: MountFlag.bind | MountFlag.rec, label: m.destination)
                try remountIfNeeded(m.destination, flags: options.flags, source: "/sys/fs/cgroup", in: root)
            }
            return
        }
        try Mounter.mount("tmpfs", RootedPath.procPath(target), type: "tmpfs", flags: base, data: "mode=755", label: m.destination)
        for (name, hostPath) in cgroupMounts where FileIO.isDirectory(hostPath) {
            let sub = m.destination + "/" + name
            let fd = try root.makeDirectories(sub)
            close(fd)
            let fresh = try root.open(sub, flags: O_PATH)
            try Mounter.mount(hostPath, RootedPath.procPath(fresh), type: nil, flags: MountFlag.bind, label: sub)
            close(fresh)
            try remountIfNeeded(sub, flags: base | readOnly, source: hostPath, in: root)
        }
        if readOnly != 0 {
            let fresh = try root.open(m.destination, flags: O_PATH)
            defer { close(fresh) }
            try Mounter.mount(nil, RootedPath.procPath(fresh), type: nil, flags: MountFlag.remount | base | readOnly, label: m.destination)
        }
    }

    static let defaultDevices: [Spec.Device] = [
        .init(type: "c", path: "/dev/null", major: 1, minor: 3),
        .init(type: "c", path: "/dev/zero", major: 1, minor: 5),
        .init(type: "c", path: "/dev/full", major: 1, minor: 7),
        .init(type: "c", path: "/dev/random", major: 1, minor: 8),
        .init(type: "c", path: "/dev/urandom", major: 1, minor: 9),
        .init(type: "c", path: "/dev/tty", major: 5, minor: 0),
    ]

    func makeDefaultDevices(in root: RootedPath) throws {
        try makeDevices(Self.defaultDevices, in: root)
        var links = [("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
                     ("/dev/stderr", "/proc/self/fd/2"), ("/dev/ptmx", "pts/ptmx")]
        // runc links /dev/core only where the kernel has /proc/kcore (CONFIG_PROC_KCORE).
        if access("/proc/kcore", F_OK) == 0 { links.append(("/dev/core", "/proc/kcore")) }
        let dev = try root.makeDirectories("/dev")
        defer { close(dev) }
        for (path, target) in links {
            let name = String(path.dropFirst(5))
            if name == "ptmx" { unlinkat(dev, name, 0) }
            if symlinkat(target, dev, name) != 0 && errno != EEXIST { throw RuntimeError.system(SystemError("symlink", path)) }
        }
    }

    /// mknod each device; in a user namespace (no CAP_MKNOD over the host) bind the host's node.
    func makeDevices(_ devices: [Spec.Device], in root: RootedPath) throws {
        for device in devices {
            let (parentPath, name) = RootedPath.split(device.path)
            let parent = try root.makeDirectories(parentPath)
            defer { close(parent) }
            unlinkat(parent, name, 0)
            if inUserNamespace {
                let fd = try root.makeFile(device.path, mode: 0)
                defer { close(fd) }
                try Mounter.mount(device.path, RootedPath.procPath(fd), type: nil, flags: MountFlag.bind, label: device.path)
                continue
            }
            let kind: UInt32
            switch device.type {
            case "c", "u": kind = UInt32(S_IFCHR)
            case "b": kind = UInt32(S_IFBLK)
            case "p": kind = UInt32(S_IFIFO)
            default: throw RuntimeError.invalidConfig("device \(device.path): unknown type \(device.type)")
            }
            let mode = kind | (device.fileMode ?? 0o666) & 0o7777
            try sys("mknod", device.path) {
                berth_mknodat(parent, name, mode, UInt32(device.major ?? 0), UInt32(device.minor ?? 0))
            }
            // mknod honours the umask; set the mode and owner the spec asked for exactly.
            fchmodat(parent, name, mode_t(mode & 0o7777), 0)
            fchownat(parent, name, device.uid ?? 0, device.gid ?? 0, Int32(AT_SYMLINK_NOFOLLOW))
        }
    }

    /// pivot_root(".", ".") then detach the old root stacked underneath (runc's technique: no
    /// temporary directory inside the rootfs, which may be read-only).
    func pivot() throws {
        try sys("chdir", rootfs) { chdir(rootfs) }
        try sys("pivot_root", rootfs) { berth_pivot_root(".", ".") }
        try Mounter.mount(nil, ".", type: nil, flags: MountFlag.slave | MountFlag.rec, label: "old root")
        try Mounter.unmount(".", detach: true)
        try sys("chdir", "/") { chdir("/") }
        if let name = spec.linux?.rootfsPropagation, let flag = MountOptions.propagation(named: name) {
            try Mounter.mount(nil, "/", type: nil, flags: flag, label: "/")
        }
    }

    /// After pivot: masked and read-only paths, then the read-only root.
    func finish() throws {
        for path in spec.linux?.maskedPaths ?? [] {
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try Mounter.mount("tmpfs", path, type: "tmpfs", flags: MountFlag.rdonly, data: "size=0k", label: path)
            } else {
                try Mounter.mount("/dev/null", path, type: nil, flags: MountFlag.bind, label: path)
            }
        }
        for path in spec.linux?.readonlyPaths ?? [] {
            guard FileIO.exists(path) else { continue }
            try Mounter.mount(path, path, type: nil, flags: MountFlag.bind | MountFlag.rec, label: path)
            try Mounter.mount(nil, path, type: nil,
                              flags: MountFlag.bind | MountFlag.remount | MountFlag.rdonly | MountFlag.rec | Mounter.currentFlags(path), label: path)
        }
        if spec.root?.readonly == true {
            try Mounter.mount(nil, "/", type: nil,
                              flags: MountFlag.bind | MountFlag.remount | MountFlag.rdonly | Mounter.currentFlags("/"), label: "/")
        }
    }

    /// Writes linux.sysctl through the container's own /proc, refusing keys that would reach
    /// the host (the kernel namespaces them only with the matching namespace).
    static func applySysctls(_ sysctls: [String: String], namespaces: Set<Namespace>) throws {
        for (key, value) in sysctls.sorted(by: { $0.key < $1.key }) {
            let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                       "kernel.shmmni", "kernel.shm_rmid_forced"]
            let allowed: Bool
            if ipc.contains(key) || key.hasPrefix("fs.mqueue.") { allowed = namespaces.contains(.ipc) }
            else if key.hasPrefix("net.") { allowed = namespaces.contains(.network) }
            else if key == "kernel.hostname" || key == "kernel.domainname" { allowed = namespaces.contains(.uts) }
            else { allowed = false }
            guard allowed else {
                throw RuntimeError.invalidConfig("sysctl \"\(key)\" is not in a separate kernel namespace")
            }
            try FileIO.write("/proc/sys/" + key.replacingDots(), value)
        }
    }
}

extension String {
    func replacingDots() -> String { String(map { $0 == "." ? "/" : $0 }) }
}
