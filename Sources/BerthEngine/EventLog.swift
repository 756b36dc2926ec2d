import BerthAPI
import BerthSystem
import Glibc

/// The daemon's event stream: recent events kept for `--since`, and live subscribers. A lock,
/// not an actor, so the container and image code publish without suspending.
public final class EventLog: @unchecked Sendable {
    private let lock = Lock()
    private var recent: [EventMessage] = []
    private var subscribers: [Int: AsyncStream<EventMessage>.Continuation] = [:]
    private var nextToken = 0
    /// dockerd's `eventsLimit`: `events --since` replays at most the last 256, as there.
    static let kept = 256

    public init() {}

    public func publish(_ type: String, _ action: String, id: String, attributes: [String: String] = [:]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let event = EventMessage(type: type, action: action, actor: .init(ID: id, Attributes: attributes),
                                 timeNano: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
        let targets = lock.locked { () -> [AsyncStream<EventMessage>.Continuation] in
            recent.append(event)
            if recent.count > Self.kept { recent.removeFirst(recent.count - Self.kept) }
            return Array(subscribers.values)
        }
        for target in targets { target.yield(event) }
    }

    /// Past events (from `since`, in nanoseconds) and a stream of those that follow, with no gap
    /// between the two.
    public func subscribe(since: Int64?) -> (past: [EventMessage], live: AsyncStream<EventMessage>, token: Int) {
        let (stream, continuation) = AsyncStream<EventMessage>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        return lock.locked {
            let token = nextToken
            nextToken += 1
            subscribers[token] = continuation
            let past = since.map { s in recent.filter { $0.timeNano >= s } } ?? []
            return (past, stream, token)
        }
    }

    public func unsubscribe(_ token: Int) {
        let continuation = lock.locked { subscribers.removeValue(forKey: token) }
        continuation?.finish()
    }

    /// `docker events --filter`: each key matches if any of its values does; all keys must match.
    public static func matches(_ event: EventMessage, _ filters: [String: [String]]) -> Bool {
        for (key, values) in filters where !values.isEmpty {
            let attributes = event.Actor.Attributes
            let ok: Bool
            switch key {
            case "type": ok = values.contains(event.Type)
            case "event": ok = values.contains(event.Action) || values.contains { event.Action.hasPrefix($0 + ":") }
            case "container":
                ok = event.Type == "container" && values.contains { $0 == attributes["name"] || event.Actor.ID.hasPrefix($0) }
            case "image":
                ok = values.contains { $0 == attributes["image"] || $0 == attributes["name"] || $0 == event.Actor.ID }
            case "label":
                ok = LabelFilter.matches(values, attributes)
            default: ok = true
            }
            if !ok { return false }
        }
        return true
    }
}
