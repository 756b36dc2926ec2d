import BerthSystem
import Glibc

/// rtnetlink, spoken directly: links (bridge, veth), addresses, routes. One request is one
/// `send` and one `recv` of its ack, where `ip link …` would be a process start per step.
/// A socket belongs to the network namespace it was opened in, which is how berthd configures a
/// container's namespace without entering it (see `NetworkNamespace`).
public final class Netlink {
    let fd: Int32
    var sequence: UInt32 = 0

    public init() throws(NetworkError) {
        let s = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard s >= 0 else { throw .system("netlink socket: \(String(cString: strerror(errno)))") }
        fd = s
    }

    deinit { close(fd) }

    // MARK: message building

    enum Kind: UInt16 {
        case newLink = 16, delLink = 17, getLink = 18, newAddr = 20, newRoute = 24, getRoute = 26
    }

    static let request: UInt16 = 1, ack: UInt16 = 4, dump: UInt16 = 0x300, excl: UInt16 = 0x200, create: UInt16 = 0x400, replace: UInt16 = 0x100

    /// A netlink attribute: type + payload, nested attributes are payloads of attributes.
    struct Attribute {
        var type: UInt16
        var payload: [UInt8]
        init(_ type: UInt16, _ payload: [UInt8]) { self.type = type; self.payload = payload }
        init(_ type: UInt16, string: String) { self.init(type, Array(string.utf8) + [0]) }
        init(_ type: UInt16, u32: UInt32) { self.init(type, le(u32)) }
        init(_ type: UInt16, nested: [Attribute]) { self.init(type, nested.flatMap(\.encoded)) }

        var encoded: [UInt8] {
            var out = le(UInt16(4 + payload.count)) + le(type) + payload
            while out.count % 4 != 0 { out.append(0) }
            return out
        }
    }

    /// struct ifinfomsg.
    static func ifinfo(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) -> [UInt8] {
        [UInt8(AF_UNSPEC), 0] + le(UInt16(0)) + le(UInt32(bitPattern: index)) + le(flags) + le(change)
    }

    static let up: UInt32 = 1  // IFF_UP
    static let ifName: UInt16 = 3, ifAddress: UInt16 = 1, ifMTU: UInt16 = 4, ifMaster: UInt16 = 10, ifLinkInfo: UInt16 = 18, ifNetNSFD: UInt16 = 28
    static let infoKind: UInt16 = 1, infoData: UInt16 = 2, vethPeer: UInt16 = 1

