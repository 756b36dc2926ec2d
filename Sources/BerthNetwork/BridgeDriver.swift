import Glibc

/// Linux bridges and the veth pairs that plug containers into them.
public struct BridgeDriver {
    let host: Netlink

    public init(host: Netlink) { self.host = host }

    /// The bridge with its gateway address, up; made when missing (an existing one, as after a
    /// daemon restart, is reused with what it holds).
    public func ensureBridge(_ name: String, gateway: IPv4, prefix: Int, mtu: Int, gateway6: (IPv6, Int)? = nil) throws(NetworkError) {
        if try host.index(of: name) == nil {
            do { try host.createBridge(name, mtu: mtu) } catch {
                throw .system("failed to create bridge \(name): \(error)")
            }
        }
        guard let index = try host.index(of: name) else { throw .system("bridge \(name) vanished") }
        do { try host.addAddress(index, gateway, prefix: prefix) } catch .kernel(EEXIST) {}
        if let (gw6, prefix6) = gateway6 {
            do { try host.addAddress(index, gw6, prefix: prefix6) } catch .kernel(EEXIST) {}
        }
        try host.setUp(index)
        try Netfilter.allowLocalnet(bridge: name)
    }

    public func removeBridge(_ name: String) throws(NetworkError) {
        try host.delete(named: name)
    }

    /// One endpoint: a veth from the bridge into the namespace pinned at `namespace`, named
    /// `interface` there, with the address, the given MAC or Docker's for the address, the
    /// link-local addresses asked for (`--link-local-ip`: /16 and /64, as libnetwork masks
    /// them), and the default route through `gateway` (`replacingRoute`: in place of another
    /// network's).
    public func connect(bridge: String, hostVeth: String, namespace: String, interface: String, ip: IPv4, prefix: Int,
                        gateway: IPv4?, mtu: Int, mac: [UInt8]? = nil, ip6: (IPv6, Int)? = nil, gateway6: IPv6? = nil,
                        linkLocal: (v4: [IPv4], v6: [IPv6]) = ([], []), replacingRoute: Bool = false) throws(NetworkError) {
        guard let master = try host.index(of: bridge) else { throw .notFound("bridge \(bridge) not found") }
        let nsfd = open(namespace, O_RDONLY | O_CLOEXEC)
        guard nsfd >= 0 else { throw .system("open \(namespace): \(String(cString: strerror(errno)))") }
        defer { close(nsfd) }
        try? host.delete(named: hostVeth)  // left by a crash between this step and the record
        do {
            try host.createVeth(host: hostVeth, master: master, mtu: mtu, peerName: interface, peerNamespace: nsfd, peerMAC: mac ?? ip.dockerMAC)
        } catch { throw .system("failed to add the host (\(hostVeth)) <=> sandbox (\(interface)) pair interfaces: \(error)") }
        do {
            try NetworkNamespace.within(namespace) { () throws(NetworkError) in
                let inside = try Netlink()
                guard let index = try inside.index(of: interface) else { throw .system("\(interface) missing in the container's namespace") }
                try inside.addAddress(index, ip, prefix: prefix)
                if let (address, prefix6) = ip6 { try inside.addAddress(index, address, prefix: prefix6) }
                for address in linkLocal.v4 { try inside.addAddress(index, address, prefix: 16) }
                for address in linkLocal.v6 { try inside.addAddress(index, address, prefix: 64) }
                try inside.setUp(index)
                if let gateway { try inside.addDefaultRoute(via: gateway, device: index, replace: replacingRoute) }
                if let gateway6 { try inside.addDefaultRoute(via: gateway6, device: index, replace: replacingRoute) }
            }
        } catch {
            try? host.delete(named: hostVeth)  // else a stray, swept at the daemon's next start
            throw error
        }
    }

    /// A veth already gone (its namespace's end takes the pair down) is not an error.
    public func disconnect(hostVeth: String) throws(NetworkError) {
        try host.delete(named: hostVeth)
    }

    /// A default route through `gateway` (and `gateway6`) in the namespace at `namespace`, unless
    /// it still has one: the kernel takes a route away with the interface it went through.
    /// Returns whether it added one.
    public func restoreDefaultRoute(namespace: String, gateway: IPv4, gateway6: IPv6?) throws(NetworkError) -> Bool {
        try NetworkNamespace.within(namespace) { () throws(NetworkError) -> Bool in
            let inside = try Netlink()
            if try inside.hasDefaultRoute() { return false }
            try inside.addDefaultRoute(via: gateway, device: nil)
            if let gateway6 { try inside.addDefaultRoute(via: gateway6, device: nil, replace: true) }
            return true
        }
    }

    /// Host ends of veths on `bridges` that are not in `keep`: what a crash left behind.
    public func strayVeths(on bridges: [String], keep: Set<String>) throws(NetworkError) -> [String] {
        let links = try host.links()
        let masters = Set(links.filter { bridges.contains($0.name) }.map(\.index))
        return links.filter { masters.contains($0.master) && !keep.contains($0.name) }.map(\.name)
    }
}
