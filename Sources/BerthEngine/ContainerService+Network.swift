import BerthAPI
import BerthNetwork
import BerthSystem
import Glibc

/// A container's side of networking: which networks it is configured for, setting them up at
/// start and releasing them at exit, its /etc files, and how inspect and `ps` show it.
extension ContainerService {
    /// The endpoints a new container is configured for: its network mode's network plus what
    /// `NetworkingConfig` names (aliases, `--ip`). Unknown networks fail the create, as Docker's.
    func endpointsForCreate(_ host: HostConfig, _ networking: NetworkingConfig?, macAddress: String? = nil) async throws -> [String: EndpointSettings] {
        let mode = host.NetworkMode ?? "default"
        if mode.hasPrefix("container:") {
            _ = try find(String(mode.dropFirst("container:".count)))  // must exist, as Docker checks at create
            return [:]
        }
        if try NamespaceJoins.pinned(mode) != nil { return [:] }
        var out: [String: EndpointSettings] = [:]
        guard let primary = try await networks.resolve(mode: mode) else { return [:] }
        out[primary.name] = EndpointSettings()
        // API < 1.44 sent the MAC in Config; since then it is per endpoint (moby migrates the old
        // field onto the primary network's endpoint the same way).
        if let mac = macAddress, !mac.isEmpty { out[primary.name]?.MacAddress = mac }
        // On a user network, `--link` is a name the container resolves (moby moves the links there).
        if !primary.isPredefined, let links = host.Links, !links.isEmpty {
            out[primary.name]?.Links = links.map { let l = Self.parseLink($0); return l.name + ":" + l.alias }
        }
        for (name, settings) in networking?.EndpointsConfig ?? [:] {
            let net = try await networks.find(name == "default" ? "bridge" : name)
            if (primary.driver != "bridge" || net.driver != "bridge") && net.id != primary.id {
                throw EngineError.invalid("Container cannot be connected to network endpoints: \(primary.name), \(net.name)")
            }
            if net.isPredefined, !(settings.Aliases ?? []).isEmpty {
                throw EngineError.invalid("network-scoped alias is supported only for containers in user defined networks")
            }
            var s = settings
            s.NetworkID = net.id
            if s.MacAddress.isEmpty, net.id == primary.id, let mac = out[primary.name]?.MacAddress { s.MacAddress = mac }
            if !s.MacAddress.isEmpty { _ = try NetworkService.parseMAC(s.MacAddress) }
            out[net.name] = s
        }
        return out
    }

    /// Joins the container's network namespace: a new one with its endpoints and ports, the
    /// host's (nil), another container's, or one pinned at a path (a CRI pod's), which its owner
    /// set up.
    func setUpNetwork(_ record: inout ContainerRecord) async throws -> NetworkSetup {
        let mode = record.hostConfig.NetworkMode ?? "default"
        if let path = try NamespaceJoins.pinned(mode) {
            return NetworkSetup(namespace: path, endpoints: [:], ports: [:], addresses: [], embeddedDNS: false)
        }
        if mode.hasPrefix("container:") {
            let target = try find(String(mode.dropFirst("container:".count)))
            guard target.state.Running else { throw EngineError.conflict("cannot join network of a non running container: \(target.id)") }
            let path = await networks.namespace(of: target.id) ?? (target.hostConfig.NetworkMode == "host" ? nil : "/proc/\(target.state.Pid)/ns/net")
            return NetworkSetup(namespace: path, endpoints: [:], ports: [:], addresses: [], embeddedDNS: false)
        }
        let exposed = Array((record.config.ExposedPorts ?? [:]).keys) + Array((record.hostConfig.PortBindings ?? [:]).keys)
        let setup = try await networks.setUp(container: record.id, name: record.name,
                                             mode: mode, endpoints: record.endpoints ?? [:],
                                             bindings: record.hostConfig.PortBindings ?? [:], publishAll: record.hostConfig.PublishAllPorts == true,
                                             exposed: exposed.map { $0.contains("/") ? $0 : $0 + "/tcp" })
        for (name, settings) in setup.endpoints { record.endpoints?[name] = settings }
        record.ports = setup.ports
        record.sandboxKey = setup.namespace
        return setup
    }

