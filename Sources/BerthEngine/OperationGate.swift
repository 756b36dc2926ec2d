/// One operation at a time per container, across its awaits. The actor alone serializes only
/// between suspension points: a `start` awaiting its network let a second `start` in (both
/// spawned a shim; the container ended killed), and a `rename` or `update` landing meanwhile
/// was overwritten by the start's copy of the record. Different containers never wait for each
/// other, and the gate passes straight to the next waiter in arrival order.
struct OperationGate {
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Takes the gate for `id` if free.
    mutating func tryEnter(_ id: String) -> Bool {
        guard waiting[id] == nil else { return false }
        waiting[id] = []
        return true
    }

    /// Queues a waiter behind the current holder.
    mutating func enqueue(_ id: String, _ waiter: CheckedContinuation<Void, Never>) {
        waiting[id, default: []].append(waiter)
    }

    /// Releases the gate: the next waiter, returned for the caller to resume, now holds it.
    mutating func leave(_ id: String) -> CheckedContinuation<Void, Never>? {
        guard var queue = waiting[id], !queue.isEmpty else {
            waiting[id] = nil
            return nil
        }
        let next = queue.removeFirst()
        waiting[id] = queue
        return next
    }
}

extension ContainerService {
    /// Runs `body` with the gate of container `ref` held; `body` gets the container's ID and must
    /// look the record up again (it may have changed, or gone, while this waited).
    func serialized<T>(_ ref: String, _ body: (String) async throws -> T) async throws -> T {
        let id = try find(ref).id
        if !gate.tryEnter(id) {
            await withCheckedContinuation { gate.enqueue(id, $0) }
        }
        defer { gate.leave(id)?.resume() }
        guard containers[id] != nil else { throw EngineError.noSuchContainer(ref) }
        return try await body(id)
    }
}
