import BerthSystem
import CBerthLinux
import Glibc

/// The embedded DNS server of user-defined networks: containers ask 127.0.0.11 (their
/// resolv.conf says so) and get the addresses of the containers and aliases on the networks
/// they share; other names are relayed to the host's resolvers.
///
/// Each container gets one UDP socket bound to 127.0.0.11:53 *inside its namespace* (opened by
/// a thread that entered it), so no netfilter redirection is needed; one thread polls them all.
/// The table of names is the daemon's, set by the network service as endpoints come and go.
public final class DNSServer: @unchecked Sendable {
    public static let address = "127.0.0.11"
    let lock = Lock()
    /// Per network: lower-cased name → address.
    var names: [String: [String: IPv4]] = [:]
    /// Per container: link alias → the linked container's name (`--link` on user networks),
    /// resolved when asked, so a link may name a container that starts later.
    var links: [String: [String: String]] = [:]
    /// Per socket: the container it serves and its networks.
    var sockets: [Int32: (container: String, networks: [String])] = [:]
    var pending: [UInt16: (fd: Int32, client: [UInt8], id: UInt16, deadline: Double)] = [:]
    var nextID: UInt16 = 1
    /// Sockets of stopped containers, closed by the poll thread between two polls (closing one
    /// under a running poll could hand its number to a new socket mid-round).
    var closing: [Int32] = []
    let wake: [Int32]
    let upstream: Int32
    let upstreamServers: [IPv4]

