import BerthOCI
import BerthSystem
import Glibc

/// Where a registry name is reached and how: Docker's rules for mirrors, insecure registries and
/// per-host certificates (`daemon.json` `registry-mirrors`, `insecure-registries`, `certs.d`).
public struct RegistryHosts: Sendable {
    /// Mirrors for docker.io, tried in order before the origin.
    public var mirrors: [HTTPURL]
    /// Hosts (`host[:port]`) and CIDRs whose registries may use plain HTTP or unverified TLS.
    public var insecure: [String]
    /// Directories holding `<host[:port]>/{*.crt,*.cert,*.key}`.
    public var certsDirectories: [String]

    public init(mirrors: [String] = [], insecure: [String] = [],
                certsDirectories: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"]) throws {
        self.mirrors = try mirrors.map { text in
            var url = try HTTPURL(parsing: text.hasSuffix("/") ? String(text.dropLast()) : text)
            if url.target == "/" { url.target = "" }
            return url
        }
        self.insecure = insecure
        self.certsDirectories = certsDirectories
    }

    /// The registry's own host for docker.io (Docker Hub's API lives apart from its name).
    public static func origin(_ domain: String) -> String { domain == Reference.defaultDomain ? "registry-1.docker.io" : domain }

    /// The places to try for `domain`, first to last. An insecure registry gets HTTPS without
    /// verification and then plain HTTP, as Docker does.
    public func endpoints(for domain: String) throws -> [RegistryEndpoint] {
        var out: [RegistryEndpoint] = []
        if domain == Reference.defaultDomain {
            for mirror in mirrors {
                out.append(RegistryEndpoint(base: mirror, tls: tlsOptions(host: mirror.authority, verify: !isInsecure(mirror.authority)), isMirror: true))
            }
        }
        let host = Self.origin(domain)
        let (name, _) = try HTTPURL.splitHostPort(host, original: host)
        let insecure = isInsecure(host)
        let https = HTTPURL(scheme: "https", host: name, port: try HTTPURL.splitHostPort(host, original: host).1, target: "")
        // A CA given for the host means the user wants it verified, even on loopback.
        let tls = tlsOptions(host: host, verify: !insecure || hasCA(host))
        out.append(RegistryEndpoint(base: https, tls: tls, isMirror: false))
        if insecure {
            var http = https
            http.scheme = "http"
            if https.port == 443 { http.port = 80 }
            out.append(RegistryEndpoint(base: http, tls: tls, isMirror: false))
        }
        return out
    }

    /// Docker's insecure set: the configured names and CIDRs, and always 127.0.0.0/8 (and ::1).
    public func isInsecure(_ host: String) -> Bool {
        if insecure.contains(host) { return true }
        let name = (try? HTTPURL.splitHostPort(host, original: host).0) ?? host
        if insecure.contains(name) { return true }
        return Self.addresses(of: name).contains { address in insecureCIDRs.contains { CIDR.contains($0, address) } }
    }

    /// Loopback is always insecure, as in dockerd; then the CIDRs among `insecure`.
    public var insecureCIDRs: [String] { ["127.0.0.0/8", "::1/128"] + insecure.filter { $0.contains("/") } }

    func hasCA(_ host: String) -> Bool { !certificateFiles(host).ca.isEmpty }

    func tlsOptions(host: String, verify: Bool) -> TLSOptions {
        let files = certificateFiles(host)
        return TLSOptions(verify: verify, caFiles: files.ca, clientCertificate: files.client)
    }

    /// Docker's certs.d layout: `*.crt` are CAs, `name.cert` with `name.key` a client pair.
    func certificateFiles(_ host: String) -> (ca: [String], client: (cert: String, key: String)?) {
        var ca: [String] = []
        var client: (String, String)?
        for root in certsDirectories {
            let dir = root + "/" + host
            for name in ((try? FileIO.listDirectory(dir)) ?? []).sorted() {
                if name.hasSuffix(".crt") { ca.append(dir + "/" + name) }
                if name.hasSuffix(".cert"), client == nil {
                    let key = dir + "/" + name.dropLast(5) + ".key"
                    if FileIO.exists(key) { client = (dir + "/" + name, key) }
                }
            }
        }
        return (ca, client)
    }

    static func addresses(of host: String) -> [String] {
        if host == "localhost" { return ["127.0.0.1"] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST
        var result: UnsafeMutablePointer<addrinfo>?
        // Only literal addresses are classified without a lookup; a name is looked up (as Docker does).
        if getaddrinfo(host, nil, &hints, &result) != 0 {
            hints.ai_flags = 0
            guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        }
        defer { freeaddrinfo(result) }
        var out: [String] = []
        var node = result
        while let ai = node {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(ai.pointee.ai_addr, ai.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                out.append(String(cString: buffer))
            }
            node = ai.pointee.ai_next
        }
        return out
    }
}

/// One base URL to try, with the TLS rules for it.
public struct RegistryEndpoint: Sendable {
    public var base: HTTPURL
    public var tls: TLSOptions
    public var isMirror: Bool

    public func url(_ path: String) -> HTTPURL {
        var url = base
        url.target = (base.target == "/" ? "" : base.target) + path
        return url
    }
}

/// IPv4/IPv6 prefix matching for `insecure-registries` CIDRs.
enum CIDR {
    static func contains(_ cidr: String, _ address: String) -> Bool {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let bits = Int(parts[1]), let net = bytes(String(parts[0])), let addr = bytes(address),
              net.count == addr.count, bits <= net.count * 8 else { return false }
        for i in 0..<net.count {
            let take = max(0, min(8, bits - i * 8))
            let mask: UInt8 = take == 0 ? 0 : ~UInt8(0) << (8 - take)
            if net[i] & mask != addr[i] & mask { return false }
        }
        return true
    }

    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
