import BerthOCI
import BerthSystem
import FoundationEssentials

/// `docker import --change` / `docker commit --change`: the Dockerfile instructions that only
/// edit the image config (CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR, USER, LABEL, VOLUME, STOPSIGNAL).
public enum ConfigChange {
    public static func apply(_ changes: [String], to config: inout ImageConfig.ContainerConfig) throws {
        for change in changes {
            let trimmed = change.drop(while: { $0 == " " })
            let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? trimmed.endIndex
            let instruction = trimmed[..<space].uppercased()
            let rest = String(trimmed[space...].drop(while: { $0 == " " || $0 == "\t" }))
            switch instruction {
            case "CMD": config.cmd = commandForm(rest)
            case "ENTRYPOINT": config.entrypoint = commandForm(rest)
            case "ENV": config.env = mergeEnv(config.env ?? [], try pairs(rest, instruction: "ENV"))
            case "LABEL":
                var labels = config.labels ?? [:]
                for (k, v) in try pairs(rest, instruction: "LABEL") { labels[k] = v }
                config.labels = labels
            case "EXPOSE":
                var ports = config.exposedPorts ?? [:]
                for port in rest.split(separator: " ") where !port.isEmpty {
                    ports[port.contains("/") ? String(port) : port + "/tcp"] = EmptyObject()
                }
                config.exposedPorts = ports
            case "VOLUME":
                var volumes = config.volumes ?? [:]
                for path in jsonArray(rest) ?? rest.split(separator: " ").map(String.init) where !path.isEmpty {
                    volumes[path] = EmptyObject()
                }
                config.volumes = volumes
            case "WORKDIR": config.workingDir = rest
            case "USER": config.user = rest
            case "STOPSIGNAL": config.stopSignal = rest
            default:
                throw ImageError.invalid("\(instruction.lowercased()) is not a valid change command")
            }
        }
    }

    /// JSON array form as is; shell form wrapped in `/bin/sh -c`.
    static func commandForm(_ text: String) -> [String] {
        jsonArray(text) ?? ["/bin/sh", "-c", text]
    }

    static func jsonArray(_ text: String) -> [String]? {
        guard text.hasPrefix("[") else { return nil }
        return try? JSONDecoder().decode([String].self, from: Data(text.utf8))
    }

    /// `K=V K2="V 2"` or the legacy single-pair form `K V`.
    static func pairs(_ text: String, instruction: String) throws -> [(String, String)] {
        guard !text.isEmpty else { throw ImageError.invalid("\(instruction) requires at least one argument") }
        let words = try ShellWords.split(text)
        if let first = words.first, !first.contains("=") {
            return [(first, String(text.dropFirst(first.count)).trimmed)]
        }
        return try words.map { word in
            guard let eq = word.firstIndex(of: "="), eq != word.startIndex else {
                throw ImageError.invalid("\(instruction) names can not be blank")
            }
            return (String(word[..<eq]), String(word[word.index(after: eq)...]))
        }
    }

    static func mergeEnv(_ env: [String], _ pairs: [(String, String)]) -> [String] {
        var out = env
        for (k, v) in pairs {
            let entry = k + "=" + v
            if let i = out.firstIndex(where: { $0.hasPrefix(k + "=") }) { out[i] = entry } else { out.append(entry) }
        }
        return out
    }
}

/// Splits words with Dockerfile quoting: "double", 'single' and backslash escapes.
public enum ShellWords {
    public static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in text {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" && quote != "'" { escaped = true; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            if c == "\"" || c == "'" { quote = c; inWord = true; continue }
            if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(c)
            inWord = true
        }
        if quote != nil { throw ImageError.invalid("unterminated quote in: \(text)") }
        if inWord { words.append(current) }
        return words
    }
}
