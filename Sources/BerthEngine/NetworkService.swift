import BerthAPI
import BerthDiagnostics
import BerthNetwork
import BerthSystem
import FoundationEssentials
import Glibc
import Logging

/// One network as berthd keeps it, in `<data-root>/network/networks.json`.
struct NetworkRecord: Codable, Sendable {
    var id: String
    var name: String
    /// `bridge`, `host` or `null` (Docker's names for the drivers of `bridge`, `host`, `none`).
    var driver: String
    var created: String
    var subnet: String?
    var gateway: String?
    var ipRange: String?
    var isInternal = false
    var attachable = false
    var labels: [String: String] = [:]
    var options: [String: String] = [:]
    /// The Linux bridge: `berth0` for the default network, `br-<id12>` for the others.
    var bridge = ""
    /// The IPAM config shown by inspect: as given, or the subnet chosen for it.
    var ipam = IPAM()
    /// `--aux-address name=ip`: addresses kept out of allocation (a router, a host on the bridge).
    var auxAddresses: [String: String]?
    /// `--ipv6`: the IPv6 pool beside the IPv4 one (the bridge holds the gateway address).
    var subnet6: String?
    var gateway6: String?
    var ipRange6: String?

    var isPredefined: Bool { ["bridge", "host", "none"].contains(name) }
    var isDefaultBridge: Bool { name == "bridge" }
}

/// How the daemon sets up networking (flags and daemon.json).
public struct NetworkConfig: Sendable {
    /// The default network's bridge; nil (`--bridge none`) runs without a default bridge.
    public var defaultBridge: String?
    /// `bip`: the default bridge's gateway address and prefix, e.g. 172.20.0.1/16.
    public var bip: String?
    /// Whether berthd writes netfilter rules (`--iptables=false` leaves NAT and ports to the user).
    public var iptables: Bool
    public var mtu: Int
    /// `default-address-pools`: where a network's subnet comes from when none is given.
    public var addressPools: SubnetPools
    public init(defaultBridge: String? = "berth0", bip: String? = nil, iptables: Bool = true, mtu: Int = 1500, addressPools: SubnetPools = .docker) {
        self.defaultBridge = defaultBridge; self.bip = bip; self.iptables = iptables; self.mtu = mtu; self.addressPools = addressPools
    }
}

/// What a started container got from its networks.
struct NetworkSetup: Sendable {
    /// The namespace to join; nil for `--network host`.
    var namespace: String?
    var endpoints: [String: EndpointSettings]
    var ports: [String: [PortBinding]?]
    /// Its own addresses, for /etc/hosts.
    var addresses: [String]
    /// Whether its resolv.conf names the embedded DNS server.
    var embeddedDNS: Bool
}

