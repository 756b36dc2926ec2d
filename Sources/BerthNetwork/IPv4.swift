import BerthSystem

/// An IPv4 address as a host-order integer, so subnets are arithmetic.
public struct IPv4: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public var description: String { "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)" }
    /// Network byte order, as sockets and netlink want it.
    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 255), UInt8(value >> 8 & 255), UInt8(value & 255)] }
    /// Docker's MAC for a container address: 02:42 followed by the four address bytes.
    public var dockerMAC: [UInt8] { [0x02, 0x42] + bytes }
    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }
}

public func formatMAC(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
}

/// `172.17.0.0/16`.
public struct Subnet: Hashable, Sendable, CustomStringConvertible {
    public var network: IPv4
    public var prefix: Int

    public init(network: IPv4, prefix: Int) {
        self.prefix = prefix
        self.network = IPv4(network.value & Subnet.mask(prefix))
    }

    /// Parses CIDR notation; a host address with bits past the prefix is refused as Docker does.
    public init(parsing text: String) throws(NetworkError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPv4(String(parts[0])), let p = Int(parts[1]), (0...32).contains(p) else {
            throw .invalid("invalid CIDR address: \(text)")
        }
        guard ip.value & ~Subnet.mask(p) == 0 else {
            throw .invalid("invalid subnet \(text) : it should be \(IPv4(ip.value & Subnet.mask(p)))/\(p)")
        }
        self.init(network: ip, prefix: p)
    }

    static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix) }
    public var mask: UInt32 { Subnet.mask(prefix) }
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public var last: IPv4 { IPv4(network.value | ~mask) }
    public var description: String { "\(network)/\(prefix)" }
    public func contains(_ ip: IPv4) -> Bool { ip.value & mask == network.value }
    public func overlaps(_ other: Subnet) -> Bool { contains(other.network) || other.contains(network) }
    /// The first usable address: Docker's default gateway.
    public var firstHost: IPv4 { IPv4(network.value + (prefix >= 31 ? 0 : 1)) }
}

/// Address allocation in one network: the gateway and the network/broadcast addresses are never
/// handed out; allocation starts after the last one given, as libnetwork's bitmap does, so a
/// released address is not reused at once (a stale ARP entry would point at the old container).
public struct AddressPool: Sendable {
    public let subnet: Subnet
    /// Where dynamic addresses come from (`--ip-range`); the whole subnet by default.
    public let range: Subnet
    public let gateway: IPv4
    public private(set) var used: Set<IPv4> = []
    private var cursor: UInt32

    public init(subnet: Subnet, range: Subnet? = nil, gateway: IPv4) {
        self.subnet = subnet
        self.range = range ?? subnet
        self.gateway = gateway
        cursor = self.range.network.value
    }

    func usable(_ ip: IPv4) -> Bool {
        ip != gateway && (subnet.prefix >= 31 || (ip != subnet.network && ip != subnet.last))
    }

    /// Takes a specific address (`--ip`, or one a running container held before a restart).
    public mutating func claim(_ ip: IPv4) throws(NetworkError) {
        guard subnet.contains(ip), usable(ip) else { throw .invalid("no available IPv4 addresses on this network's address pools: \(ip) is not usable in \(subnet)") }
        guard !used.contains(ip) else { throw .conflict("Address already in use") }
        used.insert(ip)
    }

    public mutating func allocate() throws(NetworkError) -> IPv4 {
        let count = range.size
        for step in 1...max(count, 1) {
            let candidate = IPv4(range.network.value &+ UInt32((UInt64(cursor &- range.network.value) + step) % count))
            if usable(candidate), !used.contains(candidate) {
                used.insert(candidate)
                cursor = candidate.value
                return candidate
            }
        }
        throw .exhausted("no available IPv4 addresses on this network's address pools: \(subnet)")
    }

    public mutating func release(_ ip: IPv4) { used.remove(ip) }
}

/// Where a network's subnet comes from when none is given: dockerd's `default-address-pools`,
/// each a base split into subnets of one size, taken in order.
public struct SubnetPools: Sendable, Equatable {
    public struct Pool: Sendable, Equatable {
        public let base: Subnet
        public let size: Int

        /// dockerd's checks: a size from the base's own prefix to 32.
        public init(base: Subnet, size: Int) throws(NetworkError) {
            guard (base.prefix...32).contains(size) else {
                throw .invalid("invalid default address pool \(base): size \(size) must be between its prefix length and 32")
            }
            self.base = base
            self.size = size
        }

        /// `base=10.10.0.0/16,size=24`, as `--default-address-pool` takes it.
        public init(parsing text: String) throws(NetworkError) {
            var fields: [String: String] = [:]
            for part in text.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1).map { String($0).trimmed }
                guard pair.count == 2 else { throw .invalid("invalid default address pool \(text): want base=CIDR,size=N") }
                fields[pair[0].lowercased()] = pair[1]
            }
            guard let base = fields["base"], let size = fields["size"].flatMap({ Int($0) }) else {
                throw .invalid("invalid default address pool \(text): want base=CIDR,size=N")
            }
            try self.init(base: try Subnet(parsing: base), size: size)
        }
    }

    public let pools: [Pool]

    public init(_ pools: [Pool]) { self.pools = pools }

    /// Docker's own: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
    public static let docker = SubnetPools(
        (17...31).map { Pool(unchecked: Subnet(network: IPv4(UInt32(172) << 24 | UInt32($0) << 16), prefix: 16), size: 16) }
            + [Pool(unchecked: Subnet(network: IPv4(UInt32(192) << 24 | UInt32(168) << 16), prefix: 16), size: 20)])

    /// The first subnet that overlaps neither a subnet in use by another network nor a route of
    /// the host. A clash skips to the first candidate past it, so the search is as long as the
    /// list of what is taken, not as the pool (a /8 in /30s is four million); counted in 64 bits
    /// (a /0 in /32s is 2^32 candidates, and no trap).
    public func firstFree(avoiding taken: [Subnet]) -> Subnet? {
        for pool in pools {
            let base = UInt64(pool.base.network.value)
            let step = UInt64(1) << UInt64(32 - pool.size)
            let count = UInt64(1) << UInt64(pool.size - pool.base.prefix)
            var i: UInt64 = 0
            while i < count {
                let candidate = Subnet(network: IPv4(UInt32(truncatingIfNeeded: base + i * step)), prefix: pool.size)
                guard let clash = taken.first(where: { $0.overlaps(candidate) }) else { return candidate }
                let clashEnd = UInt64(clash.network.value) + (UInt64(1) << UInt64(32 - clash.prefix))
                i = max(i + 1, (clashEnd - base + step - 1) / step)
            }
        }
        return nil
    }
}

extension SubnetPools.Pool {
    /// Docker's constants, known to be valid.
    fileprivate init(unchecked base: Subnet, size: Int) {
        self.base = base
        self.size = size
    }
}
