import BerthAPI
import BerthOCI
import BerthSystem
import BerthVolume
import Glibc

/// One mount of a container, resolved at create from `-v`, `--mount`, `--volumes-from` and the
/// image's VOLUMEs.
struct MountRecord: Codable, Sendable, Equatable {
    /// `bind`, `volume` or `tmpfs`.
    var type: String
    /// The host path of a bind, the name of a volume.
    var source: String
    var destination: String
    var readOnly: Bool
    /// The `-v` mode field as given (`ro`, `z`, `nocopy`…), shown by inspect.
    var mode: String
    var propagation: String
    var noCopy: Bool
    var anonymous: Bool
    /// tmpfs `size=`/`mode=` options.
    var tmpfsOptions: [String]
}

extension ContainerService {
    /// Every mount of new container `id`; named and anonymous volumes are created now, as
    /// Docker's, and the container takes a reference on each volume it names.
    func resolveMounts(_ config: ContainerConfig, _ host: HostConfig, for id: String) throws -> [MountRecord] {
        // `--volume-driver` names the plugin for the volumes `-v` and VOLUME make; only `local`
        // is built in (no plugins), refused before any volume is made, in moby's words
        if let driver = host.VolumeDriver, !["", "local"].contains(driver),
           !(config.Volumes ?? [:]).isEmpty || (host.Binds ?? []).contains(where: { !$0.hasPrefix("/") }) {
            throw EngineError.notFound("error looking up volume plugin \(driver): plugin \"\(driver)\" not found")
        }
        var out: [MountRecord] = []
        func add(_ m: MountRecord) throws {
            let dest = Self.cleanPath(m.destination)
            guard dest.hasPrefix("/") else { throw EngineError.invalid("invalid mount config: mount path must be absolute: \(m.destination)") }
            guard dest != "/" else { throw EngineError.invalid("invalid specification: destination can't be '/'") }
            if out.contains(where: { $0.destination == dest }) { throw EngineError.invalid("Duplicate mount point: \(dest)") }
            var m = m
            m.destination = dest
            out.append(m)
        }
        for spec in host.Binds ?? [] { try add(try bindSpec(spec, for: id)) }
        for spec in host.Mounts ?? [] { try add(try mountSpec(spec, for: id)) }
        for from in host.VolumesFrom ?? [] {
            guard !from.isEmpty else { throw EngineError.invalid("volumes-from specification cannot be an empty string") }
            let parts = from.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let source = try find(parts[0])  // a non-empty text splits into at least one part
            let mode = parts.count > 1 ? parts[1] : ""
            guard ["", "ro", "rw"].contains(mode) else { throw EngineError.invalid("invalid mode for volumes-from: \(mode)") }
            for var m in source.mounts ?? [] where !out.contains(where: { $0.destination == m.destination }) && m.type != "tmpfs" {
                if !mode.isEmpty { m.readOnly = mode == "ro" }
                m.anonymous = false  // the other container owns it
                if m.type == "volume" { try volumes.reference(m.source, by: id) }
                out.append(m)
            }
        }
        let tmpfs = Set((host.Tmpfs ?? [:]).keys.map(Self.cleanPath))
        for path in (config.Volumes ?? [:]).keys.sorted() where !out.contains(where: { $0.destination == Self.cleanPath(path) }) && !tmpfs.contains(Self.cleanPath(path)) {
            let v = try volumes.create(nil, anonymous: true, for: id)
            try add(MountRecord(type: "volume", source: v.name, destination: path, readOnly: false, mode: "", propagation: "",
                                noCopy: false, anonymous: true, tmpfsOptions: []))
        }
        return out
    }

    static func cleanPath(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." { if c == ".." { _ = parts.popLast() } else { parts.append(c) } }
        return p.hasPrefix("/") ? "/" + parts.joined(separator: "/") : parts.joined(separator: "/")
    }

