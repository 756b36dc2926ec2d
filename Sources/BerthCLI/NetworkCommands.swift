import BerthAPI
import BerthSystem
import FoundationEssentials

/// `berth network …` and `berth volume …`, with docker's flags, tables and messages.
extension CLI {
    static func keyValues(_ items: [String]) -> [String: String] {
        Dictionary(items.map { s in
            let kv = s.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return (kv.first ?? "", kv.count > 1 ? kv[1] : "")
        }, uniquingKeysWith: { $1 })
    }

    func filterQuery(_ f: Flags) -> [(String, String)] {
        f.has("filter") ? [("filters", Self.filtersJSON(f.all("filter")))] : []
    }

    // MARK: network

    func networkCreate(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("d", "driver", value: true), .init(nil, "subnet", value: true), .init(nil, "gateway", value: true),
                                        .init(nil, "ip-range", value: true), .init(nil, "internal"), .init(nil, "attachable"),
                                        .init(nil, "label", value: true), .init("o", "opt", value: true), .init(nil, "ipv6"),
                                        .init(nil, "aux-address", value: true), .init(nil, "ipv4"), .init(nil, "ipam-driver", value: true),
                                        .init(nil, "ipam-opt", value: true), .init(nil, "scope", value: true), .init(nil, "config-only"),
                                        .init(nil, "config-from", value: true), .init(nil, "ingress")])
        guard f.positionals.count == 1 else { throw Flags.UsageError(description: "\"\(name) network create\" requires exactly 1 argument.") }
        var request = NetworkCreateRequest()
        request.Name = f.positionals[0]
        request.Driver = f.string("driver") ?? "bridge"
        request.Internal = f.bool("internal")
        request.Attachable = f.bool("attachable")
        if f.bool("ipv6") { request.EnableIPv6 = true }
        if f.has("ipv4") { request.EnableIPv4 = f.bool("ipv4") }
        if f.has("scope") { request.Scope = f.string("scope") }
        if f.bool("ingress") { request.Ingress = true }
        if f.bool("config-only") { request.ConfigOnly = true }
        if let from = f.string("config-from") { request.ConfigFrom = ConfigReference(); request.ConfigFrom?.Network = from }
        request.Labels = Self.keyValues(f.all("label"))
        request.Options = Self.keyValues(f.all("opt"))
        if f.has("subnet") || f.has("gateway") || f.has("ip-range") || f.has("aux-address") {
            guard f.has("subnet") else { throw Flags.UsageError(description: "every ip-range or gateway must have a corresponding subnet") }
            // one pool per --subnet (an IPv4 and an IPv6 one with --ipv6); gateways, ranges and aux
            // addresses go to the pool of their address family, as the docker CLI pairs them
            let isV6 = { (text: String) in text.contains(":") }
            var ipam = IPAM()
            ipam.Config = f.all("subnet").map { subnet in
                var pool = IPAMPoolConfig()
                pool.Subnet = subnet
                pool.Gateway = f.all("gateway").first { isV6($0) == isV6(subnet) }
                pool.IPRange = f.all("ip-range").first { isV6($0) == isV6(subnet) }
                let aux = Self.keyValues(f.all("aux-address")).filter { isV6($0.value) == isV6(subnet) }
                pool.AuxiliaryAddresses = aux.isEmpty ? nil : aux
                return pool
            }
            request.IPAM = ipam
        }
        if f.has("ipam-driver") || f.has("ipam-opt") {
            var ipam = request.IPAM ?? IPAM()
            ipam.Driver = f.string("ipam-driver") ?? "default"
            if f.has("ipam-opt") { ipam.Options = Self.keyValues(f.all("ipam-opt")) }
            request.IPAM = ipam
        }
        let created = try client.call("POST", "/networks/create", json: request)
        out((created["Id"]?.string ?? "") + "\n")
        return 0
    }

    func networkList(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("q", "quiet"), .init("f", "filter", value: true), .init(nil, "format", value: true), .init(nil, "no-trunc")])
        let list = try client.call("GET", "/networks", query: filterQuery(f)).array
        let trunc = !f.bool("no-trunc")
        if f.bool("quiet") {
            for n in list { out(String((n["Id"]?.string ?? "").prefix(trunc ? 12 : 64)) + "\n") }
            return 0
        }
        let rows: [JSONValue] = list.map { n in
            let labels = (n["Labels"].map { v -> [(String, JSONValue)] in if case .object(let o) = v { return o } else { return [] } } ?? [])
            return .object([("ID", .string(String((n["Id"]?.string ?? "").prefix(trunc ? 12 : 64)))), ("Name", .string(n["Name"]?.string ?? "")),
                            ("Driver", .string(n["Driver"]?.string ?? "")), ("Scope", .string(n["Scope"]?.string ?? "")),
                            ("IPv6", .string(n["EnableIPv6"] == .bool(true) ? "true" : "false")), ("Internal", .string(n["Internal"] == .bool(true) ? "true" : "false")),
                            ("Labels", .string(labels.map { "\($0.0)=\($0.1.string ?? "")" }.sorted().joined(separator: ","))),
                            ("CreatedAt", .string(n["Created"]?.string ?? ""))])
        }
        try printRows(rows, format: f.string("format"), defaultFormat: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                      titles: ["ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL",
                               "Labels": "LABELS", "CreatedAt": "CREATED AT"])
        return 0
    }

    func networkRemove(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "force")])
        try requireArgs(f, 1, "\(name) network rm")
        return each(f.positionals) { n in
            do {
                _ = try client.open("DELETE", "/networks/\(n)").body()
            } catch let e as APIClient.Failure where e.status == 404 && f.bool("force") { return }
            out(n + "\n")
        }
    }

    func networkConnect(_ args: [String], connect: Bool) throws -> Int32 {
        let f = try Flags(args, specs: connect ? [.init(nil, "alias", value: true), .init(nil, "ip", value: true), .init(nil, "ip6", value: true),
                                                  .init(nil, "link", value: true), .init(nil, "link-local-ip", value: true),
                                                  .init(nil, "driver-opt", value: true), .init(nil, "gw-priority", value: true)]
                                              : [.init("f", "force")])
        guard f.positionals.count == 2 else {
            throw Flags.UsageError(description: "\"\(name) network \(connect ? "connect" : "disconnect")\" requires exactly 2 arguments.")
        }
        var body = NetworkConnectRequest()
        body.Container = f.positionals[1]
        if connect {
            var e = EndpointSettings()
            if f.has("alias") { e.Aliases = f.all("alias") }
            if f.has("link") { e.Links = f.all("link") }
            if f.has("ip") || f.has("ip6") || f.has("link-local-ip") {
                var ipam = EndpointIPAMConfig()
                ipam.IPv4Address = f.string("ip")
                ipam.IPv6Address = f.string("ip6")
                if f.has("link-local-ip") { ipam.LinkLocalIPs = f.all("link-local-ip") }
                e.IPAMConfig = ipam
            }
            for option in f.all("driver-opt") {
                let kv = option.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw Flags.UsageError(description: "invalid key value pair format in driver options") }
                e.DriverOpts = (e.DriverOpts ?? [:]).merging([kv[0]: kv[1]]) { $1 }
            }
            e.GwPriority = try f.int("gw-priority") ?? 0
            body.EndpointConfig = e
        } else {
            body.Force = f.bool("force")
        }
        _ = try client.call("POST", "/networks/\(f.positionals[0])/\(connect ? "connect" : "disconnect")", json: body)
        return 0
    }

    // MARK: volume

    func volumeCreate(_ args: [String]) throws -> Int32 {
        let cluster = ["availability", "group", "limit-bytes", "required-bytes", "scope", "secret", "sharing", "topology-preferred",
                       "topology-required", "type"]
        let f = try Flags(args, specs: [.init("d", "driver", value: true), .init(nil, "label", value: true), .init("o", "opt", value: true),
                                        .init(nil, "name", value: true)] + cluster.map { .init(nil, $0, value: true) })
        guard f.positionals.count <= 1 else { throw Flags.UsageError(description: "\"\(name) volume create\" requires at most 1 argument.") }
        var request = VolumeCreateRequest()
        request.Name = f.positionals.first ?? f.string("name")
        request.Driver = f.string("driver") ?? "local"
        request.Labels = Self.keyValues(f.all("label"))
        request.DriverOpts = Self.keyValues(f.all("opt"))
        if cluster.contains(where: f.has) {  // the daemon decides (a swarm manager would make one)
            var spec = ClusterVolumeSpec()
            spec.Group = f.string("group")
            spec.Availability = f.string("availability") ?? "active"
            spec.AccessMode = ClusterVolumeSpec.AccessMode()
            spec.AccessMode?.Scope = f.string("scope") ?? "single"
            spec.AccessMode?.Sharing = f.string("sharing") ?? "none"
            spec.CapacityRange = ClusterVolumeSpec.CapacityRange()
            spec.CapacityRange?.RequiredBytes = try Self.byteSize(f, "required-bytes")
            spec.CapacityRange?.LimitBytes = try Self.byteSize(f, "limit-bytes")
            request.ClusterVolumeSpec = spec
        }
        out((try client.call("POST", "/volumes/create", json: request)["Name"]?.string ?? "") + "\n")
        return 0
    }

    func volumeList(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("q", "quiet"), .init("f", "filter", value: true), .init(nil, "format", value: true),
                                        .init(nil, "cluster")])
        // `--cluster` shows swarm's cluster volumes only: a daemon without swarm has none
        let list = f.bool("cluster") ? [] : try client.call("GET", "/volumes", query: filterQuery(f))["Volumes"]?.array ?? []
        if f.bool("quiet") {
            for v in list { out((v["Name"]?.string ?? "") + "\n") }
            return 0
        }
        let rows: [JSONValue] = list.map { v in
            .object([("Driver", .string(v["Driver"]?.string ?? "")), ("Name", .string(v["Name"]?.string ?? "")),
                     ("Mountpoint", .string(v["Mountpoint"]?.string ?? "")), ("Scope", .string(v["Scope"]?.string ?? ""))])
        }
        try printRows(rows, format: f.string("format"),
                      defaultFormat: f.bool("cluster") ? "table {{.Name}}\t{{.Group}}\t{{.Driver}}\t{{.Availability}}\t{{.Status}}" : "table {{.Driver}}\t{{.Name}}",
                      titles: ["Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Group": "GROUP",
                               "Availability": "AVAILABILITY", "Status": "STATUS"])
        return 0
    }

    func volumeRemove(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "force")])
        try requireArgs(f, 1, "\(name) volume rm")
        return each(f.positionals) { n in
            _ = try client.open("DELETE", "/volumes/\(n)", query: f.bool("force") ? [("force", "1")] : []).body()
            out(n + "\n")
        }
    }

}
