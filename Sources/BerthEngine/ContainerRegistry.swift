import BerthSystem

/// Every container's current record and its actor, found by ID, name or ID prefix without
/// waiting on any container: `inspect`, `ps` and the lookups of every other request read here,
/// so a container busy with a long start or stop never holds up a question about another.
/// Names are reserved here in one step with their check, so two creates (or a create and a
/// rename) can never both take one name across their awaits.
final class ContainerRegistry: @unchecked Sendable {
    private let lock = Lock()
    private var records: [String: ContainerRecord] = [:]
    private var actors: [String: Container] = [:]
    /// Each name's container ID; also names reserved by a create that has no record yet.
    private var names: [String: String] = [:]

    /// A container's record. Setting one adds the container (and its actor) or changes it,
    /// keeping its name's entry; setting nil forgets it and its name.
    subscript(id: String) -> ContainerRecord? {
        get { lock.locked { records[id] } }
        set {
            lock.locked {
                if let old = records[id], old.name != newValue?.name, names[old.name] == id { names[old.name] = nil }
                guard let record = newValue else {
                    records[id] = nil
                    actors[id] = nil
                    return
                }
                records[id] = record
                names[record.name] = id
                if actors[id] == nil { actors[id] = Container(id: id) }
            }
        }
    }

    /// Changes a record in one step under the lock (for changes made outside the container's
    /// gate, such as an exec's ID, which must not lose a concurrent one).
    func mutate(_ id: String, _ body: (inout ContainerRecord) -> Void) {
        lock.locked {
            guard var record = records[id] else { return }
            body(&record)
            records[id] = record
        }
    }

    var values: [ContainerRecord] { lock.locked { Array(records.values) } }

    /// Folds over the records in place under the lock, for sums over every container (`images`'
    /// counts, `info`) that need no copy of them all.
    func reduce<T>(into initial: T, _ body: (inout T, ContainerRecord) -> Void) -> T {
        lock.locked {
            var result = initial
            for record in records.values { body(&result, record) }
            return result
        }
    }
    var count: Int { lock.locked { records.count } }

    /// The container's actor, while it exists.
    func actor(_ id: String) -> Container? { lock.locked { actors[id] } }

    /// By full ID, name (with or without `/`), or unique ID prefix, as Docker resolves them; only
    /// a prefix scans, so finding one container does not depend on how many there are.
    func find(_ ref: String) throws -> ContainerRecord {
        guard !ref.isEmpty else { throw EngineError.noSuchContainer(ref) }  // every ID has the empty prefix
        return try lock.locked {
            if let r = records[ref] { return r }
            if let id = names[ref.hasPrefix("/") ? String(ref.dropFirst()) : ref], let r = records[id] { return r }
            let matches = records.values.filter { $0.id.hasPrefix(ref) }
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw EngineError.notFound("multiple IDs found with provided prefix: \(ref)") }
            throw EngineError.noSuchContainer(ref)
        }
    }

    /// Takes `name` for container `id`, or names the container that has it (Docker's words).
    func reserve(_ name: String, for id: String) throws {
        try lock.locked {
            if let other = names[name], other != id {
                throw EngineError.conflict("Conflict. The container name \"/\(name)\" is already in use by container \"\(other)\". You have to remove (or rename) that container to be able to reuse that name.")
            }
            names[name] = id
        }
    }

    /// Gives back a name reserved for `id` that it did not keep (a failed create or rename).
    func release(_ name: String, for id: String) {
        lock.locked { if names[name] == id, records[id]?.name != name { names[name] = nil } }
    }
}
