import BerthAPI
import BerthBuild
import BerthDiagnostics
import BerthSystem
import FoundationEssentials
import Glibc
import Logging

/// What a `RUN --mount` step gets mounted, made before the step's container and undone after it:
/// a cache's directory (kept across builds), a tmpfs, or a bind of the context, a stage or an
/// image (read-only, or writable through an overlay whose changes are thrown away), a secret's
/// file or an SSH agent's socket. None of it is in the step's layer: the commit takes the
/// container's own writes only.
struct StepMounts {
    var specs: [MountSpec] = []
    /// Variables for the step only (a secret's `env=`, `SSH_AUTH_SOCK`): never in the image.
    var environment: [String] = []
    /// The step's tmpfs for secret files and agent sockets, made at the first one.
    private var secrets: String?
    /// SSH mounts so far, which number the default targets (`/run/buildkit/ssh_agent.N`).
    private var agents = 0
    /// Undoes one thing this step set up (cache users, overlays, source containers).
    private var undo: [@Sendable () async -> Void] = []
    static let log = Logger(label: "berth.build")

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
            // BuildKit's `from` and `source`: a new (empty) cache starts as a copy of that directory
            if mount.from != nil, ((try? FileIO.listDirectory(path)) ?? []).isEmpty {
                let seed = try await sourceDirectory(mount, builder: builder, stages: stages)
                try await Threads.run {
                    let (status, output) = try Subprocess.run("/bin/cp", ["-a", "--", seed + "/.", path + "/"])
                    guard status == 0 else { throw BuildError(message: "seeding cache mount \(mount.id ?? target): \(output.trimmed)", code: nil) }
                    // the cache's own root keeps the mount's mode and owner
                    chmod(path, mode_t(mount.mode ?? 0o755))
                    chown(path, mount.uid ?? 0, mount.gid ?? 0)
                }
            }
            spec.Type = "bind"
            spec.Source = path
            spec.ReadOnly = mount.readOnly
        case .secret, .ssh:
            return try await addSecret(mount, builder: builder, stage: stage)
        case .bind:
            var source = try await sourceDirectory(mount, builder: builder, stages: stages)
            if !mount.readOnly {
                source = try Self.scratchOverlay(over: source, next: builder.context)
                let merged = source
                undo.append {
                    StepMounts.log.attempt("unmounting a build step's scratch overlay \(merged)") { try Mounter.unmount(merged, detach: true) }
                    StepMounts.log.attempt("removing a build step's scratch overlay") { try FileIO.removeTree(AtomicFile.parentDirectory(of: merged)) }
                }
            }
            spec.Type = "bind"
            spec.Source = source
            spec.ReadOnly = mount.readOnly
        }
        specs.append(spec)
    }

    /// What a mount's `from` (a stage or an image; the context when absent) holds at its
    /// `source`, resolved inside that root: a symlink there cannot lend the step a host path.
    private mutating func sourceDirectory(_ mount: RunMount, builder: ImageBuilder, stages: [ImageBuilder.Stage]) async throws -> String {
        var root = builder.context
        if let from = mount.from {
            let source = try await builder.mountStage(from, stages: stages)
            let containers = builder.containers
            undo.append { await containers.releaseRootfs(source.container); await builder.discard(source.container) }
            root = source.root
        }
        let relative = mount.source.map { String($0.drop { $0 == "/" }) } ?? ""
        let resolved = relative.isEmpty ? "" : try RootedPath(root: root).resolve(relative)
        let source = root + (resolved.isEmpty || resolved == "." ? "" : "/" + resolved)
        guard FileIO.exists(source) else {
            throw BuildError(message: "failed to compute cache key: \"/\(relative)\" not found", code: nil)
        }
        return source
    }

    /// A secret (its file, its variable, or both) or an agent's socket, from what the build
    /// request brought; one that is missing skips the mount unless it is `required`, as BuildKit does.
    private mutating func addSecret(_ mount: RunMount, builder: ImageBuilder, stage: ImageBuilder.Stage) async throws {
        let id = mount.id ?? "default"
        let options = builder.options
        guard mount.kind == .secret ? options.secrets[id] != nil : options.sshAgents[id] != nil else {
            guard !mount.required else {
                throw BuildError(message: mount.kind == .secret ? "secret \(id): not found" : "no SSH key \"\(id)\" forwarded from the client (berth build --ssh \(id))")
            }
            return
        }
        var target = mount.target
        if mount.kind == .ssh {
            if target.isEmpty { target = "/run/buildkit/ssh_agent.\(agents)" }
            agents += 1
        }
        if !target.isEmpty && !target.hasPrefix("/") { target = ContainerService.cleanPath((stage.config.workingDir ?? "/") + "/" + target) }
        if let variable = mount.env, let value = options.secrets[id] { environment.append(variable + "=" + String(decoding: value, as: UTF8.self)) }
        guard !target.isEmpty else { return }
        let dir = try secretsDirectory(next: builder.context)
        // The owner as the step's user sees it: shifted into the remapped range under --userns-remap.
        let shift = builder.containers.config.remap
        let owner = (uid: (shift?.uid ?? 0) + (mount.uid ?? 0), gid: (shift?.gid ?? 0) + (mount.gid ?? 0))
        let mode = mode_t(mount.mode ?? 0o400)
        let source = dir + "/\(specs.count)." + (mount.kind == .secret ? "secret" : "agent")
        if mount.kind == .secret {
            try AtomicFile.write(source, options.secrets[id] ?? [], mode: mode, durable: false)
            try sys("chown", source) { chown(source, owner.uid, owner.gid) }
        } else {
            let relay = try AgentRelay(path: source, agent: options.sshAgents[id] ?? "", mode: mode, owner: owner)
            undo.append { relay.stop() }
            if !environment.contains(where: { $0.hasPrefix("SSH_AUTH_SOCK=") }) { environment.append("SSH_AUTH_SOCK=" + target) }
        }
        var spec = MountSpec()
        spec.Type = "bind"
        spec.Source = source
        spec.Target = target
        spec.ReadOnly = mount.kind == .secret
        specs.append(spec)
    }

    /// A tmpfs only root can enter, so no secret's value ever reaches a disk; unmounted after the step.
    private mutating func secretsDirectory(next context: String) throws -> String {
        if let secrets { return secrets }
        let dir = try FileIO.makeTemporaryDirectory(in: AtomicFile.parentDirectory(of: context), prefix: "secrets-")
        do {
            try Mounter.mount("tmpfs", dir, type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), data: "mode=0700,size=16m")
        } catch {
            try? FileIO.removeTree(dir)  // empty and unmounted: the mount was what failed
            throw error
        }
        undo.append {
            StepMounts.log.attempt("unmounting a build step's secrets \(dir)") { try Mounter.unmount(dir, detach: true) }
            rmdir(dir)
        }
        secrets = dir
        return dir
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
