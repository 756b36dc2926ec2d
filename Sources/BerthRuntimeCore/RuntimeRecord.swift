import BerthCgroups
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// What the runtime remembers about a container between invocations, in `<root>/<id>/state.json`.
/// Status is never stored: it is derived from the init process and the exec fifo each time,
/// so a crash can never leave a stale "running" behind. Written by `StateDirectory.save`, by hand.
public struct RuntimeRecord: Decodable {
    public var id: String
    public var pid: Int32
    /// /proc/PID/stat start time, to tell our init from a recycled PID.
    public var startTime: UInt64?
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var cgroupPath: String
    public var config: Spec

    public var annotations: [String: String]? { config.annotations }
}

/// The per-container state directory and its files.
public struct StateDirectory {
    public let root: String
    public let id: String

    public init(root: String, id: String) throws {
        guard Self.isValid(id) else { throw RuntimeError.invalidID(id) }
        self.root = root
        self.id = id
    }

    public var path: String { root + "/" + id }
    public var recordPath: String { path + "/state.json" }
    public var fifoPath: String { path + "/exec.fifo" }

    /// runc's rule: letters, digits and `_+-.`, not `.` or `..`.
    public static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id != ".", id != "..", id.utf8.count <= 1024 else { return false }
        return id.unicodeScalars.allSatisfy { $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || "_+-.".unicodeScalars.contains($0) }
    }

    /// Claims the id: mkdir fails if another container holds it, even under a race.
    public func claim() throws {
        try FileIO.makeDirectories(root, mode: 0o711)
        if mkdir(path, 0o711) != 0 {
            if errno == EEXIST { throw RuntimeError.exists(id) }
            throw RuntimeError.system(SystemError("mkdir", path))
        }
    }

    public func load() throws -> RuntimeRecord {
        guard let bytes = try? FileIO.read(recordPath) else { throw RuntimeError.notFound(id) }
        do {
            return try JSONDecoder().decode(RuntimeRecord.self, from: Data(bytes))
        } catch {
            throw RuntimeError.other("container \"\(id)\": corrupt state file \(recordPath): \(error)")
        }
    }

    /// Writes `record` with `config`, the bundle's config.json as it was read and decoded into
    /// `record.config`, embedded verbatim: encoding the spec again cost about a millisecond of
    /// every container start.
    public func save(_ record: RuntimeRecord, config: [UInt8]) throws {
        // runc's state.json is not synced either: a power cut ends the container it describes.
        try AtomicFile.write(recordPath, record.encoded(config: config), mode: 0o600, durable: false)
    }

    public func remove() throws { try FileIO.removeTree(path) }

    public static func list(root: String) -> [String] {
        ((try? FileIO.listDirectory(root)) ?? []).filter { FileIO.exists(root + "/" + $0 + "/state.json") }
    }
}

extension RuntimeRecord {
    /// The record as state.json holds it, with `config` (a spec's JSON) embedded as it is.
    public func encoded(config: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(config.count + 512)
        func field(_ name: String, _ value: String, quoted: Bool = true) {
            out += Array("\"\(name)\":".utf8)
            if quoted { JSONText.appendQuoted(value, to: &out) } else { out += Array(value.utf8) }
            out.append(UInt8(ascii: ","))
        }
        out.append(UInt8(ascii: "{"))
        field("id", id)
        field("pid", String(pid), quoted: false)
        if let start = startTime { field("startTime", String(start), quoted: false) }
        field("bundle", bundle)
        field("rootfs", rootfs)
        field("created", created)
        field("cgroupPath", cgroupPath)
        out += Array("\"config\":".utf8) + config + [UInt8(ascii: "}")]
        return out
    }

    /// The record with only the spec's hooks and annotations: what the container's shim keeps for
    /// its life (`start` and `delete` run the hooks; the state reports the annotations). The
    /// rest of the spec — the seccomp profile alone is a few hundred strings — is read again
    /// from state.json by what needs it (an exec).
    public func leanEncoding() throws -> [UInt8] {
        encoded(config: Array(try JSONEncoder().encode(Spec(hooks: config.hooks, annotations: config.annotations))))
    }

    /// Derived status (runtime.md "Lifecycle"): created while init waits on the exec fifo.
    public func status(fifoPath: String) -> RuntimeState.Status {
        guard ProcessStatus.isAlive(pid, startTime: startTime) else { return .stopped }
        if FileIO.exists(fifoPath) { return .created }
        if let cgroup = try? Cgroups.manager(path: cgroupPath), cgroup.isFrozen { return .paused }
        return .running
    }

    public func state(status: RuntimeState.Status) -> RuntimeState {
        RuntimeState(id: id, pid: status == .stopped ? 0 : pid, status: status, bundle: bundle, rootfs: rootfs,
                       created: created, annotations: annotations)
    }
}
