/// An absolute http(s) URL, split the way a request needs it. Registries hand out URLs in
/// `Location` (uploads, redirects to blob storage) and in auth challenges (`realm`).
public struct HTTPURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    /// Path and query, starting with `/`.
    public var target: String

    public init(scheme: String, host: String, port: Int? = nil, target: String = "/") {
        self.scheme = scheme
        self.host = host
        self.port = port ?? (scheme == "https" ? 443 : 80)
        self.target = target.hasPrefix("/") ? target : "/" + target
    }

    public init(parsing text: String) throws {
        guard let sep = text.firstRange(of: "://") else { throw RegistryError.invalidURL(text) }
        let scheme = text[..<sep.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { throw RegistryError.invalidURL(text) }
        let rest = text[sep.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = String(rest[..<authorityEnd])
        var target = String(rest[authorityEnd...])
        if target.hasPrefix("?") { target = "/" + target }
        let (host, port) = try Self.splitHostPort(authority, original: text)
        self.init(scheme: scheme, host: host, port: port, target: target.isEmpty ? "/" : target)
    }

    /// `host`, `host:port`, `[v6]:port`.
    static func splitHostPort(_ authority: String, original: String) throws -> (String, Int?) {
        guard !authority.isEmpty, !authority.contains("@") else { throw RegistryError.invalidURL(original) }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw RegistryError.invalidURL(original) }
            let host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty { return (host, nil) }
            guard after.hasPrefix(":"), let port = Int(after.dropFirst()), (1...65535).contains(port) else { throw RegistryError.invalidURL(original) }
            return (host, port)
        }
        if let colon = authority.lastIndex(of: ":") {
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else { throw RegistryError.invalidURL(original) }
            return (String(authority[..<colon]), port)
        }
        return (authority, nil)
    }

    /// `host[:port]` as a Host header and a registry name carry it (default ports left out).
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (scheme == "https" ? 443 : 80) ? h : "\(h):\(port)"
    }

    public var description: String { "\(scheme)://\(authority)\(target)" }

    /// A `Location` header's URL: absolute, or relative to this one.
    public func resolving(_ location: String) throws -> HTTPURL {
        if location.contains("://") { return try HTTPURL(parsing: location) }
        var url = self
        if location.hasPrefix("/") { url.target = location; return url }
        let base = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        url.target = String(base[...(base.lastIndex(of: "/") ?? base.startIndex)]) + location
        return url
    }

    /// This URL with query parameters appended (values percent-encoded).
    public func adding(query items: [(String, String)]) -> HTTPURL {
        guard !items.isEmpty else { return self }
        var url = self
        let encoded = items.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
        url.target += (target.contains("?") ? "&" : "?") + encoded
        return url
    }

    public static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return out
    }
}
