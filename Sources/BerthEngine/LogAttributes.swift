import BerthAPI

extension ContainerService {
    /// The `attrs` of a container's json-file entries (`docker logs --details`), as moby's
    /// `logger.Info.ExtraAttributes` picks them: the labels `labels` names or `labels-regex`
    /// matches, the environment variables `env` names or `env-regex` matches. nil when nothing is
    /// picked. The patterns are Go's regexps, matched in linear time (GoRegexp): a client's
    /// pattern cannot hold a container's start. A bad one fails the start as it fails dockerd's.
    static func logAttributes(_ record: ContainerRecord) throws -> [String: String]? {
        let options = record.hostConfig.LogConfig?.Config ?? [:]
        var environment: [String: String] = [:]
        for entry in record.config.Env ?? [] {
            if let equals = entry.firstIndex(of: "=") { environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...]) }
        }
        var picked: [String: String] = [:]
        for (values, named, pattern) in [(record.config.Labels ?? [:], options["labels"], options["labels-regex"]),
                                         (environment, options["env"], options["env-regex"])] {
            for key in (named ?? "").split(separator: ",").map(String.init) { if let value = values[key] { picked[key] = value } }
            guard let pattern, !pattern.isEmpty else { continue }
            let regexp: GoRegexp
            do { regexp = try GoRegexp(pattern) } catch { throw EngineError.invalid("failed to initialize logging driver: \(error)") }
            for (key, value) in values where regexp.matches(key) { picked[key] = value }
        }
        return picked.isEmpty ? nil : picked
    }
}
