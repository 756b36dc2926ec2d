import BerthOCI
import BerthSystem
import Logging

/// berthd's log: stderr in dockerd's (logrus) text format, `time="…" level=info msg="…" key=value`,
/// so that whatever reads dockerd's journal (an operator's grep, a log shipper's parser) reads
/// Berth's too. Each line is one write(2): lines from concurrent tasks never interleave.
public struct DaemonLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(level: Logger.Level) { logLevel = level }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "time=\"\(Timestamp.now())\" level=\(Self.name(event.level)) msg=\(Self.value(event.message.description))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(Self.value(value.description))" }
        FileIO.stderr(line + "\n")
    }

    /// logrus's names (it has no notice; critical is its fatal).
    static func name(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warning"
        case .error: "error"
        case .critical: "fatal"
        }
    }

    /// A level as dockerd's `--log-level` and daemon.json's `log-level` accept it.
    public static func level(parsing text: String) -> Logger.Level? {
        switch text.lowercased() {
        case "trace": .trace
        case "debug": .debug
        case "info": .info
        case "warn", "warning": .warning
        case "error": .error
        case "fatal", "panic": .critical
        default: nil
        }
    }

    /// Quoted as logrus quotes: only when it holds more than letters, digits and `-._/@^+`.
    static func value(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "-._/@^+".unicodeScalars.contains(c)
        }
        return plain ? text : JSONText.quote(text)
    }
}
