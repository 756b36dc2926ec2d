/// An IPv6 address as a 128-bit integer (two halves), so subnets are arithmetic; printed in RFC
/// 5952's form (lower case, the longest run of two or more zero groups as `::`), which is how
/// dockerd shows addresses.
public struct IPv6: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    public init?(_ text: String) {
        guard text.contains(":"), !text.hasPrefix(":") || text.hasPrefix("::"), !text.hasSuffix(":") || text.hasSuffix("::") else { return nil }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(g.count), let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        high = all[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = all[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) } + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
    }

    public var description: String {
        let g = groups
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                i = j
            } else { i += 1 }
        }
        let hex = g.map { String($0, radix: 16) }
        guard best.start >= 0 else { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
    }

    /// Network byte order.
    public var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) } + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) } }

    public static func < (a: IPv6, b: IPv6) -> Bool { (a.high, a.low) < (b.high, b.low) }

    func adding(_ n: UInt64) -> IPv6 {
        let (sum, carry) = low.addingReportingOverflow(n)
        return IPv6(high: high &+ (carry ? 1 : 0), low: sum)
    }
}

/// `2001:db8::/64`.
public struct Subnet6: Hashable, Sendable, CustomStringConvertible {
    public var network: IPv6
    public var prefix: Int

    public init(network: IPv6, prefix: Int) {
        self.prefix = prefix
        let (h, l) = Subnet6.mask(prefix)
        self.network = IPv6(high: network.high & h, low: network.low & l)
    }

    public init(parsing text: String) throws(NetworkError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPv6(String(parts[0])), let p = Int(parts[1]), (0...128).contains(p) else {
            throw .invalid("invalid CIDR address: \(text)")
        }
        let net = Subnet6(network: ip, prefix: p)
        guard net.network == ip else { throw .invalid("invalid subnet \(text) : it should be \(net)") }
        self = net
    }

    static func mask(_ prefix: Int) -> (UInt64, UInt64) {
        let high: UInt64 = prefix >= 64 ? ~0 : (prefix == 0 ? 0 : ~UInt64(0) << UInt64(64 - prefix))
        let low: UInt64 = prefix <= 64 ? 0 : (prefix == 128 ? ~0 : ~UInt64(0) << UInt64(128 - prefix))
        return (high, low)
    }

    public var description: String { "\(network)/\(prefix)" }
    public func contains(_ ip: IPv6) -> Bool {
        let (h, l) = Subnet6.mask(prefix)
        return ip.high & h == network.high && ip.low & l == network.low
    }
    public func overlaps(_ other: Subnet6) -> Bool { contains(other.network) || other.contains(network) }
    /// The first address after the network's: Docker's default IPv6 gateway.
    public var firstHost: IPv6 { network.adding(1) }
}

/// Address allocation in an IPv6 network: sequential from the range's start (past the gateway),
/// released addresses kept out until the cursor comes round, as with IPv4.
public struct AddressPool6: Sendable {
    public let subnet: Subnet6
    public let range: Subnet6
    public let gateway: IPv6
    public private(set) var used: Set<IPv6> = []
    private var next: UInt64 = 1

    public init(subnet: Subnet6, range: Subnet6? = nil, gateway: IPv6) {
        self.subnet = subnet
        self.range = range ?? subnet
        self.gateway = gateway
    }

    public mutating func claim(_ ip: IPv6) throws(NetworkError) {
        guard subnet.contains(ip), ip != gateway, ip != subnet.network else {
            throw .invalid("no available IPv6 addresses on this network's address pools: \(ip) is not usable in \(subnet)")
        }
        guard !used.contains(ip) else { throw .conflict("Address already in use") }
        used.insert(ip)
    }

    /// The range may hold 2^64 addresses or more; a million tries are far more than any bridge has endpoints.
    public mutating func allocate() throws(NetworkError) -> IPv6 {
        for _ in 0..<1_000_000 {
            let candidate = range.network.adding(next)
            next &+= 1
            guard range.contains(candidate) else { next = 1; continue }
            if candidate != gateway && !used.contains(candidate) {
                used.insert(candidate)
                return candidate
            }
        }
        throw .exhausted("no available IPv6 addresses on this network's address pools: \(subnet)")
    }

    public mutating func release(_ ip: IPv6) { used.remove(ip) }
}
