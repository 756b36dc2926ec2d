import BerthAPI
import BerthArchive
import BerthImage
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

extension ContainerService {
    /// `docker ps`'s Status column, worded by the daemon as Docker's is.
    static func statusText(_ s: BerthAPI.ContainerState) -> String {
        let now = Timestamp.epochNow()
        if s.Running {
            let up = "Up " + Timestamp.humanDuration(now - (Timestamp.parse(s.StartedAt) ?? now))
            if s.Paused { return up + " (Paused)" }
            switch s.Health?.Status {
            case "starting": return up + " (health: starting)"
            case let status?: return up + " (\(status))"
            case nil: return up
            }
        }
        if s.Restarting {
            return "Restarting (\(s.ExitCode)) \(Timestamp.humanDuration(now - (Timestamp.parse(s.FinishedAt) ?? now))) ago"
        }
        if s.Status == "created" { return "Created" }
        return "Exited (\(s.ExitCode)) \(Timestamp.humanDuration(now - (Timestamp.parse(s.FinishedAt) ?? now))) ago"
    }

    /// Docker's `filters` query value: `{"key":["v"]}` or the old `{"key":{"v":true}}`.
    public static func parseFilters(_ text: String?) throws -> [String: [String]] {
        guard let text, !text.isEmpty else { return [:] }
        if let modern = try? JSONDecoder().decode([String: [String]].self, from: Data(text.utf8)) { return modern }
        if let legacy = try? JSONDecoder().decode([String: [String: Bool]].self, from: Data(text.utf8)) {
            return legacy.mapValues { Array($0.keys) }
        }
        throw EngineError.invalid("invalid filter '\(text)'")
    }

    public func list(all: Bool, limit: Int?, filters: [String: [String]], size: Bool = false) async throws -> [ContainerSummary] {
        let known: Set = ["status", "name", "id", "label", "ancestor", "exited", "before", "since", "network", "volume", "health", "isolation", "publish", "expose", "is-task"]
        for key in filters.keys where !known.contains(key) { throw EngineError.invalid("invalid filter '\(key)'") }
        for health in filters["health"] ?? [] where !["starting", "healthy", "unhealthy", "none"].contains(health) {
            throw EngineError.invalid("Unrecognised filter value for health: \(health)")
        }
        for status in filters["status"] ?? [] where !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(status) {
            throw EngineError.invalid("invalid filter 'status=\(status)'")
        }
        var records = containers.values.sorted { $0.created > $1.created }
        let showAll = all || filters["status"] != nil || filters["exited"] != nil || limit.map { $0 > 0 } == true
        if !showAll { records = records.filter { $0.state.Running } }
        if let before = filters["before"]?.first, let pivot = try? find(before) {
            records = records.filter { $0.created < pivot.created }
        }
        if let since = filters["since"]?.first, let pivot = try? find(since) {
            records = records.filter { $0.created > pivot.created }
        }
        var ancestorIDs = Set<String>()
        for ancestor in filters["ancestor"] ?? [] {
            if let image = try? await images.resolve(ancestor) { ancestorIDs.insert(image.id.description) }
        }
        records = records.filter { r in
            if let statuses = filters["status"], !statuses.contains(Self.statusWord(r.state)) { return false }
            if let names = filters["name"], !names.contains(where: { r.name.contains($0.hasPrefix("/") ? String($0.dropFirst()) : $0) }) { return false }
            if let ids = filters["id"], !ids.contains(where: { r.id.hasPrefix($0) }) { return false }
            if let wanted = filters["health"], !wanted.contains(r.state.Health?.Status ?? "none") { return false }
            if let codes = filters["exited"], !(r.state.Status == "exited" && codes.contains(String(r.state.ExitCode))) { return false }
            if filters["ancestor"] != nil, !ancestorIDs.contains(r.imageID) { return false }
            if let nets = filters["network"], !(r.endpoints ?? [:]).contains(where: { name, e in nets.contains { $0 == name || e.NetworkID.hasPrefix($0) } }) {
                return false
            }
            if let vols = filters["volume"], !(r.mounts ?? []).contains(where: { m in vols.contains { $0 == m.source || $0 == m.destination } }) {
                return false
            }
            return LabelFilter.matches(filters["label"], r.config.Labels)
        }
        if let limit, limit > 0 { records = Array(records.prefix(limit)) }
        var out = records.map(summary)
        if size {
            // Only when asked (`ps -s`): it walks each writable layer, on the blocking pool.
            let imageSizes = Dictionary(await images.records().map { ($0.id.description, $0.size) }) { a, _ in a }
            let snapshotter = images.snapshotter, ids = out.map(\.Id)
            let sizes = try await Threads.run { ids.map { snapshotter.usage(key: $0) } }
            for (i, rw) in zip(out.indices, sizes) {
                out[i].SizeRw = rw
                out[i].SizeRootFs = rw + (imageSizes[out[i].ImageID] ?? 0)
            }
        }
        return out
    }

    static func statusWord(_ s: BerthAPI.ContainerState) -> String {
        if s.Paused { return "paused" }
        if s.Restarting { return "restarting" }
        return s.Running ? "running" : s.Status
    }

