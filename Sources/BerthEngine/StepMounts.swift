import BerthAPI
import BerthBuild
import BerthSystem
import FoundationEssentials
import Glibc

/// What a `RUN --mount` step gets mounted, made before the step's container and undone after it:
/// a cache's directory (kept across builds), a tmpfs, or a bind of the context, a stage or an
/// image (read-only, or writable through an overlay whose changes are thrown away). None of it
/// is in the step's layer: the commit takes the container's own writes only.
struct StepMounts {
    var specs: [MountSpec] = []
    /// Undoes one thing this step set up (cache users, overlays, source containers).
    private var undo: [@Sendable () async -> Void] = []

    static func prepare(_ mounts: [RunMount], for builder: ImageBuilder, stage: ImageBuilder.Stage, stages: [ImageBuilder.Stage]) async throws -> StepMounts {
        var prepared = StepMounts()
        do {
            for mount in mounts { try await prepared.add(mount, builder: builder, stage: stage, stages: stages) }
        } catch {
            await prepared.release()
            throw error
        }
        return prepared
    }

    private mutating func add(_ mount: RunMount, builder: ImageBuilder, stage: ImageBuilder.Stage, stages: [ImageBuilder.Stage]) async throws {
        let target = mount.target.hasPrefix("/") ? mount.target : ContainerService.cleanPath((stage.config.workingDir ?? "/") + "/" + mount.target)
        var spec = MountSpec()
        spec.Target = target
        switch mount.kind {
        case .tmpfs:
            spec.Type = "tmpfs"
            if let size = mount.size { spec.TmpfsOptions = .init(); spec.TmpfsOptions?.SizeBytes = size }
        case .cache:
            let cache = builder.cache
            let (path, key) = try await cache.acquireMount(mount, id: mount.id ?? target)
            undo.append { await cache.releaseMount(key) }
            spec.Type = "bind"
            spec.Source = path
            spec.ReadOnly = mount.readOnly
        case .bind:
            var root = builder.context
            if let from = mount.from {
                let source = try await builder.mountStage(from, stages: stages)
                let containers = builder.containers
                undo.append { await containers.releaseRootfs(source.container); try? await containers.remove(source.container, force: true) }
                root = source.root
            }
            // resolved inside its root: a symlink in the context cannot lend the step a host path
            let relative = mount.source.map { String($0.drop { $0 == "/" }) } ?? ""
            let resolved = relative.isEmpty ? "" : try RootedPath(root: root).resolve(relative)
            var source = root + (resolved.isEmpty || resolved == "." ? "" : "/" + resolved)
            guard FileIO.exists(source) else {
                throw BuildError(message: "failed to compute cache key: \"/\(relative)\" not found", code: nil)
            }
            if !mount.readOnly {
                source = try Self.scratchOverlay(over: source, next: builder.context)
                let merged = source
                undo.append {
                    try? Mounter.unmount(merged, detach: true)
                    try? FileIO.removeTree(AtomicFile.parentDirectory(of: merged))
                }
            }
            spec.Type = "bind"
            spec.Source = source
            spec.ReadOnly = mount.readOnly
        }
        specs.append(spec)
    }

    /// `lower` made writable for one step: an overlay whose upper layer is thrown away after.
    static func scratchOverlay(over lower: String, next context: String) throws -> String {
        let scratch = try FileIO.makeTemporaryDirectory(in: AtomicFile.parentDirectory(of: context), prefix: "mount-")
        for dir in ["upper", "work", "merged"] { try FileIO.makeDirectories(scratch + "/" + dir, mode: 0o755) }
        try Mounter.mount("overlay", scratch + "/merged", type: "overlay", flags: 0,
                          data: "lowerdir=\(lower),upperdir=\(scratch)/upper,workdir=\(scratch)/work")
        return scratch + "/merged"
    }

    func release() async {
        for step in undo.reversed() { await step() }
    }
}
