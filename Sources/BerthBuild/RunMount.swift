/// `RUN --mount=…`, as BuildKit's Dockerfile frontend reads it: `type=cache|bind|tmpfs` (bind by
/// default), `target` (or `dst`, `destination`), `source`/`src`, `from`, `id`, `sharing`, `ro`/`rw`,
/// `mode`, `uid`, `gid`, `size`; `type=secret|ssh` with `required` and (secrets) `env`. A secret's
/// value and an SSH agent come with the build request (`berth build --secret`, `--ssh`), as
/// BuildKit's session brings them, never from the context.
public struct RunMount: Equatable, Sendable {
    public enum Kind: String, Sendable { case bind, cache, tmpfs, secret, ssh }
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
    /// A secret or agent the build must have (else the step runs without the mount).
    public var required = false
    /// A secret's environment variable (Dockerfile 1.10's `env=`): with no target, no file.
    public var env: String?
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
            case "required": self.required = try flag()
            case "env": env = try required()
            default: throw DockerfileError("--mount: unexpected key '\(key)' in '\(field)'")
            }
        }
        switch kind {
        case .secret:
            // BuildKit's defaults: the id from the source or target's name, the file in /run/secrets
            guard from == nil else { throw DockerfileError("secret mount should not have a from") }
            guard !(source ?? "").isEmpty || !target.isEmpty || !(id ?? "").isEmpty || env != nil else {
                throw DockerfileError("invalid secret mount. one of source, target required")
            }
            id = id ?? source.map(Self.baseName) ?? (target.isEmpty ? env : Self.baseName(target))
            if target.isEmpty && env == nil { target = "/run/secrets/" + Self.baseName(id ?? "") }
            mode = mode ?? 0o400
        case .ssh:
            guard from == nil else { throw DockerfileError("ssh mount should not have a from") }
            id = id ?? "default"
            mode = mode ?? 0o600
        default:
            guard !required, env == nil else { throw DockerfileError("--mount: required and env apply to secret and ssh mounts") }
            guard !target.isEmpty else { throw DockerfileError("--mount: a target is required") }
        }
        // binds are read-only unless asked (their writes are thrown away anyway); caches are writable
        self.readOnly = readOnly ?? (kind == .bind)
    }

    static func baseName(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }

    /// `64m`, `1g`, `512k` or bytes.
    static func bytes(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let units: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        if let unit = lower.last, let multiplier = units[unit], let n = Int64(lower.dropLast()) { return n.multipliedReportingOverflow(by: multiplier).overflow ? nil : n * multiplier }
        if lower.hasSuffix("b"), let n = Int64(lower.dropLast()) { return n }
        return Int64(lower)
    }
}