    func summary(_ r: ContainerRecord) -> ContainerSummary {
        var s = ContainerSummary()
        s.Id = r.id
        s.Names = ["/" + r.name]
        s.Image = r.imageName
        s.ImageID = r.imageID
        // moby's list: arguments with a space in single quotes, the path as is
        s.Command = ([r.path] + r.args.map { $0.contains(" ") ? "'\($0)'" : $0 }).joined(separator: " ")
        s.Created = Int64(Timestamp.parse(r.created) ?? 0)
        s.Labels = r.config.Labels ?? [:]
        s.State = Self.statusWord(r.state)
        s.Status = Self.statusText(r.state)
        s.HostConfig = ["NetworkMode": r.hostConfig.NetworkMode ?? "default"]
        s.NetworkSettings = ["Networks": r.endpoints ?? [:]]
        s.Ports = portSummaries(r)
        s.Mounts = mountPoints(r)
        return s
    }

    /// The runtime spec berthd wrote at the container's last start (nil before its first).
    public func runtimeSpec(_ id: String) throws -> Spec? {
        let bytes: [UInt8]
        do { bytes = try FileIO.read(bundlePath(id) + "/config.json") } catch let error as SystemError where error.errno == ENOENT { return nil }
        return try JSONDecoder().decode(Spec.self, from: Data(bytes))
    }

    /// `inspect ?size=1`: the writable layer's size (a walk of its files, on the blocking
    /// pool) and, with the image's, the whole root file system's.
    public func inspect(_ ref: String, size: Bool) async throws -> ContainerInspect {
        var out = try inspect(ref)
        guard size else { return out }
        let snapshotter = images.snapshotter, id = out.Id
        let rw = try await Threads.run { snapshotter.usage(key: id) }
        out.SizeRw = rw
        // an image removed under its container (rmi -f) leaves its layers, counted in neither
        out.SizeRootFs = rw + ((try? await images.resolve(out.Image))?.size ?? 0)
        return out
    }

    public func inspect(_ ref: String) throws -> ContainerInspect {
        let r = try find(ref)
        var out = ContainerInspect()
        out.Id = r.id
        out.Created = r.created
        out.Path = r.path
        out.Args = r.args
        out.State = r.state
        out.Image = r.imageID
        out.ResolvConfPath = containerDir(r.id) + "/resolv.conf"
        out.HostnamePath = containerDir(r.id) + "/hostname"
        out.HostsPath = containerDir(r.id) + "/hosts"
        out.LogPath = logFile(r)?.format == .jsonFile ? logPath(r.id) : ""
        out.Name = "/" + r.name
        out.RestartCount = r.restartCount
        out.Driver = images.snapshotter.driver
        out.Platform = "linux"
        out.ExecIDs = r.execIDs.isEmpty ? nil : r.execIDs
        out.HostConfig = r.hostConfig
        out.GraphDriver = GraphDriver()
        out.GraphDriver.Name = images.snapshotter.driver
        out.GraphDriver.Data = (r.driverData ?? [:]).merging(["MergedDir": bundlePath(r.id) + "/rootfs"]) { $1 }
        out.Config = r.config
        out.NetworkSettings = networkSettings(r)
        out.Mounts = mountPoints(r)
        return out
    }

    /// Processes in the container, as `ps -ef` columns.
    public func top(_ ref: String) async throws -> ContainerTop {
        let r = try find(ref)
        guard r.state.Running else { throw EngineError.conflict("Container \(r.id) is not running") }
        let pids = try await task(r.id).pids()
        var top = ContainerTop()
        top.Titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        top.Processes = pids.sorted().map { pid in
            let statLine = (try? FileIO.readString("/proc/\(pid)/stat")) ?? ""
            let fields = statLine.split(separator: ")").last.map { $0.split(separator: " ") } ?? []
            let ppid = fields.count > 1 ? String(fields[1]) : "0"
            let cmdline = ((try? FileIO.read("/proc/\(pid)/cmdline")) ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            var st = stat()
            let uid = stat("/proc/\(pid)", &st) == 0 ? String(st.st_uid) : "0"
            return [uid == "0" ? "root" : uid, String(pid), ppid, "0", "", "?", "00:00:00", cmdline.joined(separator: " ")]
        }
        return top
    }
}

extension ContainerService {
    /// Containers per image ID (for `docker images` and `rmi`).
    public func imageUsage() -> [String: Int] {
        containers.reduce(into: [:]) { $0[$1.imageID, default: 0] += 1 }
    }

    public func users(ofImage id: String) -> [ImageStore.User] {
        containers.reduce(into: []) { users, r in
            if r.imageID == id { users.append(ImageStore.User(containerID: r.id, running: r.state.Running)) }
        }
    }

    public func imagesInUse() -> Set<Digest> {
        containers.reduce(into: Set()) { used, r in if let digest = try? Digest(parsing: r.imageID) { used.insert(digest) } }
    }

    public func counts() -> (total: Int, running: Int, paused: Int, stopped: Int) {
        let (total, running, paused) = containers.reduce(into: (0, 0, 0)) { n, r in
            n.0 += 1
            if r.state.Paused { n.2 += 1 } else if r.state.Running { n.1 += 1 }
        }
        return (total, running, paused, total - running - paused)
    }
}
