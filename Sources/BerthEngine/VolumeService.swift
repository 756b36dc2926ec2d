import BerthAPI
import BerthSystem
import BerthVolume
import Logging

/// Volumes as the API sees them (create, inspect, list, remove, prune, their usage) and who uses
/// each, apart from the containers' actor: moby's volume service. A container takes a reference
/// on every volume it names when it is created and drops them when it is removed, so `volume rm`
/// checks and removes under one lock and can never race a create that names the volume. Mounting
/// a volume while a container runs stays with the store (`acquire`/`release`).
public final class VolumeService: @unchecked Sendable {
    public let store: VolumeStore
    let events: EventLog
    private let lock = Lock()
    /// volume name → the containers that name it
    private var references: [String: Set<String>] = [:]
    private let log = Logger(label: "berth.volumes")

    public init(store: VolumeStore, events: EventLog) {
        self.store = store
        self.events = events
    }

    static func apiError(_ error: Error) -> Error {
        switch error as? VolumeError {
        case .notFound(let m)?: return EngineError.notFound(m, cause: error)
        case .invalid(let m)?: return EngineError.invalid(m, cause: error)
        case .inUse(let m)?: return EngineError.conflict(m, cause: error)
        case .system(let m)?: return EngineError.internalError(m, cause: error)
        case nil: return error
        }
    }

    // MARK: references

    /// The containers naming each volume.
    func users() -> [String: [String]] { lock.locked { references.mapValues { $0.sorted() } } }

    /// Creates volume `name` (a random one when nil), or finds it, and has `container` take a
    /// reference on it in the same step.
    func create(_ name: String?, anonymous: Bool, options: [String: String] = [:], labels: [String: String] = [:],
                for container: String? = nil) throws -> VolumeInfo {
        let (volume, created) = try lock.locked { () throws -> (VolumeInfo, Bool) in
            do {
                let existed = name.map { (try? store.get($0)) != nil } ?? false
                let v = try store.create(name: name, options: options, labels: labels, anonymous: anonymous)
                if let container { references[v.name, default: []].insert(container) }
                return (v, !existed)
            } catch { throw Self.apiError(error) }
        }
        if created { events.publish("volume", "create", id: volume.name, attributes: ["driver": "local"]) }
        return volume
    }

    /// `container` names an existing volume (`--volumes-from`).
    func reference(_ name: String, by container: String) throws {
        try lock.locked { () throws in
            do { _ = try store.get(name) } catch { throw Self.apiError(error) }
            references[name, default: []].insert(container)
        }
    }

    /// Drops every reference `container` holds (its removal, or a create that failed); returns
    /// the volumes that nobody names any more.
    @discardableResult
    func drop(container: String) -> Set<String> {
        lock.locked {
            var unused = Set<String>()
            for (name, users) in references where users.contains(container) {
                var rest = users
                rest.remove(container)
                references[name] = rest.isEmpty ? nil : rest
                if rest.isEmpty { unused.insert(name) }
            }
            return unused
        }
    }

    /// The references of the containers found at start.
    func restore(container: String, volumes names: [String]) {
        lock.locked { for name in names { references[name, default: []].insert(container) } }
    }

    // MARK: the API

    /// The API's view; `size` walks the volume's data (only on the blocking pool).
    func view(_ v: VolumeInfo, users: Int? = nil, size: Bool = false) -> Volume {
        var out = Volume()
        out.Name = v.name
        out.CreatedAt = v.createdAt
        out.Labels = v.labels
        out.Options = v.options.isEmpty ? nil : v.options  // none: Go's nil map, as dockerd shows
        out.Mountpoint = store.dataPath(v.name)
        if size { out.UsageData = .init(Size: store.usage(v.name), RefCount: Int64(users ?? 0)) }
        return out
    }

    public func create(_ request: VolumeCreateRequest) throws -> Volume {
        if request.ClusterVolumeSpec != nil {
            throw EngineError.unavailable("cluster volumes need swarm mode, which Berth does not run; use Kubernetes with berthd's CRI socket to orchestrate several hosts")
        }
        if let d = request.Driver, !d.isEmpty, d != "local" { throw EngineError.notFound("plugin \"\(d)\" not found") }
        // moby 23+: a volume created without a name is anonymous (`volume prune` takes it without -a)
        let name = request.Name.flatMap { $0.isEmpty ? nil : $0 }
        return view(try create(name, anonymous: name == nil, options: request.DriverOpts ?? [:], labels: request.Labels ?? [:]))
    }

    public func inspect(_ name: String) throws -> Volume {
        do { return view(try store.get(name)) } catch { throw Self.apiError(error) }
    }

    public func list(filters: [String: [String]]) throws -> VolumeListResponse {
        for key in filters.keys where !["dangling", "name", "label", "driver"].contains(key) { throw EngineError.invalid("invalid filter '\(key)'") }
        let users = users()
        let list = store.list().filter { v in
            if let d = filters["dangling"]?.first {
                let dangling = ["1", "true"].contains(d)
                if dangling != (users[v.name] == nil) { return false }
            }
            if let names = filters["name"], !names.contains(where: { v.name.contains($0) }) { return false }
            if let drivers = filters["driver"], !drivers.contains("local") { return false }
            return LabelFilter.matches(filters["label"], v.labels)
        }
        return VolumeListResponse(Volumes: list.map { view($0) })
    }

    /// Refused while a container names the volume, in dockerd's words; the check and the removal
    /// hold the lock that a container's reference takes.
    public func remove(_ name: String, force: Bool) async throws {
        try await Threads.run { [self] in
            try lock.locked { () throws in
                if let users = references[name], !users.isEmpty {
                    throw EngineError.conflict("remove \(name): volume is in use - [\(users.sorted().joined(separator: ", "))]")
                }
                do { try store.remove(name, force: force) } catch { throw Self.apiError(error) }
            }
        }
        events.publish("volume", "destroy", id: name, attributes: ["driver": "local"])
    }

    /// Unused volumes: anonymous ones, or all with `all=true` (Docker 23+), minus label filters.
    public func prune(filters: [String: [String]]) async throws -> VolumePruneReport {
        let all = filters["all"]?.contains { ["1", "true"].contains($0) } == true
        let filters = try PruneFilters(filters, accepted: ["label", "label!", "all"])
        let users = users()
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for v in store.list() where users[v.name] == nil && (all || v.anonymous) {
            guard filters.selects(created: nil, labels: v.labels) else { continue }
            let size = (try? await Threads.run { [store] in store.usage(v.name) }) ?? 0
            do {
                try await remove(v.name, force: false)
                deleted.append(v.name)
                reclaimed += size
            } catch let error where ErrorCode.of(error) == .conflict {
                continue  // named by a container created meanwhile
            } catch {
                log.warning("pruning volume \(v.name): \(error)")
            }
        }
        return VolumePruneReport(VolumesDeleted: deleted, SpaceReclaimed: reclaimed)
    }

    /// `system df`'s volumes, each with its size and how many containers name it.
    public func usage() async throws -> [Volume] {
        let users = users()
        let volumes = store.list()
        return try await Threads.run { [self] in volumes.map { view($0, users: users[$0.name]?.count ?? 0, size: true) } }
    }
}