    public init() {
        var fds: [Int32] = [0, 0]
        _ = berth_pipe_cloexec(&fds)
        wake = fds
        upstream = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        let resolv = (try? FileIO.readString("/etc/resolv.conf")) ?? ""
        upstreamServers = resolv.split(separator: "\n").compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return f.count >= 2 && f[0] == "nameserver" ? IPv4(String(f[1])) : nil
        }
        Threads.detach { [self] in loop() }
    }

    public func setNames(network: String, _ table: [String: IPv4]) {
        lock.locked { names[network] = table.isEmpty ? nil : Dictionary(table.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a }) }
    }

    /// Starts answering inside the namespace pinned at `namespace` for `container`.
    public func serve(container: String, namespace: String, networks: [String]) throws(NetworkError) {
        stop(container: container)
        let fd = try NetworkNamespace.within(namespace) { () throws(NetworkError) -> Int32 in
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw .system("dns socket: \(String(cString: strerror(errno)))") }
            // The socket this one replaces (a reconnect) is closed by the poll thread between two
            // rounds, maybe after this bind: both allow the overlap.
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = DNSServer.socketAddress(IPv4(DNSServer.address)!, port: 53)
            let rc = addr.withUnsafeMutableBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
            guard rc == 0 else { close(fd); throw .system("dns bind 127.0.0.11:53: \(String(cString: strerror(errno)))") }
            return fd
        }
        lock.locked { sockets[fd] = (container, networks) }
        poke()
    }

    /// Adds `alias → target` names that only `container` resolves.
    public func addLinks(container: String, _ table: [String: String]) {
        guard !table.isEmpty else { return }
        lock.locked { for (alias, target) in table { links[container, default: [:]][alias.lowercased()] = target.lowercased() } }
    }

    public func removeLinks(container: String) { lock.locked { links[container] = nil } }

    public func update(container: String, networks: [String]) {
        lock.locked { for (fd, s) in sockets where s.container == container { sockets[fd] = (container, networks) } }
    }

    public func stop(container: String) {
        let any = lock.locked { () -> Bool in
            let fds = sockets.filter { $0.value.container == container }.map(\.key)
            for fd in fds { sockets[fd] = nil }
            closing += fds
            return !fds.isEmpty
        }
        if any { poke() }
    }

    func poke() { var b: UInt8 = 1; _ = write(wake[1], &b, 1) }

    static func socketAddress(_ ip: IPv4, port: UInt16) -> [UInt8] {
        le(UInt16(AF_INET)) + [UInt8(port >> 8), UInt8(port & 255)] + ip.bytes + [UInt8](repeating: 0, count: 8)
    }

    func loop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let watched = lock.locked { () -> [Int32] in
                for fd in closing { close(fd) }
                closing = []
                pending = pending.filter { sockets[$0.value.fd] != nil }
                return Array(sockets.keys)
            }
            var fds = ([wake[0], upstream] + watched).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 1000) >= 0 || errno == EINTR else { continue }
            for p in fds where p.revents != 0 {
                if p.fd == wake[0] { _ = read(wake[0], &buffer, buffer.count); continue }
                var from = [UInt8](repeating: 0, count: 16)
                var fromLen = socklen_t(16)
                let n = buffer.withUnsafeMutableBytes { b in
                    from.withUnsafeMutableBytes { f in
                        recvfrom(p.fd, b.baseAddress, b.count, 0, f.baseAddress!.assumingMemoryBound(to: sockaddr.self), &fromLen)
                    }
                }
                guard n >= 12 else { continue }
                let packet = Array(buffer[0..<n])
                if p.fd == upstream { relayBack(packet) } else { answer(packet, fd: p.fd, client: from) }
            }
            expire()
        }
    }

    func send(_ packet: [UInt8], fd: Int32, to address: [UInt8]) {
        _ = packet.withUnsafeBytes { b in
            address.withUnsafeBytes { a in
                sendto(fd, b.baseAddress, b.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
    }

    func answer(_ query: [UInt8], fd: Int32, client: [UInt8]) {
        guard query[2] & 0x80 == 0, let question = DNSMessage.question(query) else { return }
        let found: IPv4? = lock.locked {
            guard let socket = sockets[fd] else { return nil }
            let asked = question.name.lowercased()
            let name = links[socket.container]?[asked] ?? asked
            for n in socket.networks { if let ip = names[n]?[name] { return ip } }
            return nil
        }
        if let found {
            send(DNSMessage.reply(query, question: question, answer: question.type == 1 || question.type == 255 ? found : nil), fd: fd, to: client)
            return
        }
        guard let server = upstreamServers.first else {
            send(DNSMessage.reply(query, question: question, answer: nil, rcode: 2), fd: fd, to: client)
            return
        }
        var forwarded = query
        let id = lock.locked { () -> UInt16 in
            nextID = nextID &+ 1
            pending[nextID] = (fd, client, UInt16(query[0]) << 8 | UInt16(query[1]), Monotonic.now() + 5)
            return nextID
        }
        forwarded[0] = UInt8(id >> 8); forwarded[1] = UInt8(id & 255)
        send(forwarded, fd: upstream, to: Self.socketAddress(server, port: 53))
    }

    func relayBack(_ reply: [UInt8]) {
        let id = UInt16(reply[0]) << 8 | UInt16(reply[1])
        guard let p = lock.locked({ pending.removeValue(forKey: id) }) else { return }
        var out = reply
        out[0] = UInt8(p.id >> 8); out[1] = UInt8(p.id & 255)
        send(out, fd: p.fd, to: p.client)
    }

    func expire() {
        let now = Monotonic.now()
        lock.locked { pending = pending.filter { $0.value.deadline > now } }
    }
}

/// The few bits of RFC 1035 the embedded server needs.
enum DNSMessage {
    struct Question { var name: String; var type: UInt16; var end: Int }

    /// The first question's name and type, and where it ends.
    static func question(_ m: [UInt8]) -> Question? {
        guard m.count >= 12, m[4] == 0, m[5] >= 1 else { return nil }
        var labels: [String] = []
        var i = 12
        while i < m.count {
            let len = Int(m[i])
            if len == 0 { break }
            guard len < 64, i + 1 + len < m.count else { return nil }
            labels.append(String(decoding: m[(i + 1)...(i + len)], as: UTF8.self))
            i += 1 + len
        }
        guard i + 5 <= m.count else { return nil }
        return Question(name: labels.joined(separator: "."), type: UInt16(m[i + 1]) << 8 | UInt16(m[i + 2]), end: i + 5)
    }

    /// A reply to `query`: one A record (TTL 600, as Docker's) or none; `rcode` 2 is SERVFAIL.
    static func reply(_ query: [UInt8], question: Question, answer: IPv4?, rcode: UInt8 = 0) -> [UInt8] {
        var out = Array(query[0..<question.end])
        out[2] = 0x80 | 0x04 | (query[2] & 0x01)  // QR, AA, RD as asked
        out[3] = 0x80 | rcode                       // RA
        out[6] = 0; out[7] = answer == nil ? 0 : 1
        out[8] = 0; out[9] = 0; out[10] = 0; out[11] = 0
        if let answer {
            out += [0xc0, 0x0c, 0, 1, 0, 1] + [0, 0, 0x02, 0x58] + [0, 4] + answer.bytes
        }
        return out
    }
}
