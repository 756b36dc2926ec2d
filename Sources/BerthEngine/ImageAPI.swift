import BerthAPI
import BerthImage
import BerthOCI
import BerthSystem
import FoundationEssentials

/// Image store answers in the Engine API's shapes.
public enum ImageAPI {
    /// `containersUsing` (containers per image ID) is given by `system df` alone: as dockerd, a
    /// plain list reports -1 for `Containers` and `SharedSize` rather than count every container
    /// and compare every image's layers for each `docker images`.
    public static func list(_ store: ImageStore, all: Bool, filters: [String: [String]], containersUsing: [String: Int]?) async throws -> [ImageSummary] {
        let records = await store.records()
        var out: [ImageSummary] = []
        var chains: [Digest: [String]] = [:]
        if containersUsing != nil {
            for record in records {
                let config = try await store.config(record)
                chains[record.id] = ChainID.of(config.rootfs.diffIDs).map(\.description)
            }
        }
        let parents = Set(records.compactMap(\.parent))
        var chainCount: [String: Int] = [:]
        for list in chains.values { for c in list { chainCount[c, default: 0] += 1 } }
        for record in records {
            let config = try await store.config(record)
            var tags = await store.tags(of: record.id).map(\.familiarString)
            var digests = record.repoDigests
            if !all && tags.isEmpty && parents.contains(record.id) { continue }  // a build's intermediate
            if let dangling = filters["dangling"]?.first {
                if (dangling == "true") != tags.isEmpty { continue }
            }
            if let patterns = filters["reference"] {
                // as moby: only the references that match are listed, and an image with none is left out
                tags = tags.filter { tag in patterns.contains { Self.matches(tag, $0) } }
                digests = digests.filter { d in patterns.contains { Self.matches(Self.familiar(d), $0) } }.map(Self.familiar)
                if tags.isEmpty && digests.isEmpty { continue }
            }
            if !LabelFilter.matches(filters["label"], config.config?.labels) { continue }
            let shared = containersUsing == nil ? -1
                : zip(chains[record.id] ?? [], record.layerSizes).filter { (chainCount[$0.0] ?? 0) > 1 }.map(\.1).reduce(0, +)
            out.append(ImageSummary(Id: record.id.description, ParentId: record.parent?.description ?? "", RepoTags: tags, RepoDigests: digests,
                                    Created: Int64(config.created.flatMap(Timestamp.parse) ?? 0), Size: record.size, SharedSize: shared,
                                    Labels: config.config?.labels ?? [:], Containers: containersUsing.map { $0[record.id.description] ?? 0 } ?? -1))
        }
        return out.sorted { $0.Created > $1.Created }
    }

    /// `docker.io/library/busybox@sha256:…` as Docker shows it (`busybox@sha256:…`).
    static func familiar(_ repoDigest: String) -> String {
        guard let at = repoDigest.firstIndex(of: "@"), let name = try? Reference(parsing: String(repoDigest[..<at])) else { return repoDigest }
        return name.familiarName + repoDigest[at...]
    }

    /// `reference` filter, as distribution's `FamiliarMatch`: the pattern against `name:tag`,
    /// then against the name alone (a registry's `host:port` stays part of the name), with Go's
    /// `path.Match` globs (`*` and `?` stop at `/`).
    static func matches(_ tag: String, _ pattern: String) -> Bool {
        func glob(_ s: Substring, _ p: Substring) -> Bool {
            guard let first = p.first else { return s.isEmpty }
            if first == "*" { return glob(s, p.dropFirst()) || (s.first.map { $0 != "/" } == true && glob(s.dropFirst(), p)) }
            guard let c = s.first, c == first || (first == "?" && c != "/") else { return false }
            return glob(s.dropFirst(), p.dropFirst())
        }
        var name = Substring(tag)
        if let colon = tag.lastIndex(of: ":"), !tag[colon...].contains("/") { name = tag[..<colon] }
        return glob(Substring(tag), Substring(pattern)) || glob(name, Substring(pattern))
    }

    /// `?platform=` on inspect, history and delete (API 1.49): the docker CLI sends an OCI platform
    /// as JSON, other clients `os/arch[/variant]`. An image of another platform is not found, in
    /// dockerd's words; a variant is compared only when both sides have one.
    public static func requirePlatform(_ store: ImageStore, _ name: String, _ text: String?) async throws {
        guard let text, !text.isEmpty else { return }
        let wanted: Platform
        do {
            wanted = text.hasPrefix("{") ? try JSONDecoder().decode(Platform.self, from: Data(text.utf8)) : try Platform(parsing: text)
        } catch {
            throw EngineError.invalid("invalid platform \(text): \(error)")
        }
        let config = try await store.config(try await store.resolve(name))
        let actual = Platform(architecture: config.architecture, os: config.os, variant: config.variant)
        guard actual.os == wanted.os, actual.architecture == wanted.architecture,
              wanted.variant == nil || actual.variant == nil || wanted.variant == actual.variant else {
            throw EngineError.notFound("image with reference \(name) was found but does not match the specified platform: wanted \(wanted), actual: \(actual)")
        }
    }

