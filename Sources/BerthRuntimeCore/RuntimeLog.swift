import BerthSystem
import Glibc

/// The runtime's log: `--log FILE` in runc's text or JSON line format (containerd reads it after
/// a failure), with errors always echoed to stderr.
public enum RuntimeLog {
    nonisolated(unsafe) public static var path: String?
    nonisolated(unsafe) public static var json = false

    public static func error(_ message: String) {
        FileIO.stderr("berth-runtime: \(message)\n")
        write(level: "error", message)
    }

    public static func warning(_ message: String) {
        write(level: "warning", message)
        if path == nil { FileIO.stderr("berth-runtime: warning: \(message)\n") }
    }

    static func write(level: String, _ message: String) {
        guard let path else { return }
        let time = Timestamp.now()
        let line = json
            ? "{\"level\":\"\(level)\",\"msg\":\(quote(message)),\"time\":\"\(time)\"}\n"
            : "time=\"\(time)\" level=\(level) msg=\(quote(message))\n"
        try? FileIO.write(path, line, flags: O_WRONLY | O_CREAT | O_APPEND)
    }

    /// JSON string quoting (also valid for logfmt values).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