    /// `-v SRC:DST[:MODE]`: an absolute SRC is a bind (made when missing, as Docker's `-v` does),
    /// any other a named volume.
    func bindSpec(_ spec: String, for id: String) throws -> MountRecord {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts.count <= 3, !parts[0].isEmpty, parts[1].hasPrefix("/") else {
            throw EngineError.invalid("invalid volume specification: '\(spec)'")
        }
        let modes = parts.count > 2 ? parts[2].split(separator: ",").map(String.init) : []
        let known: Set = ["ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave", "rslave", "consistent", "cached", "delegated"]
        for m in modes where !known.contains(m) { throw EngineError.invalid("invalid mode: \(m)") }
        let propagation = modes.first { ["private", "rprivate", "shared", "rshared", "slave", "rslave"].contains($0) } ?? ""
        if parts[0].hasPrefix("/") {
            if !FileIO.exists(parts[0]) {
                do { try FileIO.makeDirectories(parts[0], mode: 0o755) } catch {
                    throw EngineError.invalid("error while creating mount source path '\(parts[0])': \(error)")
                }
            }
            return MountRecord(type: "bind", source: parts[0], destination: parts[1], readOnly: modes.contains("ro"),
                               mode: parts.count > 2 ? parts[2] : "", propagation: propagation.isEmpty ? "rprivate" : propagation,
                               noCopy: false, anonymous: false, tmpfsOptions: [])
        }
        let v = try volumes.create(parts[0], anonymous: false, for: id)
        return MountRecord(type: "volume", source: v.name, destination: parts[1], readOnly: modes.contains("ro"),
                           mode: parts.count > 2 ? parts[2] : "z", propagation: "", noCopy: modes.contains("nocopy"), anonymous: false, tmpfsOptions: [])
    }

    /// `--mount type=bind|volume|tmpfs,…` (the CLI sends it parsed).
    func mountSpec(_ m: MountSpec, for id: String) throws -> MountRecord {
        let target = m.Target ?? ""
        guard !target.isEmpty else { throw EngineError.invalid("invalid mount config for type \"\(m.Type ?? "")\": field Target must not be empty") }
        switch m.Type ?? "" {
        case "bind":
            guard let source = m.Source, !source.isEmpty else { throw EngineError.invalid("invalid mount config for type \"bind\": field Source must not be empty") }
            if !FileIO.exists(source) {
                guard m.BindOptions?.CreateMountpoint == true else {
                    throw EngineError.invalid("invalid mount config for type \"bind\": bind source path does not exist: \(source)")
                }
                do { try FileIO.makeDirectories(source) } catch { throw EngineError.invalid("\(error)") }
            }
            return MountRecord(type: "bind", source: source, destination: target, readOnly: m.ReadOnly == true, mode: "",
                               propagation: m.BindOptions?.Propagation ?? "rprivate", noCopy: false, anonymous: false, tmpfsOptions: [])
        case "volume":
            if m.BindOptions != nil { throw EngineError.invalid("invalid mount config for type \"volume\": BindOptions must not be specified") }
            let name = m.Source.flatMap { $0.isEmpty ? nil : $0 }
            let v = try volumes.create(name, anonymous: name == nil, options: m.VolumeOptions?.DriverConfig?.Options ?? [:],
                                       labels: m.VolumeOptions?.Labels ?? [:], for: id)
            return MountRecord(type: "volume", source: v.name, destination: target, readOnly: m.ReadOnly == true, mode: "",
                               propagation: "", noCopy: m.VolumeOptions?.NoCopy == true, anonymous: name == nil, tmpfsOptions: [])
        case "tmpfs":
            if let s = m.Source, !s.isEmpty { throw EngineError.invalid("invalid mount config for type \"tmpfs\": field Source must not be specified") }
            var options: [String] = []
            if let size = m.TmpfsOptions?.SizeBytes, size > 0 { options.append("size=\(size)") }
            if let mode = m.TmpfsOptions?.Mode { options.append("mode=" + String(mode, radix: 8)) }
            return MountRecord(type: "tmpfs", source: "", destination: target, readOnly: m.ReadOnly == true, mode: "",
                               propagation: "", noCopy: false, anonymous: false, tmpfsOptions: options)
        default:
            throw EngineError.invalid("invalid mount config: unsupported mount type '\(m.Type ?? "")'")
        }
    }

