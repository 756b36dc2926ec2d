import BerthOCI

/// Device cgroup rules in the two forms the kernel takes: v1's `devices.allow` lines and the
/// v2 eBPF program (`DeviceFilter`). Wildcards (`nil` or negative) become `*`/"any".
public enum DeviceRules {
    public static func v1Line(_ rule: Spec.DeviceRule) -> String {
        let type = rule.type ?? "a"
        if type == "a" && rule.major == nil && rule.minor == nil { return "a *:* \(rule.access ?? "rwm")" }
        return "\(type) \(number(rule.major)):\(number(rule.minor)) \(rule.access ?? "rwm")"
    }

    static func number(_ n: Int64?) -> String {
        guard let n, n >= 0 else { return "*" }
        return String(n)
    }

    /// Allow rules every container gets (runc's "AllowedDevices", which Docker's containers run
    /// with): mknod of any node (using one is what the rules police), null, zero, full, tty,
    /// random, urandom, ptmx, the devpts slaves and tun, plus `extra` listed in the spec.
    public static func defaultAllows(extra: [Spec.Device]) -> [Spec.DeviceRule] {
        let builtin: [(String, Int64, Int64?)] = [
            ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 5, 0), ("c", 1, 8), ("c", 1, 9), ("c", 5, 2), ("c", 136, nil), ("c", 10, 200),
        ]
        return [Spec.DeviceRule(allow: true, type: "c", major: nil, minor: nil, access: "m"),
                Spec.DeviceRule(allow: true, type: "b", major: nil, minor: nil, access: "m")]
            + builtin.map { Spec.DeviceRule(allow: true, type: $0.0, major: $0.1, minor: $0.2, access: "rwm") }
            + extra.map { Spec.DeviceRule(allow: true, type: $0.type == "u" ? "c" : $0.type, major: $0.major, minor: $0.minor, access: "rwm") }
    }
}
