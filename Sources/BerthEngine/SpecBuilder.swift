import BerthAPI
import BerthCgroups
import BerthOCI
import BerthSnapshot
import BerthSystem
import CBerthLinux
import Glibc

/// A container's OCI bundle config, from its Docker config and host config, the way dockerd
/// (through containerd's defaults) builds it: Docker's capability set, mounts, masked paths and
/// the cgroup resources its flags map to.
enum SpecBuilder {
    static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]
    static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// Where `--init` finds a static init (Debian's tini package ships tini-static).
    static let initBinaries = ["/usr/local/bin/docker-init", "/usr/bin/tini-static", "/usr/bin/docker-init"]

    /// `network`: the namespace to join; nil shares the host's. `linkEnv`: legacy links'
    /// variables, which the container's own override (moby's `CreateDaemonEnvironment`).
    static func build(_ record: ContainerRecord, rootfs: String, containerDir: String, network: String?, mounts extra: [Spec.Mount],
                      defaultUlimits: [String: (soft: Int64, hard: Int64)], idmap: IDMap?, linkEnv: [String] = [],
                      namespaces: NamespaceJoins = NamespaceJoins()) throws -> Spec {
        let config = record.config, host = record.hostConfig
        let privileged = host.Privileged == true
        var env = ContainerService.mergeEnv(linkEnv, config.Env ?? [])
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.insert(defaultPath, at: 0) }
        env.insert("HOSTNAME=" + (config.Hostname ?? record.shortID), at: 1)
        if config.Tty == true && !env.contains(where: { $0.hasPrefix("TERM=") }) { env.append("TERM=xterm") }
        let user = try UserResolver.resolve(config.User ?? "", rootfs: rootfs, groupAdd: host.GroupAdd ?? [])
        let caps = privileged ? Capability.bounding() : try capabilities(add: host.CapAdd ?? [], drop: host.CapDrop ?? [])

        // containerd's default, capped at what berthd itself may grant (raising a hard limit
        // needs CAP_SYS_RESOURCE, which a confined daemon may lack).
        var own = rlimit()
        getrlimit(__rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue)), &own)
        let nofile = Int64(min(1_048_576, own.rlim_max))
        var ulimits: [String: (Int64, Int64)] = ["nofile": (nofile, nofile)]
        for (name, value) in defaultUlimits { ulimits[name] = value }
        for u in host.Ulimits ?? [] { ulimits[u.Name] = (u.Soft, u.Hard) }
        let rlimits = ulimits.sorted { $0.key < $1.key }.map {
            Spec.Rlimit(type: "RLIMIT_" + $0.key.uppercased(), hard: UInt64(bitPattern: $0.value.1), soft: UInt64(bitPattern: $0.value.0))
        }

        var args = [record.path] + record.args
        var initMount: Spec.Mount?
        if host.Init == true && namespaces.pid == .new {
            // `--init`, as Docker (only in a pid namespace of its own: elsewhere there is an init): a static tini bound read-only at /sbin/docker-init runs as PID 1,
            // reaps zombies and forwards signals to the command.
            guard let tini = initBinaries.first(where: FileIO.exists) else {
                throw EngineError.invalid("exec: \"docker-init\": executable file not found in $PATH (install tini)")
            }
            initMount = .init(destination: "/sbin/docker-init", type: "bind", source: tini, options: ["rbind", "ro"])
            args = ["/sbin/docker-init", "--"] + args
        }
        var process = Spec.Process(terminal: config.Tty == true, user: user, args: args, env: env,
                                   cwd: config.WorkingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
        process.capabilities = Spec.Capabilities(bounding: caps, effective: caps, permitted: caps)
        process.rlimits = rlimits
        process.noNewPrivileges = (host.SecurityOpt ?? []).contains { $0 == "no-new-privileges" || $0 == "no-new-privileges:true" }
        process.oomScoreAdj = host.OomScoreAdj

        let shmSize = host.ShmSize.flatMap { $0 > 0 ? $0 : nil } ?? defaultShmSize
        var mounts: [Spec.Mount] = [
            .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"]),
            .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro"]),
            .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        ]
        switch namespaces.shm {
        case .ownTmpfs:
            mounts.append(.init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=\(shmSize)"]))
        case .none: break
        case .bind(let source): mounts.append(.init(destination: "/dev/shm", type: "bind", source: source, options: ["rbind", "rprivate"]))
        }
        for file in ["resolv.conf", "hostname", "hosts"] {
            mounts.append(.init(destination: "/etc/" + file, type: "bind", source: containerDir + "/" + file, options: ["rbind", "rprivate"]))
        }
        if let initMount { mounts.append(initMount) }
        mounts += extra
        for (path, options) in (host.Tmpfs ?? [:]).sorted(by: { $0.key < $1.key }) {
            mounts.append(.init(destination: path, type: "tmpfs", source: "tmpfs",
                                options: ["nosuid", "nodev", "noexec"] + options.split(separator: ",").map(String.init)))
        }

        var linux = Spec.Linux(
            namespaces: namespaces.specNamespaces + [Spec.LinuxNamespace(type: "mount")]
                + (network.map { [Spec.LinuxNamespace(type: "network", path: $0)] } ?? []),
            cgroupsPath: record.cgroupPath,
            resources: try resources(host),
            maskedPaths: privileged ? [] : host.MaskedPaths ?? defaultMaskedPaths,
            readonlyPaths: privileged ? [] : host.ReadonlyPaths ?? defaultReadonlyPaths)
        if (host.CgroupnsMode ?? defaultCgroupnsMode) == "private" { linux.namespaces?.append(.init(type: "cgroup")) }
        if let idmap {
            linux.namespaces?.insert(.init(type: "user", path: namespaces.userNamespace), at: 0)
            linux.uidMappings = [.init(containerID: 0, hostID: idmap.uid, size: idmap.size)]
            linux.gidMappings = [.init(containerID: 0, hostID: idmap.gid, size: idmap.size)]
        }
        linux.sysctl = host.Sysctls
        linux.seccomp = try seccomp(host.SecurityOpt ?? [], privileged: privileged, capabilities: caps)
        if privileged {
            linux.resources?.devices = [.init(allow: true, access: "rwm")]
        }
        for mapping in host.Devices ?? [] {
            let (device, rule) = try hostDevice(mapping)
            linux.devices = (linux.devices ?? []) + [device]
            if !privileged { linux.resources?.devices?.append(rule) }
        }
        if !privileged {
            for text in host.DeviceCgroupRules ?? [] { linux.resources?.devices?.append(try deviceCgroupRule(text)) }
        }
        return Spec(ociVersion: Spec.version, process: process, root: .init(path: rootfs, readonly: host.ReadonlyRootfs == true),
                    hostname: namespaces.uts == .new ? config.Hostname ?? record.shortID : nil, domainname: config.Domainname, mounts: mounts,
                    annotations: host.Annotations.flatMap { $0.isEmpty ? nil : $0 }, linux: linux)
    }

    static let defaultMaskedPaths = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                                     "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
    static let defaultReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    /// dockerd's default cgroup namespace mode: private on the unified hierarchy, host on v1.
    static var defaultCgroupnsMode: String { Cgroups.isUnified() ? "private" : "host" }

    /// `--device-cgroup-rule 'c 7:128 rwm'`: type a, b or c, major and minor numbers or `*`,
    /// and access; worded as moby's check when malformed.
    static func deviceCgroupRule(_ text: String) throws -> Spec.DeviceRule {
        let bad = EngineError.invalid("invalid device cgroup format '\(text)'")
        let parts = text.split(separator: " ")
        guard parts.count == 3, ["a", "b", "c"].contains(parts[0]) else { throw bad }
        let numbers = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard numbers.count == 2 else { throw bad }
        func number(_ s: Substring) throws -> Int64? {
            if s == "*" { return nil }
            guard let n = Int64(s), n >= 0 else { throw bad }
            return n
        }
        let access = String(parts[2])
        guard (1...3).contains(access.count), access.allSatisfy({ "rwm".contains($0) }) else { throw bad }
        return Spec.DeviceRule(allow: true, type: String(parts[0]), major: try number(numbers[0]), minor: try number(numbers[1]), access: access)
    }

    /// `--device /dev/x[:/dev/y][:rwm]`: the node made in the container and allowed by the
    /// device cgroup with the given permissions.
    static func hostDevice(_ m: DeviceMapping) throws -> (Spec.Device, Spec.DeviceRule) {
        let host = m.PathOnHost ?? ""
        var st = stat()
        guard stat(host, &st) == 0 else { throw EngineError.invalid("error gathering device information while adding custom device \"\(host)\": no such file or directory") }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFCHR || kind == S_IFBLK else { throw EngineError.invalid("error gathering device information while adding custom device \"\(host)\": not a device node") }
        let type = kind == S_IFCHR ? "c" : "b"
        let major = Int64(berth_major(UInt(st.st_rdev))), minor = Int64(berth_minor(UInt(st.st_rdev)))
        let access = m.CgroupPermissions.flatMap { $0.isEmpty ? nil : $0 } ?? "rwm"
        guard access.allSatisfy({ "rwm".contains($0) }) else { throw EngineError.invalid("invalid device cgroup permissions: \(access)") }
        let path = m.PathInContainer.flatMap { $0.isEmpty ? nil : $0 } ?? host
        return (Spec.Device(type: type, path: path, major: major, minor: minor, fileMode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid),
                Spec.DeviceRule(allow: true, type: type, major: major, minor: minor, access: access))
    }

    /// Docker's default profile for the container's capabilities, a profile given with
    /// `--security-opt seccomp=…`, or none (`seccomp=unconfined`, `--privileged`).
    static func seccomp(_ options: [String], privileged: Bool, capabilities: [String]) throws -> Spec.Seccomp? {
        let given = options.last { $0.hasPrefix("seccomp=") || $0.hasPrefix("seccomp:") }.map { String($0.dropFirst(8)) }
        if given == "unconfined" || (privileged && given == nil) { return nil }
        let profile = try given.map(SeccompProfile.parse) ?? SeccompProfile.docker
        return profile.resolve(capabilities: capabilities)
    }

    /// `--cap-add`/`--cap-drop` on Docker's default set (`ALL` works on either side).
    static func capabilities(add: [String], drop: [String]) throws -> [String] {
        func normalize(_ name: String) throws -> String {
            let upper = name.uppercased()
            let full = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
            guard full == "CAP_ALL" || Capability.names.contains(full) else {
                throw EngineError.invalid("invalid capability: \(name)")
            }
            return full
        }
        let added = try add.map(normalize), dropped = try drop.map(normalize)
        var caps = dropped.contains("CAP_ALL") ? [] : defaultCapabilities
        caps.removeAll { dropped.contains($0) }
        if added.contains("CAP_ALL") { caps = Capability.bounding() }
        for cap in added where cap != "CAP_ALL" && !caps.contains(cap) { caps.append(cap) }
        return caps
    }

    /// Docker's swap when only memory is limited: as much swap as memory (memory+swap twice the
    /// limit); unlimited where doubling a client's value would overflow.
    static func defaultSwap(_ memory: Int64) -> Int64 {
        let (doubled, overflow) = memory.multipliedReportingOverflow(by: 2)
        return overflow ? -1 : doubled
    }

    /// dockerd's `--default-shm-size`.
    static let defaultShmSize: Int64 = 64 << 20

    static func resources(_ host: HostConfig) throws -> Spec.Resources {
        var r = Spec.Resources(devices: [.init(allow: false, access: "rwm")])
        let memory = host.Memory ?? 0
        if memory > 0 || (host.MemoryReservation ?? 0) > 0 || host.OomKillDisable == true {
            var m = Spec.Memory()
            if memory > 0 {
                m.limit = memory
                let swap = host.MemorySwap ?? 0
                m.swap = swap == 0 ? defaultSwap(memory) : swap  // -1: unlimited
            }
            if let v = host.MemoryReservation, v > 0 { m.reservation = v }
            if host.OomKillDisable == true { m.disableOOMKiller = true }
            r.memory = m
        }
        if let s = host.MemorySwappiness, s >= 0 {
            var m = r.memory ?? Spec.Memory()
            m.swappiness = UInt64(s)
            r.memory = m
        }
        var cpu = Spec.CPU()
        if let nano = host.NanoCpus, nano > 0 {
            cpu.period = 100_000
            cpu.quota = nano * 100_000 / 1_000_000_000
        }
        if let q = host.CpuQuota, q > 0 { cpu.quota = q }
        if let p = host.CpuPeriod, p > 0 { cpu.period = UInt64(p) }
        if let p = host.CpuRealtimePeriod, p > 0 { cpu.realtimePeriod = UInt64(p) }
        if let r = host.CpuRealtimeRuntime, r != 0 { cpu.realtimeRuntime = r }
        if let s = host.CpuShares, s > 0 { cpu.shares = UInt64(s) }
        if let c = host.CpusetCpus, !c.isEmpty { cpu.cpus = c }
        if let m = host.CpusetMems, !m.isEmpty { cpu.mems = m }
        if cpu != Spec.CPU() { r.cpu = cpu }
        if let p = host.PidsLimit { r.pids = .init(limit: p <= 0 ? -1 : p) }  // 0 is stored by an update to unlimited
        var io = Spec.BlockIO()
        if let w = host.BlkioWeight, w > 0 { io.weight = UInt16(clamping: w) }
        let weights = try (host.BlkioWeightDevice ?? []).map { d in
            let (major, minor) = try deviceNumbers(d.Path)
            return Spec.WeightDevice(major: major, minor: minor, weight: UInt16(clamping: d.Weight))
        }
        if !weights.isEmpty { io.weightDevice = weights }
        func throttles(_ devices: [ThrottleDevice]?) throws -> [Spec.ThrottleDevice]? {
            let out = try (devices ?? []).map { d in
                let (major, minor) = try deviceNumbers(d.Path)
                return Spec.ThrottleDevice(major: major, minor: minor, rate: UInt64(clamping: d.Rate))
            }
            return out.isEmpty ? nil : out
        }
        io.throttleReadBpsDevice = try throttles(host.BlkioDeviceReadBps)
        io.throttleWriteBpsDevice = try throttles(host.BlkioDeviceWriteBps)
        io.throttleReadIOPSDevice = try throttles(host.BlkioDeviceReadIOps)
        io.throttleWriteIOPSDevice = try throttles(host.BlkioDeviceWriteIOps)
        if io != Spec.BlockIO() { r.blockIO = io }
        return r
    }

    /// A device path's numbers, read when the spec is made (moby's getBlkioThrottleDevices).
    static func deviceNumbers(_ path: String) throws -> (Int64, Int64) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw EngineError.invalid("\(SystemError("stat", path))") }
        return (Int64(berth_major(UInt(st.st_rdev))), Int64(berth_minor(UInt(st.st_rdev))))
    }
}
