import BerthOCI
import BerthSystem
import Glibc

/// The spec's `linux.namespaces`, validated: which to create with the clone, which to join by
/// path, and the uid/gid mappings a new user namespace needs.
struct NamespaceConfig {
    var created: Set<Namespace> = []
    var joinPaths: [(Namespace, String)] = []
    var uidMappings: [Spec.IDMapping] = []
    var gidMappings: [Spec.IDMapping] = []

    init(_ spec: Spec) throws {
        var seen = Set<Namespace>()
        for entry in spec.linux?.namespaces ?? [] {
            guard let ns = Namespace(rawValue: entry.type) else {
                throw RuntimeError.invalidConfig("unknown namespace type \"\(entry.type)\"")
            }
            guard seen.insert(ns).inserted else { throw RuntimeError.invalidConfig("duplicate namespace type \"\(entry.type)\"") }
            if ns == .time { throw RuntimeError.invalidConfig("time namespaces are not supported") }
            if let path = entry.path, !path.isEmpty { joinPaths.append((ns, path)) } else { created.insert(ns) }
        }
        uidMappings = spec.linux?.uidMappings ?? []
        gidMappings = spec.linux?.gidMappings ?? []
        if created.contains(.user) && (uidMappings.isEmpty || gidMappings.isEmpty) {
            throw RuntimeError.invalidConfig("user namespace enabled, but no uidMappings/gidMappings found")
        }
        if !seen.contains(.user) && !(uidMappings.isEmpty && gidMappings.isEmpty) {
            throw RuntimeError.invalidConfig("uidMappings/gidMappings found, but no user namespace is configured")
        }
    }

    /// Flags for the clone: all new namespaces but cgroup, which the child unshares only
    /// after it has been moved into its cgroup (so that becomes its cgroup root).
    var cloneFlags: Int32 {
        created.filter { $0 != .cgroup }.reduce(0) { $0 | $1.cloneFlag }
    }

    var unshareCgroup: Bool { created.contains(.cgroup) }

    /// Opens every path to join, in join order; the caller closes them.
    func openJoins() throws -> [(Namespace, Int32)] {
        var fds: [(Namespace, Int32)] = []
        do {
            for ns in Namespace.joinOrder {
                guard let path = joinPaths.first(where: { $0.0 == ns })?.1 else { continue }
                fds.append((ns, try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }))
            }
        } catch {
            fds.forEach { close($0.1) }
            throw error
        }
        return fds
    }

    /// The host id that container id 0 maps to (0 without a user namespace).
    func hostID(ofRoot mappings: KeyPath<NamespaceConfig, [Spec.IDMapping]>) -> UInt32 {
        guard created.contains(.user) else { return 0 }
        return self[keyPath: mappings].first { $0.containerID == 0 }?.hostID ?? 0
    }

    func writeMappings(pid: Int32) throws {
        func text(_ maps: [Spec.IDMapping]) -> String {
            maps.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
        }
        try FileIO.write("/proc/\(pid)/uid_map", text(uidMappings))
        try FileIO.write("/proc/\(pid)/gid_map", text(gidMappings))
    }
}
