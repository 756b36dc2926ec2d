import BerthAPI
import BerthSystem

/// Legacy links (`--link name:alias`). On the default bridge, as moby's `links.go`: the linked
/// container must run; the linking one gets `ALIAS_NAME`, `ALIAS_ENV_*` and `ALIAS_PORT*`
/// variables and an /etc/hosts line for the alias, the name and the hostname. On a user network
/// a link is a name only the linking container resolves (see `DNSServer.addLinks`).
extension ContainerService {
    /// `name:alias`, `/name:/parent/alias` (inspect's form) or `name` (alias = name).
    static func parseLink(_ spec: String) -> (name: String, alias: String) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 } ?? ""
        let alias = parts.count > 1 ? String(parts[1].split(separator: "/").last ?? "") : name
        return (name, alias.isEmpty ? name : alias)
    }

    /// Default-bridge links as inspect shows them (`/target:/parent/alias`), checked to name
    /// containers; on a user network a link may name a container that does not exist yet.
    func normalizedLinks(_ links: [String]?, parent: String, mode: String?) throws -> [String]? {
        guard let links, !links.isEmpty, ["", "default", "bridge"].contains(mode ?? "") else { return links }
        return try links.map { spec in
            let (name, alias) = Self.parseLink(spec)
            guard let target = try? find(name) else { throw EngineError.notFound("could not get container for \(name)") }
            return "/\(target.name):/\(parent)/\(alias)"
        }
    }

    /// The running targets of a default-bridge container's links, with their bridge address.
    func legacyLinks(_ record: ContainerRecord) throws -> [(alias: String, target: ContainerRecord, ip: String)] {
        try (record.hostConfig.Links ?? []).map { spec in
            let (name, alias) = Self.parseLink(spec)
            guard let target = try? find(name), target.state.Running else {
                throw EngineError.invalid("Cannot link to a non running container: /\(name) AS /\(record.name)/\(alias)")
            }
            guard let ip = target.endpoints?["bridge"]?.IPAddress, !ip.isEmpty else {
                throw EngineError.invalid("Cannot link to /\(target.name), as it does not belong to the default network")
            }
            return (alias, target, ip)
        }
    }

    /// moby's `Link.ToEnv`.
    static func linkEnvironment(alias: String, parent: String, target: ContainerRecord, ip: String) -> [String] {
        let prefix = String(alias.uppercased().map { $0 == "-" ? "_" : $0 })
        let ports = (target.config.ExposedPorts ?? [:]).keys.compactMap { key -> (Int, String)? in
            let parts = key.split(separator: "/")
            guard let port = parts.first.flatMap({ Int($0) }) else { return nil }
            return (port, parts.count > 1 ? String(parts[1]) : "tcp")
        }.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 == "tcp") }
        var env: [String] = []
        if let (port, proto) = ports.first { env.append("\(prefix)_PORT=\(proto)://\(ip):\(port)") }
        for (port, proto) in ports {
            let key = "\(prefix)_PORT_\(port)_\(proto.uppercased())"
            env += ["\(key)=\(proto)://\(ip):\(port)", "\(key)_ADDR=\(ip)", "\(key)_PORT=\(port)", "\(key)_PROTO=\(proto)"]
        }
        env.append("\(prefix)_NAME=/\(parent)/\(alias)")
        for entry in target.config.Env ?? [] {
            let kv = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, kv[0] != "HOME", kv[0] != "PATH" else { continue }
            env.append("\(prefix)_ENV_\(kv[0])=\(kv[1])")
        }
        return env
    }

    /// /etc/hosts lines for the links: the alias, the target's hostname, and its name if the
    /// alias differs from it.
    static func linkHosts(_ links: [(alias: String, target: ContainerRecord, ip: String)]) -> [String] {
        links.map { link in
            var names = [link.alias, link.target.config.Hostname ?? link.target.shortID]
            if link.alias != link.target.name { names.append(link.target.name) }
            return "\(link.ip)\t\(names.joined(separator: " "))"
        }
    }

    /// `DELETE /containers/{parent}/{alias}?link=1`: the parent forgets the link.
    public func removeLink(parent ref: String, alias: String) throws {
        var record = try find(ref)
        let before = record.hostConfig.Links ?? []
        let after = before.filter { Self.parseLink($0).alias != alias }
        guard after.count < before.count else { throw EngineError.notFound("Could not find container for entity id /\(record.name)/\(alias)") }
        record.hostConfig.Links = after
        try save(record)
    }
}