    /// Mounts volumes (filling an empty new one from the image, unless `nocopy`) and returns
    /// the spec's mounts, parents before children.
    func prepareMounts(_ record: ContainerRecord, rootfs: String) async throws -> [Spec.Mount] {
        var out: [Spec.Mount] = []
        var acquired: [String] = []
        do {
            for m in (record.mounts ?? []).sorted(by: { $0.destination.split(separator: "/").count < $1.destination.split(separator: "/").count }) {
                var options = ["rbind", m.readOnly ? "ro" : "rw"]
                switch m.type {
                case "volume":
                    let path: String
                    do { path = try volumes.store.acquire(m.source) } catch { throw VolumeService.apiError(error) }
                    acquired.append(m.source)
                    if volumes.store.isEmpty(m.source) {
                        // a new volume belongs to the container's root, remapped or not (the copy-up below carries the image's owner)
                        if let idmap = idmap(for: record) { try sys("chown", path) { chown(path, idmap.uid, idmap.gid) } }
                        if !m.noCopy { try await Threads.run { try Self.copyImageContent(rootfs: rootfs, path: m.destination, into: path) } }
                    }
                    out.append(.init(destination: m.destination, type: "bind", source: path, options: options + ["rprivate"]))
                case "tmpfs":
                    options = ["nosuid", "nodev", "noexec"] + (m.readOnly ? ["ro"] : []) + m.tmpfsOptions
                    out.append(.init(destination: m.destination, type: "tmpfs", source: "tmpfs", options: options))
                default:
                    guard FileIO.exists(m.source) else {
                        throw EngineError.invalid("invalid mount config for type \"bind\": bind source path does not exist: \(m.source)")
                    }
                    out.append(.init(destination: m.destination, type: "bind", source: m.source, options: options + [m.propagation.isEmpty ? "rprivate" : m.propagation]))
                }
            }
        } catch {
            for name in acquired { volumes.store.release(name) }
            throw error
        }
        return out
    }

    func releaseMounts(_ record: ContainerRecord) {
        for m in record.mounts ?? [] where m.type == "volume" { volumes.store.release(m.source) }
        if record.hostConfig.IpcMode == "shareable" { unmountShareableShm(record.id) }
    }

    /// Docker's copy-up: what the image holds at a volume's path seeds the empty volume. The
    /// path is resolved inside the rootfs by the kernel, so an image symlink cannot point the
    /// copy at the host. On the blocking pool: it waits for a `cp` of any size.
    static func copyImageContent(rootfs: String, path: String, into target: String) throws {
        let root = try RootedPath(root: rootfs)
        guard let fd = try? root.open(path, flags: O_PATH | O_DIRECTORY) else { return }
        defer { close(fd) }
        let (status, output) = try Subprocess.run("/bin/cp", ["-a", "--", "/proc/\(getpid())/fd/\(fd)/.", target + "/"])
        guard status == 0 else { throw EngineError.internalError("copying the image's \(path) into its volume: \(output.trimmed)") }
    }

    /// Inspect's `Mounts`.
    func mountPoints(_ r: ContainerRecord) -> [MountPoint] {
        (r.mounts ?? []).map { m in
            var p = MountPoint()
            p.Type = m.type
            p.Destination = m.destination
            p.Mode = m.mode
            p.RW = !m.readOnly
            p.Propagation = m.type == "bind" ? m.propagation : ""
            if m.type == "volume" {
                p.Name = m.source
                p.Source = volumes.store.dataPath(m.source)
                p.Driver = "local"
            } else {
                p.Source = m.source
            }
            return p
        }
    }
}
