import BerthOCI
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
            ? "{\"level\":\"\(level)\",\"msg\":\(JSONText.quote(message)),\"time\":\"\(time)\"}\n"
            : "time=\"\(time)\" level=\(level) msg=\(JSONText.quote(message))\n"
        try? FileIO.write(path, line, flags: O_WRONLY | O_CREAT | O_APPEND)
    }
}
