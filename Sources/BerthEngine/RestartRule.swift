import BerthAPI

/// A container's restart policy, read once from Docker's strings: when it comes back after an
/// exit, when it comes back as the daemon starts, and how long it waits first (moby's restart
/// manager), in one place instead of string compares in three.
enum RestartRule: Equatable {
    case never, always, unlessStopped, onFailure(maxRetries: Int)

    /// With Docker's checks and words.
    init(validating policy: RestartPolicy?) throws {
        let name = policy?.Name ?? "", retries = policy?.MaximumRetryCount ?? 0
        switch name {
        case "always", "unless-stopped":
            if retries != 0 { throw EngineError.invalid("maximum retry count cannot be used with restart policy '\(name)'") }
            self = name == "always" ? .always : .unlessStopped
        case "on-failure":
            if retries < 0 { throw EngineError.invalid("maximum retry count cannot be negative") }
            self = .onFailure(maxRetries: retries)
        case "", "no":
            self = .never
        default:
            throw EngineError.invalid("invalid restart policy: unknown policy '\(name)'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
        }
    }

    /// A stored policy, checked when it was stored.
    init(_ policy: RestartPolicy?) { self = (try? Self(validating: policy)) ?? .never }

    /// After an exit the engine saw. A user's stop or kill cancels any restart, as it cancels
    /// moby's restart manager.
    func restartsAfterExit(code: Int32, restarts: Int, stoppedByUser: Bool) -> Bool {
        guard !stoppedByUser else { return false }
        switch self {
        case .never: return false
        case .always, .unlessStopped: return true
        case .onFailure(let max): return code != 0 && (max == 0 || restarts < max)
        }
    }

    /// As the daemon starts, for a container that is not running: `always` comes back even after
    /// a user stopped it (Docker's documented difference from `unless-stopped`).
    func restartsAtDaemonStart(stoppedByUser: Bool) -> Bool {
        switch self {
        case .always: return true
        case .unlessStopped: return !stoppedByUser
        case .never, .onFailure: return false
        }
    }

    /// Docker's back-off before restart number `n` (from 1): 100 ms doubling up to a minute, back
    /// to 100 ms once a run lasted 10 s.
    static func delay(restart n: Int, ranSeconds: Double) -> UInt64 {
        ranSeconds >= 10 ? 100 : UInt64(min(100 << min(max(n, 1) - 1, 10), 60_000))
    }
}
