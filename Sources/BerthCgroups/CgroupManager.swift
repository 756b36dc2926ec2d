import BerthOCI
import BerthSystem
import CBerthLinux
import Glibc

/// One container's cgroup, whatever the host's hierarchy layout. Callers never branch on v1/v2.
public protocol CgroupManager {
    /// The cgroup path relative to the hierarchy root, e.g. `/berth/<id>`.
    var path: String { get }
    /// Creates the directories (and, on v2, enables controllers in every ancestor).
    func create() throws
    func apply(_ resources: Spec.Resources) throws
    /// Moves a running process in from outside (the global-lock path `CgroupEntry` avoids).
    func add(pid: Int32) throws
    /// What a process about to be cloned needs to enter this cgroup itself.
    func openEntry() throws -> CgroupEntry
    func processes() throws -> [Int32]
    func freeze() throws
    func thaw() throws
    var isFrozen: Bool { get }
    /// Usage counters for `docker stats`.
    func stats() -> CgroupStats
    /// How many times the kernel's OOM killer fired inside this cgroup.
    func oomKillCount() -> Int
    /// Removes the cgroup and any empty ancestors it created.
    func destroy() throws
    /// (directory name inside a container's /sys/fs/cgroup, host directory) pairs to bind there.
    var containerMounts: [(name: String, hostPath: String)] { get }
}

public enum CgroupError: Error, CustomStringConvertible {
    case invalidPath(String)
    case unsupported(String)
    case busy(String)

    public var description: String {
        switch self {
        case .invalidPath(let p): return "invalid cgroup path \"\(p)\": must not contain \"..\""
        case .unsupported(let s): return s
        case .busy(let p): return "cgroup \(p) still has processes"
        }
    }
}

public enum Cgroups {
    public static let defaultRoot = "/sys/fs/cgroup"
    static let cgroup2Magic = 0x6367_7270

    /// The manager for this host's layout: v2 when /sys/fs/cgroup is cgroup2 itself, otherwise v1
    /// (a hybrid host's empty `unified` mount carries no controllers and is not used).
    public static func manager(path: String, root: String = defaultRoot) throws -> CgroupManager {
        let clean = try normalize(path)
        if isUnified(root) { return V2CgroupManager(root: root, path: clean) }
        return V1CgroupManager(hierarchies: hostHierarchies, path: clean)
    }

    /// Parsed once per process: a runtime command never changes its own mount namespace.
    static let hostHierarchies = v1Hierarchies()

    /// Whether `path` exists as a cgroup in any hierarchy (a leftover check: v1 hierarchies are
    /// created one by one, so any of them may outlive the others).
    public static func exists(path: String, root: String = defaultRoot) -> Bool {
        guard let clean = try? normalize(path) else { return false }
        if isUnified(root) { return FileIO.exists(root + clean) }
        return Set(hostHierarchies.values).contains { FileIO.exists($0 + clean) }
    }

    public static func isUnified(_ root: String = defaultRoot) -> Bool {
        berth_statfs_type(root) == cgroup2Magic
    }

    /// `foo/bar` and `/foo/bar` both name `/foo/bar` under the hierarchy root; `..` is refused.
    public static func normalize(_ path: String) throws -> String {
        let parts = path.split(separator: "/")
        if parts.contains("..") { throw CgroupError.invalidPath(path) }
        return "/" + parts.joined(separator: "/")
    }

    /// Controller name → mount point for every v1 hierarchy (`cpu,cpuacct` yields both names;
    /// named hierarchies keep their `name=` key, as in `/proc/self/cgroup`).
    public static func v1Hierarchies(mountinfo: String? = nil) -> [String: String] {
        let text = mountinfo ?? ((try? FileIO.readString("/proc/self/mountinfo")) ?? "")
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let tail = halves[1].split(separator: " ")
            guard tail.count >= 3, tail[0] == "cgroup" else { continue }
            let point = String(halves[0].split(separator: " ")[4])
            for option in tail[2].split(separator: ",") where option != "rw" && option != "ro" {
                result[String(option)] = point
            }
        }
        return result
    }
}

extension Substring {
    func components(separatedBy separator: String) -> [String] {
        String(self).components(separatedBy: separator)
    }
}

extension String {
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
