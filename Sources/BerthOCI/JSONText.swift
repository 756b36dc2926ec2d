/// JSON string quoting for the few outputs written by hand to keep a fixed key order
/// (Foundation's encoder orders keys by hash unless sorted).
public enum JSONText {
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension RuntimeState {
    /// runc's `state` output: its key order, two-space indent.
    public var prettyJSON: String {
        var fields: [(String, String)] = [
            ("ociVersion", JSONText.quote(ociVersion)), ("id", JSONText.quote(id)), ("pid", String(pid)),
            ("status", JSONText.quote(status.rawValue)), ("bundle", JSONText.quote(bundle)),
            ("rootfs", JSONText.quote(rootfs)), ("created", JSONText.quote(created)), ("owner", JSONText.quote(owner)),
        ]
        if let annotations, !annotations.isEmpty {
            let inner = annotations.sorted { $0.key < $1.key }
                .map { "    \(JSONText.quote($0.key)): \(JSONText.quote($0.value))" }.joined(separator: ",\n")
            fields.append(("annotations", "{\n" + inner + "\n  }"))
        }
        return "{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}"
    }
}
