import BerthSystem

/// One container's live state, owned by its own actor: the queue that runs its operations one
/// at a time, who waits for its exit or removal, attaches waiting for its start, its probe loop
/// and the operations using its mounted rootfs. Different containers share nothing here, so
/// their operations run in parallel; the record itself lives in `ContainerRegistry`, where
/// lookups read it without waiting, and is written by the operation holding this gate.
actor Container {
    let id: String
    /// Orders each write of the record to disk with its copy in the registry (a health result
    /// and a `stop` may save at once; both write one file).
    nonisolated let saving = Lock()
    /// The container's two locks: its operations (start, stop, rm …), and its rootfs mount, which
    /// a copy or an export takes too, whatever operation is under way.
    enum Gate { case operations, rootfs }
    private var busy: Set<Gate> = []
    private(set) var queues: [Gate: [CheckedContinuation<Void, Never>]] = [:]
    /// What a waiter waits for: the next exit, or the removal (which also ends exit waits).
    enum Awaited { case exit, removal }
    private var waiters: [Awaited: [Waiter]] = [:]
    /// An exit is being recorded: the registry already says stopped, but its `die` is not out
    /// yet. A `stop` waiting from then on must still wait, or its `stop` event beats the `die`.
    private var exitPending = false
    var pendingAttaches: [ContainerService.PendingAttach] = []
    var healthTask: Task<Void, Never>?
    /// Operations (export, cp) using the rootfs mount; it stays while any does.
    var rootfsUsers = 0
    /// Variables a build step's container gets in its runtime spec only (on the volatile exec
    /// root), never in its record: a secret's `RUN --mount=type=secret,env=`.
    var stepEnvironment: [String] = []

    init(id: String) { self.id = id }

    /// Waits for the gate, in arrival order. The actor alone serializes only between suspension
    /// points: a `start` awaiting its network let a second `start` in (both spawned a shim; the
    /// container ended killed), and a `rename` landing meanwhile was overwritten by the start's
    /// copy of the record.
    func enter(_ gate: Gate = .operations) async {
        guard busy.contains(gate) else {
            busy.insert(gate)
            return
        }
        await withCheckedContinuation { queues[gate, default: []].append($0) }
    }

    /// Passes the gate straight to the next waiter, or frees it.
    func leave(_ gate: Gate = .operations) {
        if let next = queues[gate]?.first {
            queues[gate]?.removeFirst()
            next.resume()
        } else {
            busy.remove(gate)
        }
    }

    /// Runs `body` with `gate` held, released however it ends.
    nonisolated func holding<T>(_ gate: Gate, _ body: () async throws -> T) async throws -> T {
        await enter(gate)
        do {
            let result = try await body()
            await leave(gate)
            return result
        } catch {
            await leave(gate)
            throw error
        }
    }

    /// Runs `body` on this actor: a check and a change of this state in one step.
    func run<T: Sendable>(_ body: @Sendable (isolated Container) throws -> T) rethrows -> T { try body(self) }

    /// Adds a waiter if `condition` (read from the registry) holds at this moment, or an exit is
    /// being recorded: an exit or a removal changes the registry before it resumes the waiters
    /// here, so none is missed.
    func add(_ waiter: Waiter, for awaited: Awaited, if condition: @Sendable () -> Bool) -> Bool {
        guard (awaited == .exit && exitPending) || condition() else { return false }
        waiters[awaited, default: []].append(waiter)
        return true
    }

    func exitBegins() { exitPending = true }

    func resume(_ awaited: Awaited, exitCode code: Int32) {
        exitPending = false
        for waiter in waiters.removeValue(forKey: awaited) ?? [] { waiter.resume(exitCode: code) }
    }

    func takePendingAttaches() -> [ContainerService.PendingAttach] {
        defer { pendingAttaches = [] }
        return pendingAttaches
    }

    /// Replaces the probe loop (nil stops it).
    func setHealthTask(_ task: Task<Void, Never>?) {
        healthTask?.cancel()
        healthTask = task
    }
}

extension ContainerService {
    /// Runs `body` with container `ref`'s gate held; `body` gets the container's ID and must look
    /// the record up again (it may have changed, or gone, while this waited).
    func serialized<T>(_ ref: String, _ body: (String) async throws -> T) async throws -> T {
        let id = try find(ref).id
        return try await container(id).holding(.operations) {
            guard containers[id] != nil else { throw EngineError.noSuchContainer(ref) }
            return try await body(id)
        }
    }
}
