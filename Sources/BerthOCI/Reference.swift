/// An image reference parsed and normalized exactly as Docker does (distribution/reference
/// `ParseNormalizedNamed`): `ubuntu` → `docker.io/library/ubuntu`, errors in Docker's words.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    public static let defaultDomain = "docker.io"

    /// Registry host (and port): `docker.io`, `localhost:5000`.
    public var domain: String
    /// Repository path in the registry: `library/ubuntu`.
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case invalidFormat
        case uppercase(String)
        case nameTooLong
        case hexIdentifier(String)
        case invalidDigest(String)

        public var description: String {
            switch self {
            case .invalidFormat: return "invalid reference format"
            case .uppercase(let name): return "invalid reference format: repository name (\(name)) must be lowercase"
            case .nameTooLong: return "repository name must not be more than 255 characters"
            case .hexIdentifier(let s): return "invalid repository name (\(s)), cannot specify 64-byte hexadecimal strings"
            case .invalidDigest(let s): return "invalid reference format: \(s)"
            }
        }
    }

    public init(domain: String, path: String, tag: String? = nil, digest: Digest? = nil) {
        self.domain = domain; self.path = path; self.tag = tag; self.digest = digest
    }

    /// Parses a user's reference. No default tag is added: see `withDefaultTag`.
    public init(parsing text: String) throws {
        if text.utf8.count == 64 && text.utf8.allSatisfy(Digest.isLowerHex) { throw ParseError.hexIdentifier(text) }
        var domain = Self.defaultDomain, remainder = text
        if let slash = text.firstIndex(of: "/") {
            let first = text[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                domain = String(first)
                remainder = String(text[text.index(after: slash)...])
            }
        }
        if domain == "index.docker.io" { domain = Self.defaultDomain }
        if domain == Self.defaultDomain && !remainder.contains("/") { remainder = "library/" + remainder }
        let remoteName = remainder.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if remoteName.lowercased() != remoteName { throw ParseError.uppercase(remoteName) }

        var rest = Substring(remainder)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let digestText = String(rest[rest.index(after: at)...])
            guard Self.matchesDigestGrammar(digestText) else { throw ParseError.invalidFormat }
            do { digest = try Digest(parsing: digestText) } catch { throw ParseError.invalidDigest("invalid checksum digest") }
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
            guard Self.isTag(tag!) else { throw ParseError.invalidFormat }
        }
        let path = String(rest)
        guard Self.isDomain(domain), !path.isEmpty, path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(Self.isPathComponent) else {
            throw ParseError.invalidFormat
        }
        if domain.utf8.count + 1 + path.utf8.count > 255 { throw ParseError.nameTooLong }
        self.init(domain: domain, path: path, tag: tag, digest: digest)
    }

    /// `name:latest` when neither a tag nor a digest was given (Docker's `TagNameOnly`).
    public var withDefaultTag: Reference {
        var r = self
        if r.tag == nil && r.digest == nil { r.tag = "latest" }
        return r
    }

    /// Full repository name: `docker.io/library/ubuntu`.
    public var name: String { domain + "/" + path }

    /// The name as Docker shows it: `ubuntu`, `user/app`, `localhost:5000/app`.
    public var familiarName: String {
        guard domain == Self.defaultDomain else { return name }
        return path.hasPrefix("library/") && path.split(separator: "/").count == 2 ? String(path.dropFirst(8)) : path
    }

    /// `docker.io/library/ubuntu:22.04@sha256:…`.
    public var description: String { name + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.description } ?? "") }

    /// `ubuntu:22.04`, as `docker images`/`RepoTags` show it.
    public var familiarString: String {
        familiarName + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.description } ?? "")
    }

    // MARK: grammar (distribution/reference regexp.go)

    static func isAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
    static func isWord(_ c: UInt8) -> Bool { isAlnum(c) || (c >= 65 && c <= 90) || c == 95 }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
    static func isPathComponent(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, let last = b.last, isAlnum(first), isAlnum(last) else { return false }
        var i = 0
        while i < b.count {
            if isAlnum(b[i]) { i += 1; continue }
            var j = i
            while j < b.count && !isAlnum(b[j]) { j += 1 }
            let sep = b[i..<j]
            let ok = sep.elementsEqual([46]) || sep.elementsEqual([95]) || sep.elementsEqual([95, 95]) || sep.allSatisfy { $0 == 45 }
            if !ok { return false }
            i = j
        }
        return true
    }

    /// `host(:port)?` where host is dotted `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` labels or `[ipv6]`.
    static func isDomain(_ s: String) -> Bool {
        var host = Substring(s)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inner = host[host.index(after: host.startIndex)..<close]
            guard !inner.isEmpty, inner.utf8.allSatisfy({ Digest.isLowerHex($0) || ($0 >= 65 && $0 <= 70) || $0 == 58 }) else { return false }
            host = host[host.index(after: close)...]
            if host.isEmpty { return true }
            guard host.first == ":" else { return false }
            return isPort(host.dropFirst())
        }
        if let colon = host.lastIndex(of: ":") {
            guard isPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let b = Array(label.utf8)
            let alnum: (UInt8) -> Bool = { isAlnum($0) || ($0 >= 65 && $0 <= 90) }
            guard let f = b.first, let l = b.last, alnum(f), alnum(l) else { return false }
            return b.allSatisfy { alnum($0) || $0 == 45 }
        }
    }

    static func isPort(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }

    /// `[\w][\w.-]{0,127}`
    static func isTag(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let f = b.first, isWord(f), b.count <= 128 else { return false }
        return b.allSatisfy { isWord($0) || $0 == 46 || $0 == 45 }
    }

    /// `algorithm:hex{32,}` as the reference grammar has it (the digest itself is checked after).
    static func matchesDigestGrammar(_ s: String) -> Bool {
        guard let colon = s.firstIndex(of: ":") else { return false }
        let alg = s[..<colon], hex = s[s.index(after: colon)...]
        guard let f = alg.utf8.first, (f >= 65 && f <= 90) || (f >= 97 && f <= 122) else { return false }
        guard alg.utf8.allSatisfy({ isWord($0) && $0 != 95 || "-_+.".utf8.contains($0) }) else { return false }
        return hex.utf8.count >= 32 && hex.utf8.allSatisfy { Digest.isLowerHex($0) || ($0 >= 65 && $0 <= 70) }
    }
}

extension Reference {
    /// The registry a login address names: `https://index.docker.io/v1/`, `docker.io` and empty
    /// mean Docker Hub; otherwise the address's `host[:port]` (scheme and path dropped).
    public static func domain(ofServer address: String) -> String {
        var text = address
        if let scheme = text.firstRange(of: "://") { text = String(text[scheme.upperBound...]) }
        text = String(text.split(separator: "/", maxSplits: 1).first ?? "")
        if text.isEmpty || ["index.docker.io", "docker.io", "registry-1.docker.io"].contains(text) { return defaultDomain }
        return text
    }
}
