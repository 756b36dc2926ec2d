/// One `GET /events` message, as moby's `events.Message` (with the legacy `status`/`id`/`from`).
public struct EventMessage: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["status", "id", "from", "scope", "time", "timeNano"]

    public struct Actor: Codable, Sendable, Equatable {
        public var ID: String
        public var Attributes: [String: String]
        public init(ID: String, Attributes: [String: String]) { self.ID = ID; self.Attributes = Attributes }
    }
    public var status: String?
    public var id: String?
    public var from: String?
    public var `Type`: String
    public var Action: String
    public var Actor: Actor
    public var scope: String = "local"
    public var time: Int64
    public var timeNano: Int64

    public init(type: String, action: String, actor: Actor, timeNano: Int64) {
        self.Type = type
        self.Action = action
        self.Actor = actor
        self.timeNano = timeNano
        self.time = timeNano / 1_000_000_000
        if type == "container" || type == "image" {
            status = action
            id = actor.ID
            from = type == "container" ? actor.Attributes["image"] : nil
        }
    }
}
