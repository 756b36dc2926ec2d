import BerthDiagnostics
import BerthSystem
import FoundationEssentials
import Glibc
import Logging

public enum VolumeError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case invalid(String)
    case inUse(String)
    case system(String)

    public var description: String {
        switch self {
        case .notFound(let m), .invalid(let m), .inUse(let m), .system(let m): return m
        }
    }
}

/// What berthd keeps about a volume, beside its data in `<root>/<name>/volume.json`.
public struct VolumeInfo: Codable, Sendable, Equatable {
    public var name: String
    public var createdAt: String
    public var labels: [String: String]
    /// The local driver's options: `type`, `device`, `o` (as `mount -t type -o o device`).
    public var options: [String: String]
    /// Made for a container (`-v /path`, an image VOLUME); `rm -v` takes it with the container.
    public var anonymous: Bool
}

/// Local volumes under `<data-root>/volumes/<name>/_data`, Docker's layout. A volume with mount
/// options (tmpfs, a bind-backed device) is mounted on `_data` while containers use it, counted
/// per user, and unmounted when the last one stops.
public final class VolumeStore: @unchecked Sendable {
    static let log = Logger(label: "berth.volumes")
    public let root: String
    let lock = Lock()
    var volumes: [String: VolumeInfo] = [:]
    var mounted: [String: Int] = [:]

    public init(root: String) throws {
        self.root = root
        try FileIO.makeDirectories(root, mode: 0o701)
        for name in try FileIO.listDirectory(root) {
            if name.hasPrefix(".") {  // a create or a remove a crash interrupted
                Self.log.attempt("removing \(name), left by an interrupted volume create or remove") { try FileIO.removeTree(root + "/" + name) }
                continue
            }
            let path = root + "/" + name + "/volume.json"
            let info: VolumeInfo
            do {
                info = try JSONDecoder().decode(VolumeInfo.self, from: Data(try FileIO.read(path)))
            } catch {
                // left on disk with its data, for the operator to mend or remove
                Self.log.error("volume \(name) is not listed: \(path) cannot be read: \(error)")
                continue
            }
            volumes[name] = info
            // Mounts do not survive a reboot; after a daemon restart, running users re-acquire.
            if Mounter.mountPoints(under: dataPath(name)).contains(dataPath(name)) { mounted[name] = 0 }
        }
    }

    public func dataPath(_ name: String) -> String { root + "/" + name + "/_data" }

    static func validName(_ name: String) -> Bool {
        name.utf8.count >= 2 && name.utf8.enumerated().allSatisfy { i, c in
            let alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            return i == 0 ? alnum : alnum || c == 95 || c == 46 || c == 45
        }
    }

    /// Creates a volume, or returns the existing one of that name (Docker's `volume create` is
    /// idempotent, but refuses different options for an existing name).
    public func create(name requested: String?, options: [String: String] = [:], labels: [String: String] = [:],
                       anonymous: Bool = false) throws -> VolumeInfo {
        let name = requested.flatMap { $0.isEmpty ? nil : $0 } ?? Self.randomName()
        guard Self.validName(name) else {
            throw VolumeError.invalid("create \(name): \"\(name)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")
        }
        for key in options.keys where !["type", "device", "o", "size"].contains(key) {
            throw VolumeError.invalid("create \(name): invalid option key: \"\(key)\"")
        }
        if options["type"] != nil || options["device"] != nil, options["device"] == nil || options["type"] == nil {
            throw VolumeError.invalid("create \(name): missing required option: \"\(options["type"] == nil ? "type" : "device")\"")
        }
        return try lock.locked { () throws -> VolumeInfo in
            if let existing = volumes[name] {
                if !options.isEmpty && existing.options != options {
                    throw VolumeError.invalid("create \(name): volume already exists and was created with different options")
                }
                return existing
            }
            let info = VolumeInfo(name: name, createdAt: Timestamp.now(), labels: labels, options: options, anonymous: anonymous)
            // Built under a dot-name and renamed: a crash never leaves a half volume under its name.
            let staging = root + "/." + name
            do {
                try? FileIO.removeTree(staging)  // none, unless a crash left one; the create then fails on it
                try FileIO.makeDirectories(staging + "/_data", mode: 0o755)
                chmod(staging, 0o701)
                try AtomicFile.write(staging + "/volume.json", Array(try JSONEncoder().encode(info)), mode: 0o600)
                try sys("rename", staging) { rename(staging, root + "/" + name) }
            } catch {
                try? FileIO.removeTree(staging)  // else removed at the next start
                throw VolumeError.system("create \(name): \(error)")
            }
            volumes[name] = info
            return info
        }
    }

    static func randomName() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined()
    }

    public func get(_ name: String) throws -> VolumeInfo {
        guard let v = lock.locked({ volumes[name] }) else { throw VolumeError.notFound("get \(name): no such volume") }
        return v
    }

    public func list() -> [VolumeInfo] { lock.locked { volumes.values.sorted { $0.name < $1.name } } }

    /// Removes a volume the caller has checked is unused; `force` ignores a missing one.
    public func remove(_ name: String, force: Bool = false) throws {
        try lock.locked { () throws in
            guard volumes[name] != nil else {
                if force { return }
                throw VolumeError.notFound("get \(name): no such volume")
            }
            if mounted[name] != nil {  // a forced remove of a volume in use
                Self.log.attempt("unmounting volume \(name)") { try Mounter.unmount(dataPath(name), detach: true) }
                mounted[name] = nil
            }
            let doomed = root + "/.removing-" + name
            do {
                try sys("rename", name) { rename(root + "/" + name, doomed) }
                try FileIO.removeTree(doomed)
            } catch { throw VolumeError.system("remove \(name): \(error)") }
            volumes[name] = nil
        }
    }

    public func usage(_ name: String) -> Int64 { FileIO.diskUsage(dataPath(name)) }

    /// The directory to bind into a container; a volume with mount options is mounted first.
    public func acquire(_ name: String) throws -> String {
        try lock.locked { () throws -> String in
            guard let info = volumes[name] else { throw VolumeError.notFound("get \(name): no such volume") }
            let path = dataPath(name)
            guard let type = info.options["type"], let device = info.options["device"] else { return path }
            if let n = mounted[name] { mounted[name] = n + 1; return path }
            var flags: UInt = 0
            var data = info.options["o"] ?? ""
            if type == "none" || data.split(separator: ",").contains("bind") {
                flags = MountFlag.bind | MountFlag.rec
                data = ""
                guard FileIO.isDirectory(device) else { throw VolumeError.invalid("error while mounting volume '\(path)': failed to mount local volume: mount \(device):\(path): no such file or directory") }
            }
            do { try Mounter.mount(device, path, type: flags != 0 ? nil : type, flags: flags, data: data.isEmpty ? nil : data) } catch {
                throw VolumeError.system("error while mounting volume '\(path)': failed to mount local volume: \(error)")
            }
            mounted[name] = 1
            return path
        }
    }

    public func release(_ name: String) {
        lock.locked {
            guard let n = mounted[name] else { return }
            if n <= 1 {
                Self.log.attempt("unmounting volume \(name)") { try Mounter.unmount(dataPath(name), detach: true) }
                mounted[name] = nil
            } else {
                mounted[name] = n - 1
            }
        }
    }

    /// Whether a volume holds nothing yet (so the image's content may be copied in).
    public func isEmpty(_ name: String) -> Bool {
        ((try? FileIO.listDirectory(dataPath(name))) ?? []).isEmpty
    }
}