    public static func inspect(_ store: ImageStore, _ name: String) async throws -> ImageInspect {
        let record = try await store.resolve(name)
        let config = try await store.config(record)
        var out = ImageInspect()
        out.Id = record.id.description
        out.RepoTags = await store.tags(of: record.id).map(\.familiarString)
        out.RepoDigests = record.repoDigests
        out.Parent = record.parent?.description ?? ""
        out.Created = config.created ?? ""
        out.Author = config.author ?? ""
        out.Comment = config.history?.last?.comment ?? ""
        out.Config = containerConfig(config.config)
        out.ContainerConfig = out.Config
        out.Architecture = config.architecture
        out.Variant = config.variant
        out.Os = config.os
        out.Size = record.size
        out.VirtualSize = record.size
        out.GraphDriver = GraphDriver()
        out.GraphDriver.Name = store.snapshotter.driver
        if let top = ChainID.of(config.rootfs.diffIDs).last?.description {
            // reads the layer chain's records: on the blocking pool, not the connection's loop
            let snapshotter = store.snapshotter
            out.GraphDriver.Data = try await Threads.run { snapshotter.driverData(key: top) }
        }
        out.RootFS = ImageInspect.RootFS()
        out.RootFS.Type = "layers"
        out.RootFS.Layers = config.rootfs.diffIDs.map(\.description)
        out.Metadata = ImageInspect.Metadata()
        out.Metadata.LastTagTime = record.added
        return out
    }

    static func containerConfig(_ c: ImageConfig.ContainerConfig?) -> ContainerConfig {
        var out = ContainerConfig()
        guard let c else { return out }
        out.User = c.user ?? ""
        out.Env = c.env
        out.Cmd = c.cmd
        out.Entrypoint = c.entrypoint
        out.WorkingDir = c.workingDir ?? ""
        out.Labels = c.labels
        out.StopSignal = c.stopSignal
        out.ExposedPorts = c.exposedPorts?.mapValues { _ in EmptyJSON() }
        out.Volumes = c.volumes?.mapValues { _ in EmptyJSON() }
        out.OnBuild = c.onBuild
        out.Shell = c.shell
        out.Healthcheck = c.healthcheck.map { h in
            var o = HealthConfig()
            o.Test = h.test; o.Interval = h.interval; o.Timeout = h.timeout; o.StartPeriod = h.startPeriod; o.StartInterval = h.startInterval; o.Retries = h.retries
            return o
        }
        return out
    }

    /// The reverse of `containerConfig`: what `commit` stores from a container's config.
    static func imageConfig(_ c: ContainerConfig) -> ImageConfig.ContainerConfig {
        var out = ImageConfig.ContainerConfig()
        out.user = c.User.flatMap { $0.isEmpty ? nil : $0 }
        out.env = c.Env
        out.cmd = c.Cmd
        out.entrypoint = c.Entrypoint
        out.workingDir = c.WorkingDir.flatMap { $0.isEmpty ? nil : $0 }
        out.labels = c.Labels.flatMap { $0.isEmpty ? nil : $0 }
        out.stopSignal = c.StopSignal
        out.exposedPorts = c.ExposedPorts.flatMap { $0.isEmpty ? nil : $0.mapValues { _ in EmptyObject() } }
        out.volumes = c.Volumes.flatMap { $0.isEmpty ? nil : $0.mapValues { _ in EmptyObject() } }
        out.onBuild = c.OnBuild
        out.shell = c.Shell
        out.healthcheck = c.Healthcheck.map { h in
            var o = ImageConfig.Healthcheck()
            o.test = h.Test; o.interval = h.Interval; o.timeout = h.Timeout; o.startPeriod = h.StartPeriod; o.startInterval = h.StartInterval; o.retries = h.Retries
            return o
        }
        return out
    }

    /// `docker history`: newest first; layers get the diff's size, empty layers `<missing>` IDs.
    public static func history(_ store: ImageStore, _ name: String) async throws -> [HistoryItem] {
        let record = try await store.resolve(name)
        let config = try await store.config(record)
        var sizes = record.layerSizes.makeIterator()
        var items: [HistoryItem] = []
        for entry in config.history ?? [] {
            var item = HistoryItem()
            item.Id = "<missing>"
            item.Created = Int64(entry.created.flatMap(Timestamp.parse) ?? 0)
            item.CreatedBy = entry.createdBy ?? ""
            item.Comment = entry.comment ?? ""
            item.Size = entry.emptyLayer == true ? 0 : (sizes.next() ?? 0)
            items.append(item)
        }
        items.reverse()
        if !items.isEmpty {
            items[0].Id = record.id.description
            items[0].Tags = await store.tags(of: record.id).map(\.familiarString)
        }
        return items
    }
}