    /// Sends one request and waits for its acknowledgement (or its reply when `dump`); returns
    /// the reply messages (type, payload after the header).
    @discardableResult
    func call(_ kind: Kind, flags: UInt16, _ body: [UInt8], _ attributes: [Attribute] = []) throws(NetworkError) -> [(UInt16, [UInt8])] {
        sequence &+= 1
        let payload = body + attributes.flatMap(\.encoded)
        let message = le(UInt32(16 + payload.count)) + le(kind.rawValue) + le(flags | Self.request | Self.ack) + le(sequence) + le(UInt32(0)) + payload
        let sent = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == message.count else { throw .system("netlink send: \(String(cString: strerror(errno)))") }
        var replies: [(UInt16, [UInt8])] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else {
                if n < 0 && errno == EINTR { continue }
                throw .system("netlink recv: \(String(cString: strerror(errno)))")
            }
            var offset = 0
            while offset + 16 <= n {
                let length = Int(readLE32(buffer, offset))
                let type = UInt16(buffer[offset + 4]) | UInt16(buffer[offset + 5]) << 8
                let seq = readLE32(buffer, offset + 8)
                guard length >= 16, offset + length <= n else { break }
                let body = Array(buffer[offset + 16 ..< offset + length])
                offset += (length + 3) & ~3
                guard seq == sequence else { continue }
                switch type {
                case 2:  // NLMSG_ERROR: an error code, 0 for an ack
                    let code = Int32(bitPattern: readLE32(body, 0))
                    if code == 0 { return replies }
                    throw .kernel(-code)
                case 3:  // NLMSG_DONE
                    return replies
                default:
                    replies.append((type, body))
                }
            }
        }
    }

    // MARK: links

    /// The index of a link by name, or nil.
    public func index(of name: String) throws(NetworkError) -> Int32? {
        do {
            let replies = try call(.getLink, flags: 0, Self.ifinfo(), [Attribute(Self.ifName, string: name)])
            guard let reply = replies.first, reply.1.count >= 8 else { return nil }
            return Int32(bitPattern: readLE32(reply.1, 4))
        } catch .kernel(ENODEV) {
            return nil
        }
    }

    /// Every link: name, index and master index (0 when it has none).
    public func links() throws(NetworkError) -> [(name: String, index: Int32, master: Int32)] {
        try call(.getLink, flags: Self.dump, Self.ifinfo()).compactMap { type, body in
            guard type == Kind.newLink.rawValue, body.count >= 16 else { return nil }
            var name = "", master: Int32 = 0
            for (t, v) in Self.attributes(body, from: 16) {
                if t == Self.ifName { name = String(decoding: v.prefix { $0 != 0 }, as: UTF8.self) }
                if t == Self.ifMaster, v.count >= 4 { master = Int32(bitPattern: readLE32(v, 0)) }
            }
            return (name, Int32(bitPattern: readLE32(body, 4)), master)
        }
    }

    static func attributes(_ bytes: [UInt8], from start: Int) -> [(UInt16, [UInt8])] {
        var out: [(UInt16, [UInt8])] = []
        var offset = start
        while offset + 4 <= bytes.count {
            let length = Int(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
            let type = (UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8) & 0x3fff
            guard length >= 4, offset + length <= bytes.count else { break }
            out.append((type, Array(bytes[offset + 4 ..< offset + length])))
            offset += (length + 3) & ~3
        }
        return out
    }

    public func createBridge(_ name: String, mtu: Int? = nil) throws(NetworkError) {
        var attrs = [Attribute(Self.ifName, string: name),
                     Attribute(Self.ifLinkInfo, nested: [Attribute(Self.infoKind, string: "bridge")])]
        if let mtu { attrs.append(Attribute(Self.ifMTU, u32: UInt32(mtu))) }
        try call(.newLink, flags: Self.create | Self.excl, Self.ifinfo(), attrs)
    }

    /// A veth pair whose peer is born inside the namespace `peerNamespace` under `peerName`, with
    /// `peerMAC`; the host end is attached to `master` and brought up.
    public func createVeth(host: String, master: Int32, mtu: Int, peerName: String, peerNamespace: Int32, peerMAC: [UInt8]) throws(NetworkError) {
        let peer = Self.ifinfo() + [Attribute(Self.ifName, string: peerName), Attribute(Self.ifNetNSFD, u32: UInt32(bitPattern: peerNamespace)),
                                    Attribute(Self.ifAddress, peerMAC), Attribute(Self.ifMTU, u32: UInt32(mtu))].flatMap(\.encoded)
        try call(.newLink, flags: Self.create | Self.excl, Self.ifinfo(flags: Self.up, change: Self.up), [
            Attribute(Self.ifName, string: host),
            Attribute(Self.ifMaster, u32: UInt32(bitPattern: master)),
            Attribute(Self.ifMTU, u32: UInt32(mtu)),
            Attribute(Self.ifLinkInfo, nested: [Attribute(Self.infoKind, string: "veth"),
                                                Attribute(Self.infoData, nested: [Attribute(Self.vethPeer, peer)])]),
        ])
    }

    public func setUp(_ index: Int32) throws(NetworkError) {
        try call(.newLink, flags: 0, Self.ifinfo(index: index, flags: Self.up, change: Self.up))
    }

    public func delete(_ index: Int32) throws(NetworkError) {
        try call(.delLink, flags: 0, Self.ifinfo(index: index))
    }

    /// Deletes a link by name if it exists.
    public func delete(named name: String) throws(NetworkError) {
        if let index = try index(of: name) { try delete(index) }
    }

    // MARK: addresses and routes

    public func addAddress(_ index: Int32, _ ip: IPv4, prefix: Int) throws(NetworkError) {
        let broadcast = IPv4(ip.value | ~Subnet.mask(prefix))
        let body = [UInt8(AF_INET), UInt8(prefix), 0, 0 /* RT_SCOPE_UNIVERSE */] + le(UInt32(bitPattern: index))
        try call(.newAddr, flags: Self.create | Self.excl, body,
                 [Attribute(2 /* IFA_LOCAL */, ip.bytes), Attribute(1 /* IFA_ADDRESS */, ip.bytes), Attribute(4 /* IFA_BROADCAST */, broadcast.bytes)])
    }

    /// The default route through `gateway`; `replace` takes the place of one already there (a
    /// network connected later with a higher `gw-priority`). Without a `device` the kernel takes
    /// the interface whose subnet holds the gateway.
    public func addDefaultRoute(via gateway: IPv4, device: Int32?, replace: Bool = false) throws(NetworkError) {
        // struct rtmsg: family, dst_len, src_len, tos, table MAIN, protocol BOOT, scope UNIVERSE, type UNICAST, flags
        let body: [UInt8] = [UInt8(AF_INET), 0, 0, 0, 254, 3, 0, 1] + le(UInt32(0))
        try call(.newRoute, flags: Self.create | (replace ? Self.replace : Self.excl), body,
                 [Attribute(5 /* RTA_GATEWAY */, gateway.bytes)] + Self.outputInterface(device))
    }

    static func outputInterface(_ device: Int32?) -> [Attribute] {
        device.map { [Attribute(4 /* RTA_OIF */, le(UInt32(bitPattern: $0)))] } ?? []
    }

    /// An IPv6 address, without duplicate address detection (`nodad`, as Docker adds them): the
    /// address works at once instead of after DAD's second or so.
    public func addAddress(_ index: Int32, _ ip: IPv6, prefix: Int) throws(NetworkError) {
        let body = [UInt8(AF_INET6), UInt8(prefix), 0x02 /* IFA_F_NODAD */, 0 /* RT_SCOPE_UNIVERSE */] + le(UInt32(bitPattern: index))
        try call(.newAddr, flags: Self.create | Self.excl, body, [Attribute(2 /* IFA_LOCAL */, ip.bytes), Attribute(1 /* IFA_ADDRESS */, ip.bytes)])
    }

    public func addDefaultRoute(via gateway: IPv6, device: Int32?, replace: Bool = false) throws(NetworkError) {
        let body: [UInt8] = [UInt8(AF_INET6), 0, 0, 0, 254, 3, 0, 1] + le(UInt32(0))
        try call(.newRoute, flags: Self.create | (replace ? Self.replace : Self.excl), body,
                 [Attribute(5 /* RTA_GATEWAY */, gateway.bytes)] + Self.outputInterface(device))
    }

    /// The main table's IPv4 routes: each one's prefix length and destination (none for a
    /// default route).
    func mainRoutes() throws(NetworkError) -> [(prefix: Int, destination: IPv4?)] {
        let body: [UInt8] = [UInt8(AF_INET), 0, 0, 0, 0, 0, 0, 0] + le(UInt32(0))
        return try call(.getRoute, flags: Self.dump, body).compactMap { type, msg in
            guard type == Kind.newRoute.rawValue, msg.count >= 12, msg[4] == 254 else { return nil }
            let destination = Self.attributes(msg, from: 12).first { $0.0 == 1 /* RTA_DST */ && $0.1.count == 4 }.map { _, v in
                IPv4(UInt32(v[0]) << 24 | UInt32(v[1]) << 16 | UInt32(v[2]) << 8 | UInt32(v[3]))
            }
            return (Int(msg[1]), destination)
        }
    }

    /// IPv4 routes of the main table as subnets, to keep new networks off the host's ranges.
    public func routedSubnets() throws(NetworkError) -> [Subnet] {
        try mainRoutes().compactMap { route in route.destination.flatMap { route.prefix > 0 ? Subnet(network: $0, prefix: route.prefix) : nil } }
    }

    public func hasDefaultRoute() throws(NetworkError) -> Bool {
        try mainRoutes().contains { $0.prefix == 0 }
    }
}

func le(_ v: UInt16) -> [UInt8] { [UInt8(v & 255), UInt8(v >> 8)] }
func le(_ v: UInt32) -> [UInt8] { [UInt8(v & 255), UInt8(v >> 8 & 255), UInt8(v >> 16 & 255), UInt8(v >> 24)] }
func readLE32(_ b: [UInt8], _ o: Int) -> UInt32 {
    UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
}
