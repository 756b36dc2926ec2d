import BerthAPI

/// Where a container is in its life. Docker's `State` (a status string and four booleans) is
/// rendered from it by `ContainerRecord.move(to:)`, the one way the engine changes a container's
/// state, so the booleans can never disagree with each other or with the status.
enum ContainerLifecycle: String, Sendable, CaseIterable {
    case created, running, paused, restarting, exited, dead
    /// Being removed (in memory only: a removal a crash interrupts is finished or undone at boot).
    case removing

    /// Read back from a stored state (records are kept in Docker's shape, as dockerd keeps them).
    init(_ state: ContainerState) {
        if state.Status == "removing" { self = .removing }
        else if state.Dead { self = .dead }
        else if state.Paused { self = .paused }
        else if state.Running { self = .running }
        else if state.Restarting { self = .restarting }
        else if state.Status == "created" { self = .created }
        else { self = .exited }
    }

    /// A process exists (running or frozen): what `Running` means in Docker's state.
    var hasProcess: Bool { self == .running || self == .paused }

    /// The moves the engine makes. Anything else is a bug in the engine, refused rather than
    /// stored: a `start` racing a `start` used to leave a killed container marked running.
    func canMove(to next: ContainerLifecycle) -> Bool {
        switch (self, next) {
        case (.removing, _): return false
        case (_, .dead): return true
        case (.created, .running), (.exited, .running), (.restarting, .running): return true
        case (.running, .paused), (.paused, .running): return true
        case (.running, .exited), (.paused, .exited), (.restarting, .exited): return true
        case (.exited, .restarting): return true
        case (.created, .removing), (.exited, .removing), (.dead, .removing), (.restarting, .removing): return true
        default: return false
        }
    }
}

extension ContainerRecord {
    var lifecycle: ContainerLifecycle { ContainerLifecycle(state) }

    /// Moves the container to `next` and renders Docker's state fields for it.
    mutating func move(to next: ContainerLifecycle) throws {
        let current = lifecycle
        guard current.canMove(to: next) else {
            throw EngineError.conflict("container \(id) cannot go from \(current.rawValue) to \(next.rawValue)")
        }
        state.Status = next.rawValue
        state.Running = next.hasProcess
        state.Paused = next == .paused
        state.Restarting = next == .restarting
        state.Dead = next == .dead
    }
}
