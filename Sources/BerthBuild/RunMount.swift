/// `RUN --mount=…`, as BuildKit's Dockerfile frontend reads it: `type=cache|bind|tmpfs` (bind by
/// default), `target` (or `dst`, `destination`), `source`/`src`, `from`, `id`, `sharing`, `ro`/`rw`,
/// `mode`, `uid`, `gid`, `size`. Secrets and SSH need a build session, which the classic endpoint
/// does not have: they are refused by name rather than run without.
public struct RunMount: Equatable, Sendable {
    public enum Kind: String, Sendable { case bind, cache, tmpfs }
    public enum Sharing: String, Sendable { case shared, locked, `private` }

    public var kind: Kind = .bind
    public var target = ""
    public var source: String?
    /// A stage or image to take a bind's source from (the context when nil).
    public var from: String?
    public var readOnly: Bool
    /// A cache's identity across builds (the target by default).
    public var id: String?
    public var sharing: Sharing = .shared
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// A tmpfs's size in bytes.
    public var size: Int64?
    /// As written, for the step's cache key.
    public var spec: String

    public init(parsing spec: String) throws(DockerfileError) {
        self.spec = spec
        var readOnly: Bool?
        for field in spec.split(separator: ",", omittingEmptySubsequences: true) {
            let kv = field.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            let key = kv[0].lowercased(), value = kv.count > 1 ? kv[1] : nil
            func required() throws(DockerfileError) -> String {
                guard let value, !value.isEmpty else { throw DockerfileError("--mount: \(key) needs a value") }
                return value
            }
            func flag() throws(DockerfileError) -> Bool {
                switch value?.lowercased() {
                case nil, "true", "1": return true
                case "false", "0": return false
                default: throw DockerfileError("--mount: invalid value for \(key): \(value ?? "")")
                }
            }
            switch key {
            case "type":
                let name = try required()
                if name == "secret" || name == "ssh" {
                    throw DockerfileError("--mount=type=\(name) needs a build session (BuildKit's); POST /build has none, so it is not supported here")
                }
                guard let parsed = Kind(rawValue: name) else { throw DockerfileError("--mount: unsupported mount type \"\(name)\"") }
                kind = parsed
            case "target", "dst", "destination": target = try required()
            case "source", "src": source = try required()
            case "from": from = try required()
            case "id": id = try required()
            case "ro", "readonly": readOnly = try flag()
            case "rw", "readwrite": readOnly = !(try flag())
            case "sharing":
                guard let parsed = Sharing(rawValue: try required()) else { throw DockerfileError("--mount: unsupported sharing value \"\(value ?? "")\"") }
                sharing = parsed
            case "mode":
                guard let parsed = UInt32(try required(), radix: 8), parsed <= 0o7777 else { throw DockerfileError("--mount: invalid mode \(value ?? "")") }
                mode = parsed
            case "uid", "gid":
                guard let parsed = UInt32(try required()) else { throw DockerfileError("--mount: invalid \(key) \(value ?? "")") }
                if key == "uid" { uid = parsed } else { gid = parsed }
            case "size":
                guard let parsed = Self.bytes(try required()) else { throw DockerfileError("--mount: invalid size \(value ?? "")") }
                size = parsed
            case "required", "env": throw DockerfileError("--mount: \(key) applies to secrets, which need BuildKit")
            default: throw DockerfileError("--mount: unexpected key '\(key)' in '\(field)'")
            }
        }
        guard !target.isEmpty else { throw DockerfileError("--mount: a target is required") }
        // binds are read-only unless asked (their writes are thrown away anyway); caches are writable
        self.readOnly = readOnly ?? (kind == .bind)
    }

    /// `64m`, `1g`, `512k` or bytes.
    static func bytes(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let units: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        if let unit = lower.last, let multiplier = units[unit], let n = Int64(lower.dropLast()) { return n.multipliedReportingOverflow(by: multiplier).overflow ? nil : n * multiplier }
        if lower.hasSuffix("b"), let n = Int64(lower.dropLast()) { return n }
        return Int64(lower)
    }
}
