/// One line of the JSON message stream that `/images/create`, `/images/{name}/push`, `/build`
/// and `/images/load` send; the docker CLI draws its progress bars from `progressDetail`.
public struct ProgressMessage: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var current: Int64?
        public var total: Int64?
        public init(current: Int64? = nil, total: Int64? = nil) { self.current = current; self.total = total }
    }
    public struct ErrorDetail: Codable, Sendable, Equatable {
        /// A failed build step's exit code.
        public var code: Int?
        public var message: String
        public init(code: Int? = nil, message: String) { self.code = code; self.message = message }
    }
    /// The closing record of a push (tag, digest, size) or a build (the image ID).
    public struct Aux: Codable, Sendable, Equatable {
        public var Tag: String?
        public var Digest: String?
        public var Size: Int?
        public var ID: String?
        public init(Tag: String? = nil, Digest: String? = nil, Size: Int? = nil, ID: String? = nil) {
            self.Tag = Tag; self.Digest = Digest; self.Size = Size; self.ID = ID
        }
    }

    public var status: String?
    public var id: String?
    public var progressDetail: Detail?
    public var progress: String?
    public var stream: String?
    public var errorDetail: ErrorDetail?
    public var error: String?
    public var aux: Aux?

    public init(status: String? = nil, id: String? = nil, progressDetail: Detail? = nil, progress: String? = nil, stream: String? = nil,
                aux: Aux? = nil) {
        self.status = status; self.id = id; self.progressDetail = progressDetail; self.progress = progress; self.stream = stream; self.aux = aux
    }

    public static func failure(_ message: String, code: Int? = nil) -> ProgressMessage {
        var m = ProgressMessage()
        m.errorDetail = ErrorDetail(code: code, message: message)
        m.error = message
        return m
    }

    /// A layer's status line (`Pulling fs layer`, `Pull complete`…), with the empty
    /// `progressDetail` Docker sends so the CLI keeps one line per layer.
    public static func layer(_ id: String, _ status: String, current: Int64? = nil, total: Int64? = nil) -> ProgressMessage {
        ProgressMessage(status: status, id: id, progressDetail: Detail(current: current, total: total),
                        progress: current.map { bar(current: $0, total: total) })
    }

    /// Docker's text bar: `[=====>      ]  1.2MB/3.4MB`.
    public static func bar(current: Int64, total: Int64?) -> String {
        guard let total, total > 0 else { return Size.human(current) }
        let width = 50
        let filled = Int(min(Double(current) / Double(total), 1) * Double(width))
        let arrow = filled >= width ? String(repeating: "=", count: width)
            : String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: width - filled - 1)
        return "[\(arrow)] \(Size.human(current))/\(Size.human(total))"
    }
}

/// The credentials the docker CLI sends in `X-Registry-Auth` (base64url JSON) and in `POST /auth`.
public struct RegistryAuth: Codable, Sendable, Equatable {
    public var username: String?
    public var password: String?
    public var auth: String?
    public var email: String?
    public var serveraddress: String?
    public var identitytoken: String?
    public var registrytoken: String?

    public init(username: String? = nil, password: String? = nil, serveraddress: String? = nil) {
        self.username = username; self.password = password; self.serveraddress = serveraddress
    }
}
