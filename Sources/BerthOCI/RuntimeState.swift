/// The OCI runtime `state` (runtime.md "State"), with the extra fields runc prints
/// (`rootfs`, `created`, `owner`) so tools that parse runc's output read ours.
public struct RuntimeState: Codable, Equatable, Sendable {
    public var ociVersion: String
    public var id: String
    public var pid: Int32
    public var status: Status
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?

    public enum Status: String, Codable, Sendable {
        case creating, created, running, paused, stopped
    }

    public init(id: String, pid: Int32, status: Status, bundle: String, rootfs: String, created: String,
                annotations: [String: String]?) {
        self.ociVersion = Spec.version
        self.id = id; self.pid = pid; self.status = status; self.bundle = bundle; self.rootfs = rootfs
        self.created = created; self.owner = ""; self.annotations = annotations
    }
}
