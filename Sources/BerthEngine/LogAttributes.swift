import BerthAPI

extension ContainerService {
    /// The `attrs` of a container's json-file entries (`docker logs --details`), as moby's
    /// `logger.Info.ExtraAttributes` picks them from the labels the `labels` log option names and
    /// the environment variables `env` names. nil when nothing is picked. `labels-regex` and
    /// `env-regex` are not applied: Swift's regexes backtrack (Go's RE2 does not), and a client's
    /// pattern must not be able to hold the engine's actor at a container's start.
    static func logAttributes(_ record: ContainerRecord) -> [String: String]? {
        let options = record.hostConfig.LogConfig?.Config ?? [:]
        var environment: [String: String] = [:]
        for entry in record.config.Env ?? [] {
            if let equals = entry.firstIndex(of: "=") { environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...]) }
        }
        var picked: [String: String] = [:]
        for (values, named) in [(record.config.Labels ?? [:], options["labels"]), (environment, options["env"])] {
            for key in (named ?? "").split(separator: ",").map(String.init) { if let value = values[key] { picked[key] = value } }
        }
        return picked.isEmpty ? nil : picked
    }
}
