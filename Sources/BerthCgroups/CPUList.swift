import BerthSystem

/// The kernel's list syntax for CPUs and memory nodes (`0-3,5`), as `cpuset.cpus`, `cpuset.mems`
/// and `/sys/devices/system/*/online` hold it: a request for a CPU the machine lacks must be
/// refused with Docker's message, not as the kernel's ERANGE from a cgroup write.
public enum CPUList {
    public enum Kind: String, Sendable {
        case cpus = "cpu", mems = "node"

        var noun: (value: String, missing: String) {
            switch self {
            case .cpus: ("cpuset cpus", "CPUs")
            case .mems: ("cpuset mems", "memory nodes")
            }
        }
    }

    /// The members of a list, or nil when it is not one. Bounded: the kernel has no CPU 65536.
    public static func parse(_ text: String) -> Set<Int>? {
        var members = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let lo = Int(bounds[0]), let hi = bounds.count == 2 ? Int(bounds[1]) : lo, 0 <= lo, lo <= hi, hi < 65536 else { return nil }
            members.formUnion(lo...hi)
        }
        return members
    }

    /// What the machine has online (`0` for memory nodes on a kernel without NUMA).
    public static func online(_ kind: Kind) -> String {
        let text = (try? FileIO.readString("/sys/devices/system/\(kind.rawValue)/online"))?.split(whereSeparator: \.isWhitespace).first
        return text.map(String.init) ?? "0"
    }

    /// Docker's check for `--cpuset-cpus` and `--cpuset-mems`: the message when a request cannot be met.
    public static func problem(_ requested: String, _ kind: Kind) -> String? {
        guard let wanted = parse(requested) else { return "Invalid value \(requested) for \(kind.noun.value)" }
        let available = online(kind)
        guard let have = parse(available), wanted.isSubset(of: have) else {
            return "Requested \(kind.noun.missing) are not available - requested \(requested), available: \(available)"
        }
        return nil
    }
}