/// Networks, their address pools, and the endpoints of running containers. Kernel state
/// (bridges, veths, namespaces, netfilter) is derived from this and reconciled at boot.
public actor NetworkService {
    static let log = Logger(label: "berth.network")
    nonisolated public let config: NetworkConfig
    let recordsPath: String
    let namespaceRoot: String
    let spool: String
    var networks: [String: NetworkRecord] = [:]
    var pools: [String: AddressPool] = [:]
    var pools6: [String: AddressPool6] = [:]
    var attached: [String: Attachment] = [:]
    var hostLink: Netlink?
    let dns: DNSServer
    let netfilter: Netfilter

    struct Endpoint: Sendable {
        var id: String
        var ip: IPv4
        var ip6: IPv6? = nil
        var veth: String
        var names: [String]
        var gwPriority = 0
    }

    struct Attachment: Sendable {
        var name: String
        var namespace: String
        var endpoints: [String: Endpoint]
        var ports: [PortMapping]
    }

    public init(config: NetworkConfig, dataRoot: String, execRoot: String) throws {
        self.config = config
        recordsPath = dataRoot + "/network/networks.json"
        namespaceRoot = execRoot + "/netns"
        spool = execRoot + "/network"
        dns = DNSServer()
        netfilter = Netfilter(prefix: Netfilter.prefix(execRoot: execRoot))
        try FileIO.makeDirectories(dataRoot + "/network", mode: 0o700)
        try FileIO.makeDirectories(namespaceRoot, mode: 0o711)
        try FileIO.makeDirectories(spool, mode: 0o700)
        // No file is a first start; one that cannot be read or decoded stops the daemon, as a
        // corrupt image database does: starting without it would lose every network at the next save.
        do {
            let list = try JSONDecoder().decode([NetworkRecord].self, from: Data(try FileIO.read(recordsPath)))
            networks = Dictionary(list.map { ($0.id, $0) }) { a, _ in a }
        } catch let error as SystemError where error.errno == ENOENT {
        } catch {
            throw EngineError.internalError("network records \(recordsPath) cannot be read: \(error)", cause: error)
        }
    }

    func persist() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(recordsPath, Array(try encoder.encode(networks.values.sorted { $0.created < $1.created })), mode: 0o600)
    }

    func host() throws -> Netlink {
        if let hostLink { return hostLink }
        do { hostLink = try Netlink() } catch { throw EngineError.internalError("\(error)", cause: error) }
        return hostLink!
    }

    // MARK: boot

    /// A container that was running when berthd (re)started, with the endpoints it holds.
    struct Running: Sendable {
        var id: String
        var name: String
        var endpoints: [String: EndpointSettings]
        var ports: [String: [PortBinding]?]
    }

    /// Makes the predefined networks, re-claims the addresses of running containers, and sweeps
    /// what a crash left: stray veths, namespaces of containers that no longer run, rules.
    func boot(running: [Running]) async throws {
        try ensurePredefined()
        for r in running {
            var endpoints: [String: Endpoint] = [:]
            var mappings: [PortMapping] = []
            for (name, settings) in r.endpoints {
                guard let net = networks[settings.NetworkID] ?? lookup(name), net.driver == "bridge", let ip = IPv4(settings.IPAddress) else { continue }
                Self.log.attempt("re-claiming \(ip) on network \(net.name) for container \(r.name)") { try modifyPool(net.id) { try $0.claim(ip) } }
                let ip6 = IPv6(settings.GlobalIPv6Address)
                if let ip6, var p6 = pool6(net) {
                    Self.log.attempt("re-claiming \(ip6) on network \(net.name) for container \(r.name)") { try p6.claim(ip6) }
                    pools6[net.id] = p6
                }
                endpoints[net.id] = Endpoint(id: settings.EndpointID, ip: ip, ip6: ip6, veth: Self.vethName(settings.EndpointID),
                                             names: dnsNames(id: r.id, name: r.name, settings), gwPriority: settings.GwPriority)
            }
            for (key, bindings) in r.ports {
                let (port, proto) = Self.splitPort(key)
                for b in bindings ?? [] {
                    guard let hp = Int(b.HostPort ?? ""), let ip = endpoints.values.first?.ip else { continue }
                    mappings.append(PortMapping(proto: proto, hostIP: b.HostIp ?? "", hostPort: hp, containerIP: ip.description, containerPort: port))
                }
            }
            attached[r.id] = Attachment(name: r.name, namespace: namespacePath(r.id), endpoints: endpoints, ports: mappings)
        }
        let keep = Set(running.map(\.id))
        for entry in (try? FileIO.listDirectory(namespaceRoot)) ?? [] where !keep.contains(entry) {
            NetworkNamespace.remove(at: namespaceRoot + "/" + entry)
        }
        let bridges = networks.values.filter { $0.driver == "bridge" }
        for net in bridges where net.isDefaultBridge || attached.values.contains(where: { $0.endpoints[net.id] != nil }) {
            try await ensureBridge(net)
        }
        let veths = Set(attached.values.flatMap { $0.endpoints.values.map(\.veth) })
        Self.log.attempt("sweeping veths no container uses") {
            let link = try host()
            for name in try BridgeDriver(host: link).strayVeths(on: bridges.map(\.bridge), keep: veths) {
                Self.log.attempt("deleting stray veth \(name)") { try link.delete(named: name) }
            }
        }
        if !bridges.isEmpty { try await applyRules() }
        for (id, a) in attached {
            let user = a.endpoints.keys.compactMap { networks[$0] }.filter { !$0.isPredefined }
            if !user.isEmpty {
                Self.log.attempt("serving DNS to container \(a.name)") { try dns.serve(container: id, namespace: a.namespace, networks: user.map(\.id)) }
            }
        }
        for net in networks.values { publishNames(net.id) }
    }

    func ensurePredefined() throws {
        var changed = false
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] where lookup(name) == nil {
            if name == "bridge" && config.defaultBridge == nil { continue }
            var r = NetworkRecord(id: ContainerService.randomID(), name: name, driver: driver, created: Timestamp.now())
            if name == "bridge" {
                r.bridge = config.defaultBridge!
                r.options = ["com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
                             "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                             "com.docker.network.bridge.name": config.defaultBridge!, "com.docker.network.driver.mtu": String(config.mtu)]
                try assignSubnet(&r, subnet: nil, gateway: nil, range: nil, bip: config.bip)
            }
            networks[r.id] = r
            changed = true
        }
        if let bip = config.bip, var r = lookup("bridge"), r.gateway.map({ "\($0)/\(r.subnet?.split(separator: "/").last ?? "")" }) != bip {
            try assignSubnet(&r, subnet: nil, gateway: nil, range: nil, bip: bip)
            networks[r.id] = r
            pools[r.id] = nil
            changed = true
        }
        if changed { try persist() }
    }

    // MARK: lookup

    func lookup(_ ref: String) -> NetworkRecord? {
        if let r = networks[ref] { return r }
        if let r = networks.values.first(where: { $0.name == ref }) { return r }
        let matches = networks.values.filter { $0.id.hasPrefix(ref) }
        return matches.count == 1 ? matches[0] : nil
    }

    func find(_ ref: String) throws -> NetworkRecord {
        guard let r = lookup(ref) else { throw EngineError.notFound("network \(ref) not found") }
        return r
    }

    func namespacePath(_ container: String) -> String { namespaceRoot + "/" + container }

    static func vethName(_ endpointID: String) -> String { "veth" + endpointID.prefix(7) }

    func pool(_ net: NetworkRecord) throws -> AddressPool {
        if let p = pools[net.id] { return p }
        guard let s = net.subnet, let subnet = try? Subnet(parsing: s), let gw = net.gateway.flatMap(IPv4.init) else {
            throw EngineError.internalError("network \(net.name) has no IPv4 pool")
        }
        var p = AddressPool(subnet: subnet, range: net.ipRange.flatMap { try? Subnet(parsing: $0) }, gateway: gw)
        for ip in (net.auxAddresses ?? [:]).values.compactMap(IPv4.init) { try? p.claim(ip) }  // checked at create
        pools[net.id] = p
        return p
    }

    func modifyPool<T>(_ id: String, _ body: (inout AddressPool) throws -> T) throws -> T {
        guard let net = networks[id] else { throw EngineError.notFound("network \(id) not found") }
        var p = try pool(net)
        defer { pools[id] = p }
        do { return try body(&p) } catch let e as NetworkError { throw Self.engineError(e) }
    }

    /// Gives an address back to its network's pool; nothing is left to give back once the
    /// network is gone, the only way this can fail.
    func release(_ ip: IPv4, in network: String) { try? modifyPool(network) { $0.release(ip) } }

    static func engineError(_ e: NetworkError) -> EngineError {
        switch e {
        case .invalid(let m): return .invalid(m, cause: e)
        case .conflict(let m): return .conflict(m, cause: e)
        case .notFound(let m): return .notFound(m, cause: e)
        case .exhausted(let m), .system(let m): return .internalError(m, cause: e)
        case .kernel: return .internalError(e.description, cause: e)
        }
    }

    /// Subnets that a new network must not overlap: other networks' and the host's routes
    /// (minus our own bridges').
    func takenSubnets(except: String? = nil) -> [Subnet] {
        let ours = networks.values.filter { $0.id != except }.compactMap { $0.subnet.flatMap { try? Subnet(parsing: $0) } }
        let ownBridges = Set(networks.values.map(\.subnet))
        let routed = ((try? host().routedSubnets()) ?? []).filter { !ownBridges.contains($0.description) }
        return ours + routed
    }

    func assignSubnet(_ r: inout NetworkRecord, subnet: String?, gateway: String?, range: String?, bip: String?) throws {
        var chosen: Subnet
        var gw: IPv4
        do {
            if let bip {
                let parts = bip.split(separator: "/")
                guard parts.count == 2, let ip = IPv4(String(parts[0])), let prefix = Int(parts[1]) else { throw EngineError.invalid("invalid bip: \(bip)") }
                chosen = Subnet(network: ip, prefix: prefix)
                gw = ip
            } else if let subnet {
                chosen = try Subnet(parsing: subnet)
                if let clash = networks.values.first(where: { $0.id != r.id && $0.subnet.flatMap { try? Subnet(parsing: $0) }.map { $0.overlaps(chosen) } == true }) {
                    throw EngineError.forbidden("Pool overlaps with other one on this address space (\(clash.name))")
                }
                if let gateway {
                    guard let g = IPv4(gateway), chosen.contains(g) else { throw EngineError.invalid("no matching subnet for gateway \(gateway)") }
                    gw = g
                } else { gw = chosen.firstHost }
            } else {
                guard let free = config.addressPools.firstFree(avoiding: takenSubnets(except: r.id)) else {
                    throw EngineError.forbidden("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
                }
                chosen = free
                gw = free.firstHost
            }
            if let range {
                let rs = try Subnet(parsing: range)
                guard chosen.contains(rs.network), rs.prefix >= chosen.prefix else { throw EngineError.invalid("no matching subnet for range \(range)") }
            }
        } catch let e as NetworkError { throw Self.engineError(e) }
        r.subnet = chosen.description
        r.gateway = gw.description
        r.ipRange = range
        var pool = IPAMPoolConfig()
        pool.Subnet = chosen.description
        pool.Gateway = gw.description
        pool.IPRange = range
        r.ipam.Config = [pool]
    }

    /// The IPv6 pool of an `--ipv6` network: as given (Docker needs one: there are no default
    /// IPv6 pools), with its gateway (the first address unless given) and range checked.
    func assignSubnet6(_ r: inout NetworkRecord, subnet text: String, gateway: String?, range: String?, aux: [String: String]?) throws {
        do {
            let subnet = try Subnet6(parsing: text)
            if let clash = networks.values.first(where: { $0.id != r.id && $0.subnet6.flatMap { try? Subnet6(parsing: $0) }.map { $0.overlaps(subnet) } == true }) {
                throw EngineError.forbidden("Pool overlaps with other one on this address space (\(clash.name))")
            }
            var gw = subnet.firstHost
            if let gateway {
                guard let g = IPv6(gateway), subnet.contains(g) else { throw EngineError.invalid("no matching subnet for gateway \(gateway)") }
                gw = g
            }
            if let range {
                let rs = try Subnet6(parsing: range)
                guard subnet.contains(rs.network), rs.prefix >= subnet.prefix else { throw EngineError.invalid("no matching subnet for range \(range)") }
            }
            for address in (aux ?? [:]).values where address.contains(":") {
                guard let ip = IPv6(address), subnet.contains(ip) else { throw EngineError.forbidden("no matching subnet for aux-address \(address)") }
            }
            r.subnet6 = subnet.description
            r.gateway6 = gw.description
            r.ipRange6 = range
        } catch let e as NetworkError { throw Self.engineError(e) }
    }

    func pool6(_ net: NetworkRecord) -> AddressPool6? {
        if let p = pools6[net.id] { return p }
        guard let s = net.subnet6.flatMap({ try? Subnet6(parsing: $0) }), let gw = net.gateway6.flatMap(IPv6.init) else { return nil }
        var p = AddressPool6(subnet: s, range: net.ipRange6.flatMap { try? Subnet6(parsing: $0) }, gateway: gw)
        for ip in (net.auxAddresses ?? [:]).values.compactMap(IPv6.init) { try? p.claim(ip) }  // checked at create
        pools6[net.id] = p
        return p
    }

    // MARK: API

    public func create(_ request: NetworkCreateRequest) throws -> NetworkCreateResponse {
        let name = request.Name
        guard !name.isEmpty else { throw EngineError.invalid("network name must not be empty") }
        if lookup(name)?.name == name { throw EngineError.conflict("network with name \(name) already exists") }
        // What only swarm, IPAM plugins or config-only networks give is refused before anything is
        // made, in dockerd 20.10's words and statuses outside a swarm.
        if request.Ingress == true { throw EngineError.forbidden("Ingress network can only be global scope network") }
        switch request.Scope ?? "" {
        case "", "local": break
        case "swarm": throw EngineError.forbidden("cannot create a swarm scoped network when swarm is not active")
        case "global":
            throw EngineError.forbidden("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
        case let scope: throw EngineError.invalid("invalid network scope: \(scope)")
        }
        if let ipamDriver = request.IPAM?.Driver, !["", "default"].contains(ipamDriver) {
            throw EngineError.notFound("plugin \"\(ipamDriver)\" not found")
        }
        if request.ConfigOnly == true || !(request.ConfigFrom?.Network ?? "").isEmpty {
            throw EngineError.invalid("config-only networks (--config-only, --config-from) serve swarm's per-node settings; Berth's bridge networks take their configuration directly")
        }
        if request.EnableIPv4 == false {
            throw EngineError.invalid("IPv6-only networks (--ipv4=false) are not supported by Berth's bridge driver: every network has an IPv4 subnet")
        }
        let driver = request.Driver.flatMap { $0.isEmpty ? nil : $0 } ?? "bridge"
        guard driver == "bridge" else {
            if ["host", "null"].contains(driver) { throw EngineError.forbidden("only one instance of \"\(driver)\" network is allowed") }
            throw EngineError.notFound("plugin \"\(driver)\" not found")
        }
        var r = NetworkRecord(id: ContainerService.randomID(), name: name, driver: driver, created: Timestamp.now())
        r.isInternal = request.Internal == true
        r.attachable = request.Attachable == true
        r.labels = request.Labels ?? [:]
        r.options = request.Options ?? [:]
        r.bridge = r.options["com.docker.network.bridge.name"] ?? "br-" + r.id.prefix(12)
        guard r.bridge.count <= 15 else { throw EngineError.invalid("bridge name \(r.bridge) is longer than 15 characters") }
        let given = request.IPAM?.Config ?? []
        let pools = given.filter { !($0.Subnet ?? "").contains(":") }
        let pools6 = given.filter { ($0.Subnet ?? "").contains(":") }
        guard pools.count <= 1, pools6.count <= 1 else { throw EngineError.invalid("berthd supports one IPv4 and one IPv6 pool per network") }
        if !pools6.isEmpty && request.EnableIPv6 != true {
            throw EngineError.invalid("IPv6 pool configured for a network without --ipv6: enable IPv6 on the network or drop the IPv6 subnet")
        }
        if request.EnableIPv6 == true {
            guard let pool6 = pools6.first, let text = pool6.Subnet else {
                throw EngineError.forbidden("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network")
            }
            try assignSubnet6(&r, subnet: text, gateway: pool6.Gateway, range: pool6.IPRange, aux: pool6.AuxiliaryAddresses)
        }
        try assignSubnet(&r, subnet: pools.first?.Subnet, gateway: pools.first?.Gateway, range: pools.first?.IPRange, bip: nil)
        if pools.first?.Subnet == nil { r.ipam.Config = r.ipam.Config.map { $0.map { var c = $0; c.IPRange = nil; return c } } }
        // a pool the client gave is shown as given: without the gateway chosen for it (moby)
        if let given = pools.first, given.Subnet != nil, given.Gateway == nil {
            r.ipam.Config = r.ipam.Config.map { $0.map { var c = $0; c.Gateway = nil; return c } }
        }
        if let aux = pools.first?.AuxiliaryAddresses, !aux.isEmpty, let subnet = r.subnet.flatMap({ try? Subnet(parsing: $0) }) {
            for (_, address) in aux.sorted(by: { $0.key < $1.key }) {
                guard let ip = IPv4(address), subnet.contains(ip) else { throw EngineError.forbidden("no matching subnet for aux-address \(address)") }
            }
            r.auxAddresses = aux
            r.ipam.Config = r.ipam.Config.map { $0.map { var c = $0; c.AuxiliaryAddresses = aux; return c } }
        }
        r.ipam.Options = request.IPAM?.Options
        if let s6 = r.subnet6 {
            var pool = IPAMPoolConfig()
            pool.Subnet = s6
            pool.Gateway = pools6.first?.Gateway
            pool.IPRange = r.ipRange6
            r.ipam.Config = (r.ipam.Config ?? []) + [pool]
        }
        networks[r.id] = r
        try persist()
        return NetworkCreateResponse(Id: r.id)
    }

    public func inspect(_ ref: String) throws -> Network {
        view(try find(ref))
    }

    public func list(filters: [String: [String]]) throws -> [Network] {
        let known: Set = ["name", "id", "driver", "label", "type", "scope", "dangling"]
        for key in filters.keys where !known.contains(key) { throw EngineError.invalid("invalid filter '\(key)'") }
        return networks.values.sorted { $0.created < $1.created }.filter { r in
            if let names = filters["name"], !names.contains(where: { r.name.contains($0) }) { return false }
            if let ids = filters["id"], !ids.contains(where: { r.id.hasPrefix($0) }) { return false }
            if let drivers = filters["driver"], !drivers.contains(r.driver) { return false }
            if let types = filters["type"], !types.contains(r.isPredefined ? "builtin" : "custom") { return false }
            return LabelFilter.matches(filters["label"], r.labels)
        }.map { view($0, containers: false) }
    }

    /// A network as the API shows it; a list's leave out the containers, as moby's (only an
    /// inspect names them).
    func view(_ r: NetworkRecord, containers: Bool = true) -> Network {
        var n = Network()
        n.Name = r.name
        n.Id = r.id
        n.Created = r.created
        n.Driver = r.driver
        n.IPAM = r.ipam
        n.EnableIPv6 = r.subnet6 != nil
        n.Internal = r.isInternal
        n.Attachable = r.attachable
        n.Options = r.options
        n.Labels = r.labels
        for (cid, a) in attached where containers {
            guard let e = a.endpoints[r.id] else { continue }
            var c = NetworkContainer()
            c.Name = a.name
            c.EndpointID = e.id
            c.MacAddress = formatMAC(e.ip.dockerMAC)
            c.IPv4Address = "\(e.ip)/\(networks[r.id]?.subnet?.split(separator: "/").last ?? "")"
            c.IPv6Address = e.ip6.map { "\($0)/\(r.subnet6?.split(separator: "/").last ?? "")" } ?? ""
            n.Containers[cid] = c
        }
        return n
    }

    public func remove(_ ref: String) async throws {
        let r = try find(ref)
        if r.isPredefined { throw EngineError.forbidden("\(r.name) is a pre-defined network and cannot be removed") }
        if attached.values.contains(where: { $0.endpoints[r.id] != nil }) {
            throw EngineError.forbidden("error while removing network: network \(r.name) id \(r.id) has active endpoints")
        }
        networks[r.id] = nil
        pools[r.id] = nil
        try persist()
        Self.log.attempt("removing bridge \(r.bridge) of network \(r.name)") { try BridgeDriver(host: try host()).removeBridge(r.bridge) }
        readyBridges.remove(r.bridge)
        dns.setNames(network: r.id, [:])
        try await applyRules()
    }

    public func prune(filters: [String: [String]], inUse: Set<String>) async throws -> [String] {
        let filters = try PruneFilters(filters, accepted: ["until", "label", "label!"])
        var deleted: [String] = []
        for r in networks.values.sorted(by: { $0.name < $1.name }) where !r.isPredefined && !inUse.contains(r.id) {
            guard filters.selects(created: Timestamp.parse(r.created), labels: r.labels) else { continue }
            do {
                try await remove(r.id)
                deleted.append(r.name)
            } catch {
                Self.log.warning("network prune: removing network \(r.name): \(error)")
            }
        }
        return deleted
    }

    // MARK: containers

    /// Resolves a container's network mode to the networks it will join: `default`/`bridge`,
    /// a user network, `none`, `host`, `container:<id>`, `ns:<path>`.
    func resolve(mode: String?) throws -> NetworkRecord? {
        let m = mode.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        if m.hasPrefix("container:") || m.hasPrefix("ns:") { return nil }
        let name = m == "default" ? "bridge" : m
        guard let r = lookup(name) else {
            if name == "bridge" { throw EngineError.notFound("network bridge not found: berthd runs without a default bridge (--bridge none)") }
            throw EngineError.notFound("network \(name) not found")
        }
        return r
    }

    /// Creates the namespace (unless `--network host`), plugs in every endpoint, publishes
    /// ports, and starts the embedded DNS for user networks. On failure nothing is left.
    func setUp(container id: String, name: String, mode: String?, endpoints requested: [String: EndpointSettings],
               bindings: [String: [PortBinding]?], publishAll: Bool, exposed: [String]) async throws -> NetworkSetup {
        guard let primary = try resolve(mode: mode) else { throw EngineError.internalError("container network modes are resolved by the caller") }
        if primary.driver == "host" {
            return NetworkSetup(namespace: nil, endpoints: ["host": settingsShell(primary, requested["host"])], ports: [:], addresses: [], embeddedDNS: false)
        }
        await tearDown(container: id)
        let path = namespacePath(id)
        do { try NetworkNamespace.create(at: path) } catch { throw Self.engineError(error) }
        var attachment = Attachment(name: name, namespace: path, endpoints: [:], ports: [])
        attached[id] = attachment
        do {
            var out: [String: EndpointSettings] = [:]
            if primary.driver == "null" {
                out[primary.name] = settingsShell(primary, requested[primary.name])
                return NetworkSetup(namespace: path, endpoints: out, ports: [:], addresses: [], embeddedDNS: false)
            }
            // The primary network first (eth0, default route), then the others.
            var order = [primary.name] + requested.keys.filter { $0 != primary.name && !(primary.isDefaultBridge && $0 == "default") }.sorted()
            order = order.filter { lookup($0)?.driver == "bridge" || $0 == primary.name }
            // The default route goes through the network of the highest gw-priority, the primary on a tie.
            let priorities = order.map { requested[$0]?.GwPriority ?? lookup($0).flatMap { requested[$0.id]?.GwPriority } ?? 0 }
            let routed = priorities.indices.max { priorities[$0] < priorities[$1] || (priorities[$0] == priorities[$1] && $0 > $1) } ?? 0
            for (i, netName) in order.enumerated() {
                let net = try find(netName)
                var settings = requested[netName] ?? requested[net.id] ?? EndpointSettings()
                let endpoint = try await connect(id, name: name, net, &settings, interface: "eth\(i)", defaultRoute: i == routed)
                attachment.endpoints[net.id] = endpoint
                attached[id] = attachment
                out[net.name] = settings
            }
            let (ports, mappings) = try publish(bindings: bindings, publishAll: publishAll, exposed: exposed,
                                                containerIP: attachment.endpoints[primary.id]!.ip)
            attachment.ports = mappings
            attached[id] = attachment
            if !mappings.isEmpty { try await applyRules() }
            let user = order.compactMap(lookup).filter { !$0.isPredefined }
            if !user.isEmpty {
                do { try dns.serve(container: id, namespace: path, networks: user.map(\.id)) } catch { throw Self.engineError(error) }
            }
            return NetworkSetup(namespace: path, endpoints: out, ports: ports, addresses: attachment.endpoints.values.map(\.ip.description),
                                embeddedDNS: !user.isEmpty)
        } catch {
            await tearDown(container: id)
            throw error
        }
    }

    /// The settings of an endpoint that has no address (`none`, `host`, a stopped container).
    func settingsShell(_ net: NetworkRecord, _ requested: EndpointSettings?) -> EndpointSettings {
        var s = requested ?? EndpointSettings()
        s.NetworkID = net.id
        return s
    }

    /// One veth into `net`, with the requested (`--ip`) or next address.
    func connect(_ id: String, name: String, _ net: NetworkRecord, _ settings: inout EndpointSettings,
                 interface: String, defaultRoute: Bool, replacingRoute: Bool = false) async throws -> Endpoint {
        try await ensureBridge(net)
        // What can be refused is refused before an address is taken.
        let linkLocal = settings.IPAMConfig?.LinkLocalIPs?.filter { !$0.isEmpty } ?? []
        let linkLocal4 = linkLocal.compactMap(IPv4.init), linkLocal6 = linkLocal.compactMap(IPv6.init)
        guard linkLocal4.count + linkLocal6.count == linkLocal.count else {
            throw EngineError.invalid("invalid link-local IP address: \(linkLocal.filter { IPv4($0) == nil && IPv6($0) == nil }.joined(separator: ", "))")
        }
        let mac = try settings.MacAddress.isEmpty ? nil : Self.parseMAC(settings.MacAddress)
        let ip: IPv4
        if let wanted = settings.IPAMConfig?.IPv4Address, !wanted.isEmpty {
            guard net.ipam.Config?.first?.Subnet != nil, !net.isDefaultBridge else {
                throw EngineError.invalid("user specified IP address is supported only when connecting to networks with user configured subnets")
            }
            guard let w = IPv4(wanted) else { throw EngineError.invalid("invalid IPv4 address: \(wanted)") }
            try modifyPool(net.id) { try $0.claim(w) }
            ip = w
        } else {
            ip = try modifyPool(net.id) { try $0.allocate() }
        }
        var ip6: IPv6?
        if var p6 = pool6(net) {
            do {
                if let wanted = settings.IPAMConfig?.IPv6Address, !wanted.isEmpty {
                    guard let w = IPv6(wanted) else { throw EngineError.invalid("invalid IPv6 address: \(wanted)") }
                    try p6.claim(w)
                    ip6 = w
                } else {
                    ip6 = try p6.allocate()
                }
            } catch let e as NetworkError {
                release(ip, in: net.id)
                throw Self.engineError(e)
            } catch {
                release(ip, in: net.id)
                throw error
            }
            pools6[net.id] = p6
        } else if let wanted = settings.IPAMConfig?.IPv6Address, !wanted.isEmpty {
            release(ip, in: net.id)
            throw EngineError.invalid("user specified IPv6 address is supported only when connecting to networks with --ipv6 and a user configured IPv6 subnet")
        }
        let endpointID = ContainerService.randomID()
        let subnet = try pool(net).subnet
        let gateway = try pool(net).gateway
        let link = try host()
        do {
            try BridgeDriver(host: link).connect(bridge: net.bridge, hostVeth: Self.vethName(endpointID), namespace: namespacePath(id),
                                                        interface: interface, ip: ip, prefix: subnet.prefix,
                                                        gateway: defaultRoute && !net.isInternal ? gateway : nil, mtu: config.mtu, mac: mac,
                                                        ip6: ip6.map { ($0, pools6[net.id]?.subnet.prefix ?? 64) },
                                                        gateway6: defaultRoute && !net.isInternal ? pools6[net.id]?.gateway : nil,
                                                        linkLocal: (linkLocal4, linkLocal6), replacingRoute: replacingRoute)
        } catch {
            release(ip, in: net.id)
            if let ip6 { pools6[net.id]?.release(ip6) }
            throw Self.engineError(error)
        }
        settings.NetworkID = net.id
        settings.EndpointID = endpointID
        settings.Gateway = net.isInternal ? "" : gateway.description
        settings.IPAddress = ip.description
        settings.IPPrefixLen = subnet.prefix
        settings.MacAddress = formatMAC(mac ?? ip.dockerMAC)
        if let ip6, let p6 = pools6[net.id] {
            settings.GlobalIPv6Address = ip6.description
            settings.GlobalIPv6PrefixLen = p6.subnet.prefix
            settings.IPv6Gateway = net.isInternal ? "" : p6.gateway.description
        }
        let names = net.isPredefined ? [] : dnsNames(id: id, name: name, settings)
        settings.DNSNames = net.isPredefined ? nil : names
        if !net.isPredefined {
            // `--link target:alias` on a user network: a name only this container resolves
            let links = (settings.Links ?? []).map { ContainerService.parseLink($0) }
            dns.addLinks(container: id, Dictionary(links.map { ($0.alias, $0.name) }, uniquingKeysWith: { a, _ in a }))
        }
        let endpoint = Endpoint(id: endpointID, ip: ip, ip6: ip6, veth: Self.vethName(endpointID), names: names, gwPriority: settings.GwPriority)
        // in the table before the names are published: the newest container must resolve too
        attached[id]?.endpoints[net.id] = endpoint
        publishNames(net.id)
        return endpoint
    }

    /// `--mac-address`: six hex bytes, `:` or `-` separated; a unicast address.
    static func parseMAC(_ text: String) throws -> [UInt8] {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6, let bytes = Optional(parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }), bytes.count == 6,
              bytes[0] & 1 == 0 else { throw EngineError.invalid("invalid MAC address: \(text)") }
        return bytes
    }

    /// What the embedded DNS answers for an endpoint: the name, the aliases, the short ID.
    func dnsNames(id: String, name: String, _ settings: EndpointSettings) -> [String] {
        [name] + (settings.Aliases ?? []) + [String(id.prefix(12))]
    }

    func publishNames(_ network: String) {
        var table: [String: IPv4] = [:]
        for a in attached.values { if let e = a.endpoints[network] { for n in e.names { table[n] = e.ip } } }
        dns.setNames(network: network, table)
    }

    /// Joins a running container to one more network (`network connect`).
    func connectRunning(container id: String, name: String, network: NetworkRecord, settings: EndpointSettings) async throws -> EndpointSettings {
        guard var a = attached[id], FileIO.exists(a.namespace) else {
            throw EngineError.invalid("container \(name) has no network namespace of its own to connect")
        }
        if a.endpoints[network.id] != nil {
            throw EngineError.forbidden("endpoint with name \(name) already exists in network \(network.name)")
        }
        var s = settings
        let takesRoute = a.endpoints.values.allSatisfy { $0.gwPriority < s.GwPriority }
        let e = try await connect(id, name: name, network, &s, interface: "eth\(a.endpoints.count)", defaultRoute: takesRoute,
                            replacingRoute: !a.endpoints.isEmpty)
        a.endpoints[network.id] = e
        attached[id] = a
        let user = a.endpoints.keys.compactMap { networks[$0] }.filter { !$0.isPredefined }
        if !user.isEmpty {
            do { try dns.serve(container: id, namespace: a.namespace, networks: user.map(\.id)) } catch { throw Self.engineError(error) }
        }
        return s
    }

    func disconnectRunning(container id: String, network: NetworkRecord) async throws {
        guard var a = attached[id], let e = a.endpoints.removeValue(forKey: network.id) else { return }
        Self.log.attempt("deleting veth \(e.veth) of container \(a.name)") { try BridgeDriver(host: try host()).disconnect(hostVeth: e.veth) }
        release(e.ip, in: network.id)
        if let ip6 = e.ip6 { pools6[network.id]?.release(ip6) }
        let before = a.ports.count
        a.ports.removeAll { $0.containerIP == e.ip.description }
        attached[id] = a
        publishNames(network.id)
        dns.update(container: id, networks: a.endpoints.keys.filter { networks[$0]?.isPredefined == false })
        if a.ports.count != before { try await applyRules() }
        try restoreDefaultRoute(a)
    }

    /// The kernel takes the default route away with the interface it went through; libnetwork
    /// then routes through the endpoint it sorts first among the networks left with a gateway:
    /// the highest gw-priority, then the network's name (dockerd 20.10 moves it so too).
    func restoreDefaultRoute(_ a: Attachment) throws {
        let candidates = a.endpoints.compactMap { netID, e -> (NetworkRecord, Endpoint, IPv4)? in
            guard let net = networks[netID], !net.isInternal, let gateway = net.gateway.flatMap(IPv4.init) else { return nil }
            return (net, e, gateway)
        }
        guard let (net, e, gateway) = candidates.min(by: { x, y in
            x.1.gwPriority != y.1.gwPriority ? x.1.gwPriority > y.1.gwPriority : x.0.name < y.0.name
        }) else { return }
        let gateway6 = e.ip6 == nil ? nil : pools6[net.id]?.gateway
        let driver = BridgeDriver(host: try host())
        do {
            if try driver.restoreDefaultRoute(namespace: a.namespace, gateway: gateway, gateway6: gateway6) {
                Self.log.info("container \(a.name): default route moved to network \(net.name) (via \(gateway))")
            }
        } catch { throw Self.engineError(error) }
    }

    /// Releases everything a container held: veths, addresses, ports, DNS, its namespace.
    func tearDown(container id: String) async {
        guard let a = attached.removeValue(forKey: id) else {
            if FileIO.exists(namespacePath(id)) { NetworkNamespace.remove(at: namespacePath(id)) }
            return
        }
        dns.stop(container: id)
        dns.removeLinks(container: id)
        for (net, e) in a.endpoints {
            release(e.ip, in: net)
            if let ip6 = e.ip6 { pools6[net]?.release(ip6) }
            publishNames(net)
        }
        NetworkNamespace.remove(at: a.namespace)
        // Deleting a veth waits for RCU grace periods (about 25 ms each here): done off the
        // actor, so `run --rm` and `rm` do not wait for it. The namespace is already unpinned,
        // so the kernel would take the pair down with it anyway.
        let veths = a.endpoints.values.map(\.veth)
        if !veths.isEmpty {
            let name = a.name
            BlockingPool.shared.submit {
                Self.log.attempt("deleting the veths of container \(name)") {
                    let driver = BridgeDriver(host: try Netlink())
                    for v in veths { Self.log.attempt("deleting veth \(v) of container \(name)") { try driver.disconnect(hostVeth: v) } }
                }
            }
        }
        if !a.ports.isEmpty {
            do { try await applyRules() } catch { Self.log.warning("removing the published ports of container \(a.name): \(error)") }
        }
    }

    /// Whether any running container is attached to `network`.
    func isInUse(_ network: String) -> Bool { attached.values.contains { $0.endpoints[network] != nil } }

    // MARK: kernel state

    /// Bridges known to be up with their gateway since this daemon started (each start would
    /// otherwise re-check them with three netlink round trips).
    func ensureBridge(_ net: NetworkRecord) async throws {
        if readyBridges.contains(net.bridge) { return }
        guard net.driver == "bridge", let gw = net.gateway.flatMap(IPv4.init), let subnet = net.subnet.flatMap({ try? Subnet(parsing: $0) }) else { return }
        let v6 = pool6(net).map { ($0.gateway, $0.subnet.prefix) }
        do { try BridgeDriver(host: try host()).ensureBridge(net.bridge, gateway: gw, prefix: subnet.prefix, mtu: config.mtu, gateway6: v6) } catch let e as NetworkError {
            throw Self.engineError(e)
        }
        if config.iptables && !rulesInstalledFor.contains(net.id) { try await applyRules() }
        readyBridges.insert(net.bridge)
    }

    var rulesInstalledFor: Set<String> = []
    var rulesGeneration: UInt64 = 0
    let ruleLoads = RuleLoads()
    var ip6RulesInstalled = false
    var readyBridges: Set<String> = []

    /// Rewrites Berth's netfilter chains from the live networks and published ports. The rules
    /// are computed here and loaded on the blocking pool (an `iptables-restore` exec, a few
    /// milliseconds each): loads are ordered by `ruleLoads`, so the newest set wins even when the
    /// actor runs another change meanwhile.
    func applyRules() async throws {
        guard config.iptables else { return }
        let bridges = networks.values.filter { $0.driver == "bridge" && $0.subnet != nil }
        let rules = bridges.compactMap { net -> BridgeRules? in
            guard let subnet = net.subnet.flatMap({ try? Subnet(parsing: $0) }) else { return nil }  // checked at create
            let ports = attached.values.flatMap { a in a.endpoints[net.id].map { e in a.ports.filter { $0.containerIP == e.ip.description } } ?? [] }
            return BridgeRules(bridge: net.bridge, subnet: subnet, isInternal: net.isInternal, ports: ports)
        }
        // ip6tables only once an `--ipv6` network exists, and then until the last one is gone
        let v6 = bridges.compactMap { net in net.subnet6.flatMap { try? Subnet6(parsing: $0) }.map { BridgeRules6(bridge: net.bridge, subnet: $0, isInternal: net.isInternal) } }
        let loadV6 = !v6.isEmpty || ip6RulesInstalled
        rulesGeneration += 1
        let generation = rulesGeneration, netfilter = self.netfilter, spool = self.spool, loads = ruleLoads
        do {
            try await Threads.run {
                try loads.load(generation: generation) {
                    try netfilter.apply(rules, spool: spool)
                    if loadV6 { try netfilter.apply6(v6, spool: spool) }
                }
            }
        } catch let error as NetworkError {
            throw Self.engineError(error)
        }
        rulesInstalledFor.formUnion(bridges.map(\.id))
        if loadV6 { ip6RulesInstalled = !v6.isEmpty }
    }

    // MARK: ports

    static func splitPort(_ key: String) -> (Int, String) {
        let parts = key.split(separator: "/")
        return (Int(parts.first ?? "") ?? 0, parts.count > 1 ? String(parts[1]) : "tcp")
    }

    /// Host ports for `-p`/`-P`: a given port must be free, a range gives its first free port,
    /// an empty one an ephemeral port; Docker's `Ports` map (exposed-only ports as null).
    func publish(bindings: [String: [PortBinding]?], publishAll: Bool, exposed: [String], containerIP: IPv4) throws
        -> ([String: [PortBinding]?], [PortMapping]) {
        var ports: [String: [PortBinding]?] = [:]
        var mappings: [PortMapping] = []
        let taken = Set(attached.values.flatMap(\.ports).map { "\($0.hostPort)/\($0.proto)" })
        var mine = Set<String>()
        for key in Set(exposed).union(bindings.keys).sorted() {
            let (port, proto) = Self.splitPort(key)
            guard port > 0, ["tcp", "udp", "sctp"].contains(proto) else { throw EngineError.invalid("invalid port specification: \"\(key)\"") }
            var asked = (bindings[key] ?? nil) ?? []
            if asked.isEmpty && publishAll { asked = [PortBinding()] }
            if asked.isEmpty { ports[key] = .some(nil); continue }
            var out: [PortBinding] = []
            for b in asked {
                let hostIP = b.HostIp.flatMap { $0.isEmpty ? nil : $0 } ?? "0.0.0.0"
                guard IPv4(hostIP) != nil else { throw EngineError.invalid("berthd publishes IPv4 addresses only: \(hostIP)") }
                let spec = b.HostPort ?? ""
                var candidates: [Int]
                if spec.isEmpty {
                    candidates = Self.ephemeralPorts()
                } else if let dash = spec.firstIndex(of: "-"), let lo = Int(spec[..<dash]), let hi = Int(spec[spec.index(after: dash)...]), lo <= hi {
                    candidates = Array(lo...hi)
                } else if let p = Int(spec), (1...65535).contains(p) {
                    candidates = [p]
                } else {
                    throw EngineError.invalid("invalid port specification: \"\(spec)\"")
                }
                guard let chosen = candidates.first(where: { !taken.contains("\($0)/\(proto)") && !mine.contains("\($0)/\(proto)") && Self.isFree($0, proto: proto, ip: hostIP) }) else {
                    if candidates.count == 1 {
                        throw EngineError.internalError("driver failed programming external connectivity on endpoint: Bind for \(hostIP):\(spec) failed: port is already allocated")
                    }
                    throw EngineError.internalError("no free host port in \(spec.isEmpty ? "the ephemeral range" : spec)")
                }
                mine.insert("\(chosen)/\(proto)")
                var pb = PortBinding()
                pb.HostIp = hostIP
                pb.HostPort = String(chosen)
                out.append(pb)
                mappings.append(PortMapping(proto: proto, hostIP: hostIP, hostPort: chosen, containerIP: containerIP.description, containerPort: port))
            }
            ports[key] = out
        }
        return (ports, mappings)
    }

    /// The kernel's ephemeral range from a random point, as Docker's port allocator uses it.
    static func ephemeralPorts() -> [Int] {
        let range = ((try? FileIO.readString("/proc/sys/net/ipv4/ip_local_port_range")) ?? "32768 60999").split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        let lo = range.first ?? 32768, hi = range.count > 1 ? range[1] : 60999
        let start = Int.random(in: lo...hi)
        return Array(start...hi) + Array(lo..<start)
    }

    /// Whether a host process holds the port (bind test on the host's namespace).
    static func isFree(_ port: Int, proto: String, ip: String) -> Bool {
        let s = socket(AF_INET, Int32(proto == "udp" ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return true }
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = (IPv4(ip)?.value ?? 0).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Port mappings of a running container, for `docker port`.
    func mappings(of id: String) -> [PortMapping] { attached[id]?.ports ?? [] }

    /// The namespace path of a running container with its own network stack, for
    /// `--network container:<id>`.
    func namespace(of id: String) -> String? { attached[id].map(\.namespace) }
}
