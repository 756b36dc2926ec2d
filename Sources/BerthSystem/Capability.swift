import CBerthLinux
import Glibc

/// Linux capabilities by their OCI names (`CAP_SYS_ADMIN`), as bit numbers (linux/capability.h).
public enum Capability {
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    public static func number(_ name: String) -> Int? {
        let upper = name.uppercased()
        return names.firstIndex(of: upper.hasPrefix("CAP_") ? upper : "CAP_" + upper)
    }

    /// The capabilities this process may still grant (its bounding set): what `--privileged` and
    /// `--cap-add ALL` give, since asking for more fails at capset.
    public static func bounding() -> [String] {
        let status = (try? FileIO.readString("/proc/self/status")) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
              let mask = UInt64(String(line.dropFirst(7)).trimmed, radix: 16) else { return names }
        return names.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
    }

    /// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
    public static func lastCap() -> Int {
        let text = (try? FileIO.readString("/proc/sys/kernel/cap_last_cap")) ?? ""
        return Int(text.trimmed) ?? names.count - 1
    }

    /// A bit mask of the named capabilities; names this kernel does not know are skipped, as runc does.
    public static func mask(_ names: [String]?, lastCap: Int) -> UInt64 {
        var mask: UInt64 = 0
        for name in names ?? [] {
            if let n = number(name), n <= lastCap { mask |= 1 << UInt64(n) }
        }
        return mask
    }

    /// Names unknown to this table, for a clear error instead of a silent drop.
    public static func unknown(_ names: [String]?) -> [String] {
        (names ?? []).filter { number($0) == nil }
    }
}