    /// Gives back what the run held; the endpoints keep what was asked (aliases, `--ip`).
    func tearDownNetwork(_ record: inout ContainerRecord) async {
        await networks.tearDown(container: record.id)
        if var endpoints = record.endpoints {
            for (name, e) in endpoints { endpoints[name] = Self.configured(e) }
            record.endpoints = endpoints
        }
        record.ports = nil
        record.sandboxKey = nil
    }

    static func configured(_ e: EndpointSettings) -> EndpointSettings {
        var s = EndpointSettings()
        s.IPAMConfig = e.IPAMConfig
        s.Aliases = e.Aliases
        s.Links = e.Links
        s.DriverOpts = e.DriverOpts
        s.NetworkID = e.NetworkID
        return s
    }

    /// At boot: networks re-claim the addresses running containers hold and sweep the rest.
    func restoreNetworks() async {
        let running = containers.values.filter { $0.state.Running }.map {
            NetworkService.Running(id: $0.id, name: $0.name, endpoints: $0.endpoints ?? [:], ports: $0.ports ?? [:])
        }
        do { try await networks.boot(running: running) } catch {
            log.error("restoring networks: \(error)")
        }
    }

    // MARK: /etc files

    /// /etc/hostname, /etc/hosts and /etc/resolv.conf, bound into the container.
    func writeEtcFiles(_ record: ContainerRecord, _ network: NetworkSetup, extraHosts: [String] = []) throws {
        let dir = containerDir(record.id)
        let mode = record.hostConfig.NetworkMode ?? "default"
        if mode.hasPrefix("container:"), let target = try? find(String(mode.dropFirst("container:".count))) {
            for file in ["hostname", "hosts", "resolv.conf"] {
                try AtomicFile.write(dir + "/" + file, (try? FileIO.read(containerDir(target.id) + "/" + file)) ?? [], durable: false)
            }
            return
        }
        let isHost = network.namespace == nil
        let hostname = record.config.Hostname ?? record.shortID
        try AtomicFile.write(dir + "/hostname", Array((hostname + "\n").utf8), durable: false)
        var hosts: String
        if isHost {
            hosts = (try? FileIO.readString("/etc/hosts")) ?? "127.0.0.1\tlocalhost\n"
        } else {
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
            hosts += "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        }
        for extra in record.hostConfig.ExtraHosts ?? [] {
            let parts = extra.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { hosts += "\(parts[1])\t\(parts[0])\n" }
        }
        for line in extraHosts { hosts += line + "\n" }
        if let ip = network.addresses.first { hosts += "\(ip)\t\(hostname)\n" }
        try AtomicFile.write(dir + "/hosts", Array(hosts.utf8), durable: false)
        try AtomicFile.write(dir + "/resolv.conf", Array(Self.resolvConf(record.hostConfig, embedded: network.embeddedDNS, isHost: isHost).utf8), durable: false)
        if let idmap = idmap(for: record) {
            // the container's root may edit them, as it may without remapping
            for file in ["hostname", "hosts", "resolv.conf"] { chown(dir + "/" + file, idmap.uid, idmap.gid) }
        }
    }

    /// Docker's resolv.conf: the embedded server on user networks; otherwise the host's, minus
    /// loopback servers a container cannot reach (Google's public servers when none remain);
    /// `--dns`, `--dns-search` and `--dns-option` replace their parts.
    static func resolvConf(_ host: HostConfig, embedded: Bool, isHost: Bool) -> String {
        let lines = ((try? FileIO.readString("/etc/resolv.conf")) ?? "").split(separator: "\n").map(String.init)
        func field(_ line: String) -> [String] { line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        var servers = lines.map(field).filter { $0.first == "nameserver" && $0.count > 1 }.map { $0[1] }
        var search = lines.map(field).last { $0.first == "search" || $0.first == "domain" }.map { Array($0.dropFirst()) } ?? []
        var options = lines.map(field).filter { $0.first == "options" }.flatMap { $0.dropFirst() }
        if !isHost {
            servers = servers.filter { !$0.hasPrefix("127.") && $0 != "::1" }
            if servers.isEmpty { servers = ["8.8.8.8", "8.8.4.4"] }
        }
        if let dns = host.Dns, !dns.isEmpty { servers = dns }
        if let s = host.DnsSearch, !s.isEmpty { search = s == ["."] ? [] : s }
        if let o = host.DnsOptions, !o.isEmpty { options = o }
        if embedded {
            servers = [DNSServer.address]
            if !options.contains(where: { $0.hasPrefix("ndots:") }) { options.append("ndots:0") }
        }
        var out = ""
        if !search.isEmpty { out += "search " + search.joined(separator: " ") + "\n" }
        out += servers.map { "nameserver \($0)\n" }.joined()
        if !options.isEmpty { out += "options " + options.joined(separator: " ") + "\n" }
        return out
    }

    // MARK: views

    /// `NetworkSettings` of inspect: per-network endpoints, and the default bridge's at the top
    /// level (the deprecated fields Docker still fills for it).
    func networkSettings(_ r: ContainerRecord) -> NetworkSettings {
        var n = NetworkSettings()
        n.Networks = r.endpoints ?? [:]
        n.Ports = r.ports ?? [:]
        n.SandboxKey = r.sandboxKey ?? ""
        n.SandboxID = r.sandboxKey == nil ? "" : String(r.id.reversed())
        if let bridge = n.Networks["bridge"] {
            n.EndpointID = bridge.EndpointID
            n.Gateway = bridge.Gateway
            n.IPAddress = bridge.IPAddress
            n.IPPrefixLen = bridge.IPPrefixLen
            n.MacAddress = bridge.MacAddress
        }
        return n
    }

    /// `ps`' ports while the container runs: each published binding, and exposed ports without
    /// one. A container that is not running has none, as dockerd's network settings are empty then.
    func portSummaries(_ r: ContainerRecord) -> [PortSummary] {
        var out: [PortSummary] = []
        guard r.state.Running else { return out }
        let live = r.ports ?? [:]
        let exposed = Set((r.config.ExposedPorts ?? [:]).keys.map { $0.contains("/") ? $0 : $0 + "/tcp" })
        for key in exposed.union(live.keys).sorted() {
            let (port, proto) = NetworkService.splitPort(key)
            let bindings = (live[key] ?? nil) ?? []
            if bindings.isEmpty {
                var p = PortSummary(); p.PrivatePort = port; p.Type = proto
                out.append(p)
            }
            for b in bindings {
                var p = PortSummary(); p.PrivatePort = port; p.Type = proto
                p.IP = b.HostIp; p.PublicPort = Int(b.HostPort ?? "")
                out.append(p)
            }
        }
        return out
    }

    // MARK: connect

    /// `network connect`: configured at once; a running container is plugged in now.
    public func connect(network ref: String, container: String, endpoint: EndpointSettings?) async throws {
        try await serialized(container) { try await connectHeld(network: ref, id: $0, endpoint: endpoint) }
    }

    func connectHeld(network ref: String, id: String, endpoint: EndpointSettings?) async throws {
        var record = try find(id)
        let net = try await networks.find(ref)
        let mode = record.hostConfig.NetworkMode ?? "default"
        if mode == "host" || mode == "none" || mode.hasPrefix("container:") || mode.hasPrefix("ns:") || net.driver != "bridge" {
            throw EngineError.forbidden("container cannot be disconnected from host network or connected to host network")
        }
        if record.endpoints?[net.name] != nil {
            throw EngineError.forbidden("endpoint with name \(record.name) already exists in network \(net.name)")
        }
        var settings = endpoint ?? EndpointSettings()
        settings.NetworkID = net.id
        if record.state.Running {
            settings = try await networks.connectRunning(container: record.id, name: record.name,
                                                         network: net, settings: settings)
        }
        record.endpoints = (record.endpoints ?? [:]).merging([net.name: settings]) { $1 }
        try save(record)
        events.publish("network", "connect", id: net.id, attributes: ["container": record.id, "name": net.name, "type": net.driver])
    }

    public func disconnect(network ref: String, container: String, force: Bool) async throws {
        try await serialized(container) { try await disconnectHeld(network: ref, id: $0) }
    }

    func disconnectHeld(network ref: String, id: String) async throws {
        var record = try find(id)
        let net = try await networks.find(ref)
        guard record.endpoints?[net.name] != nil else {
            throw EngineError.forbidden("container \(record.id) is not connected to network \(net.name)")
        }
        if record.state.Running { try await networks.disconnectRunning(container: record.id, network: net) }
        record.endpoints?[net.name] = nil
        try save(record)
        events.publish("network", "disconnect", id: net.id, attributes: ["container": record.id, "name": net.name, "type": net.driver])
    }

    /// Networks any container is configured for (not pruned).
    public func networksInUse() -> Set<String> {
        Set(containers.values.flatMap { ($0.endpoints ?? [:]).values.map(\.NetworkID) })
    }
}
