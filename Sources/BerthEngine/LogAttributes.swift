import BerthAPI

extension ContainerService {
    /// The `attrs` of a container's json-file entries (`docker logs --details`), as moby's
    /// `logger.Info.ExtraAttributes` picks them: the labels the `labels` log option names or
    /// `labels-regex` matches, the environment variables `env` names or `env-regex` matches (a
    /// search, as Go's `MatchString`). nil when nothing is picked.
    static func logAttributes(_ record: ContainerRecord) -> [String: String]? {
        let options = record.hostConfig.LogConfig?.Config ?? [:]
        var environment: [String: String] = [:]
        for entry in record.config.Env ?? [] {
            if let equals = entry.firstIndex(of: "=") { environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...]) }
        }
        var picked: [String: String] = [:]
        for (values, named, pattern) in [(record.config.Labels ?? [:], options["labels"], options["labels-regex"]),
                                         (environment, options["env"], options["env-regex"])] {
            for key in (named ?? "").split(separator: ",").map(String.init) { if let value = values[key] { picked[key] = value } }
            // an invalid pattern picks nothing; dockerd refuses it at start, Berth keeps the container running
            if let pattern, !pattern.isEmpty, let regex = try? Regex(pattern) {
                for (key, value) in values where key.contains(regex) { picked[key] = value }
            }
        }
        return picked.isEmpty ? nil : picked
    }
}
