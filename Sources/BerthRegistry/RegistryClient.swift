import BerthContent
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// Who we are to a registry: nothing (anonymous pulls), a user and password, or tokens a
/// login handed out.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var password: String
    public var identityToken: String
    public var registryToken: String

    public init(username: String = "", password: String = "", identityToken: String = "", registryToken: String = "") {
        self.username = username
        self.password = password
        self.identityToken = identityToken
        self.registryToken = registryToken
    }

    /// From an auth config as Docker's clients and the kubelet send one: `auth` (base64 of
    /// `user:password`) stands in for an empty username; nil when nothing at all is given.
    public static func given(username: String, password: String, auth: String, identityToken: String, registryToken: String) -> RegistryCredentials? {
        var username = username, password = password
        if username.isEmpty, !auth.isEmpty, let data = Data(base64Encoded: auth) {
            let pair = String(decoding: data, as: UTF8.self)
            if let colon = pair.firstIndex(of: ":") { username = String(pair[..<colon]); password = String(pair[pair.index(after: colon)...]) }
        }
        let credentials = RegistryCredentials(username: username, password: password, identityToken: identityToken, registryToken: registryToken)
        return credentials == RegistryCredentials() ? nil : credentials
    }

    var basic: String? {
        guard !username.isEmpty || !password.isEmpty else { return nil }
        return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

/// Distribution API v2 for one repository on one registry: the auth dance (challenges, bearer
/// tokens cached until they expire, basic auth), manifests, blobs, uploads. Thread-safe: a pull's
/// parallel layer transfers share one client and its tokens.
public final class RegistryClient: @unchecked Sendable {
    public let endpoint: RegistryEndpoint
    /// The repository's path in the registry (`library/busybox`).
    public let repository: String
    let http: HTTPClient
    let credentials: RegistryCredentials?
    /// `pull` or `pull,push`.
    let actions: String
    let lock = Lock()
    var challenge: AuthChallenge?
    var tokens: [String: (token: String, expires: Int)] = [:]

    public init(endpoint: RegistryEndpoint, repository: String, http: HTTPClient, credentials: RegistryCredentials?, push: Bool = false) {
        self.endpoint = endpoint
        self.repository = repository
        self.http = http
        self.credentials = credentials
        self.actions = push ? "pull,push" : "pull"
    }

    var scope: String { repository.isEmpty ? "" : "repository:\(repository):\(actions)" }

    // MARK: requests with auth

    /// Sends a request to the registry, answering one auth challenge (then retrying) and following
    /// redirects (blob storage elsewhere gets no registry credentials).
    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: HTTPBody = .none,
                     extraScopes: [String] = []) throws -> HTTPResponse {
        var url = path.hasPrefix("http://") || path.hasPrefix("https://") ? try HTTPURL(parsing: path) : endpoint.url(path)
        var answeredChallenge = false
        var redirects = 0
        while true {
            var all = headers
            let sameHost = url.authority == endpoint.base.authority
            if sameHost, let auth = try authorization(extraScopes: extraScopes) { all.append(("Authorization", auth)) }
            let response = try http.send(HTTPRequest(method, url, headers: all, body: body, tls: endpoint.tls))
            if response.status == 401, sameHost,
               let challenge = response.headerValues("WWW-Authenticate").flatMap(AuthChallenge.parse).first {
                response.discard()
                // Answered once and still refused: the credentials (or their absence) are the problem.
                guard !answeredChallenge else {
                    throw RegistryError.unauthorized(credentials == nil ? "authentication required" : "incorrect username or password")
                }
                answeredChallenge = true
                try answer(challenge, extraScopes: extraScopes)
                continue
            }
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.header("Location"), redirects < 5,
               method == "GET" || method == "HEAD" {
                response.discard()
                url = try url.resolving(location)
                redirects += 1
                continue
            }
            return response
        }
    }

    func authorization(extraScopes: [String]) throws -> String? {
        let scopes = ([scope] + extraScopes).filter { !$0.isEmpty }
        let (challenge, cached) = lock.locked { (self.challenge, tokens[scopes.joined(separator: " ")]) }
        guard let challenge else { return nil }
        if challenge.scheme == "basic" { return credentials?.basic }
        if let cached, cached.expires > Int(Timestamp.epochNow()) { return "Bearer " + cached.token }
        guard challenge.scheme == "bearer" else { return nil }
        return "Bearer " + (try fetchToken(challenge, scopes: scopes))
    }

    /// Adopts the registry's challenge; for bearer, fetches a fresh token (a cached one was refused).
    func answer(_ challenge: AuthChallenge, extraScopes: [String]) throws {
        lock.locked { self.challenge = challenge }
        switch challenge.scheme {
        case "basic":
            guard credentials?.basic != nil else { throw RegistryError.unauthorized("authentication required") }
        case "bearer":
            _ = try fetchToken(challenge, scopes: ([scope] + extraScopes).filter { !$0.isEmpty })
        default:
            throw RegistryError.unsupported("unsupported authentication scheme \(challenge.scheme)")
        }
    }

    /// A bearer token for `scopes` from the challenge's realm (basic credentials when we have
    /// them, anonymous otherwise); cached until shortly before it expires.
    func fetchToken(_ challenge: AuthChallenge, scopes: [String]) throws -> String {
        if let token = credentials?.registryToken, !token.isEmpty { return token }
        guard let realm = challenge.realm else { throw RegistryError.protocolError("bearer challenge without a realm") }
        var query: [(String, String)] = []
        if let service = challenge.parameters["service"] { query.append(("service", service)) }
        for scope in scopes where !scope.isEmpty { query.append(("scope", scope)) }
        if let user = credentials?.username, !user.isEmpty { query.append(("account", user)) }
        let url = try HTTPURL(parsing: realm).adding(query: query)
        var headers: [(String, String)] = []
        if let basic = credentials?.basic { headers.append(("Authorization", basic)) }
        let tls = url.authority == endpoint.base.authority ? endpoint.tls : TLSOptions()
        let response = try http.send(HTTPRequest("GET", url, headers: headers, tls: tls))
        let body = try response.bytes(limit: 1 << 20)
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 {
                throw RegistryError.unauthorized(credentials?.basic == nil ? "authentication required" : "incorrect username or password")
            }
            throw Self.error(status: response.status, body: body)
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
            var expires_in: Int?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body)),
              let token = decoded.token ?? decoded.access_token, !token.isEmpty else {
            throw RegistryError.protocolError("the token server at \(realm) returned no token")
        }
        // Docker's minimum lifetime is 60 s; renew 10 s early.
        let expires = Int(Timestamp.epochNow()) + max(decoded.expires_in ?? 60, 60) - 10
        lock.locked { tokens[scopes.joined(separator: " ")] = (token, expires) }
        return token
    }

    /// Distribution's error document, as one error.
    static func error(status: Int, body: [UInt8]) -> RegistryError {
        struct Errors: Decodable {
            struct Item: Decodable { var code: String?; var message: String? }
            var errors: [Item]?
        }
        if let first = (try? JSONDecoder().decode(Errors.self, from: Data(body)))?.errors?.first {
            return .registry(status: status, code: first.code ?? "", message: first.message ?? "")
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmed
        return .registry(status: status, code: "", message: text.isEmpty ? "registry answered HTTP \(status)" : text)
    }

    // MARK: Distribution API

    /// `GET /v2/`: reachability, and (with credentials) whether they are accepted.
    public func ping() throws {
        let response = try send("GET", "/v2/")
        let body = try response.bytes(limit: 1 << 20)
        if response.status == 401 { throw RegistryError.unauthorized(credentials == nil ? "authentication required" : "incorrect username or password") }
        guard response.status == 200 else { throw Self.error(status: response.status, body: body) }
    }

    public static let acceptedManifests = [MediaType.dockerManifestList, MediaType.ociIndex, MediaType.dockerManifest, MediaType.ociManifest]

    /// A manifest or index by tag or digest: its bytes, media type and digest (verified when
    /// asked for by digest).
    public func manifest(_ reference: String, method: String = "GET") throws -> (bytes: [UInt8], mediaType: String, digest: Digest) {
        let response = try send(method, "/v2/\(repository)/manifests/\(reference)",
                                headers: [("Accept", Self.acceptedManifests.joined(separator: ", "))])
        let body = try response.bytes(limit: 4 << 20)
        guard response.status == 200 else { throw Self.error(status: response.status, body: body) }
        let mediaType = response.header("Content-Type")?.split(separator: ";").first.map { String($0).trimmed } ?? ""
        if method == "HEAD" {
            guard let header = response.header("Docker-Content-Digest"), let digest = try? Digest(parsing: header) else {
                throw RegistryError.protocolError("the registry sent no Docker-Content-Digest for \(reference)")
            }
            return ([], mediaType, digest)
        }
        let digest = SHA256.digest(body)
        if let wanted = try? Digest(parsing: reference), wanted != digest {
            throw RegistryError.digestMismatch(expected: wanted, actual: digest)
        }
        return (body, mediaType, digest)
    }

    /// Starts a blob download at `offset` (a Range request when > 0). The response is 200 (the
    /// whole blob: the caller skips what it has) or 206 (the rest).
    public func blob(_ digest: Digest, from offset: Int64) throws -> HTTPResponse {
        let headers = offset > 0 ? [("Range", "bytes=\(offset)-")] : []
        let response = try send("GET", "/v2/\(repository)/blobs/\(digest)", headers: headers)
        guard response.status == 200 || response.status == 206 else {
            let body = (try? response.bytes(limit: 1 << 20)) ?? []
            throw Self.error(status: response.status, body: body)
        }
        return response
    }

    public func blobExists(_ digest: Digest) throws -> Bool {
        let response = try send("HEAD", "/v2/\(repository)/blobs/\(digest)")
        response.discard()
        if response.status == 200 { return true }
        if response.status == 404 { return false }
        throw Self.error(status: response.status, body: [])
    }

    /// Cross-repository mount: true when the registry linked the blob without an upload.
    public func mount(_ digest: Digest, from source: String) throws -> Bool {
        let response = try send("POST", "/v2/\(repository)/blobs/uploads/?mount=\(digest)&from=\(HTTPURL.percentEncode(source))",
                                extraScopes: ["repository:\(source):pull"])
        if response.status == 201 { response.discard(); return true }
        if response.status == 202, let location = response.header("Location") {
            // The registry started an upload instead; cancel it.
            response.discard()
            (try? send("DELETE", try endpoint.url("/v2/\(repository)/blobs/uploads/").resolving(location).description))?.discard()  // else the registry expires it
            return false
        }
        let body = (try? response.bytes(limit: 1 << 20)) ?? []
        throw Self.error(status: response.status, body: body)
    }

    /// Uploads a blob from a file: one PUT when it is small, PATCH chunks and a closing PUT when
    /// large (what registries and proxies with body limits accept).
    public func upload(_ digest: Digest, fd: Int32, size: Int64, chunkSize: Int64 = 16 << 20,
                       progress: (Int64) -> Void = { _ in }) throws {
        let start = try send("POST", "/v2/\(repository)/blobs/uploads/")
        let startBody = try start.bytes(limit: 1 << 20)
        guard start.status == 202, let first = start.header("Location") else { throw Self.error(status: start.status, body: startBody) }
        var location = try endpoint.url("/v2/\(repository)/blobs/uploads/").resolving(first)
        var offset: Int64 = 0
        if size > chunkSize {
            while offset < size {
                let length = min(chunkSize, size - offset)
                let response = try send("PATCH", location.description, headers: [
                    ("Content-Type", "application/octet-stream"), ("Content-Range", "\(offset)-\(offset + length - 1)"),
                ], body: .file(fd: fd, offset: offset, length: length))
                let body = try response.bytes(limit: 1 << 20)
                guard response.status == 202, let next = response.header("Location") else { throw Self.error(status: response.status, body: body) }
                location = try location.resolving(next)
                offset += length
                progress(offset)
            }
        }
        let response = try send("PUT", location.adding(query: [("digest", digest.description)]).description,
                                headers: [("Content-Type", "application/octet-stream")],
                                body: offset < size ? .file(fd: fd, offset: offset, length: size - offset) : .none)
        let body = try response.bytes(limit: 1 << 20)
        guard response.status == 201 else { throw Self.error(status: response.status, body: body) }
        progress(size)
    }

    /// PUT of a manifest under a tag (or its digest); returns the digest the registry reports.
    public func putManifest(_ reference: String, bytes: [UInt8], mediaType: String) throws -> Digest {
        let response = try send("PUT", "/v2/\(repository)/manifests/\(reference)", headers: [("Content-Type", mediaType)], body: .bytes(bytes))
        let body = try response.bytes(limit: 1 << 20)
        guard response.status == 201 else { throw Self.error(status: response.status, body: body) }
        return SHA256.digest(bytes)
    }

    /// `GET /v2/_catalog` (for search on registries other than Docker Hub), following `Link` pages.
    public func catalog(limit: Int = 1000) throws -> [String] {
        try pages("/v2/_catalog?n=100", limit: limit, extraScopes: ["registry:catalog:*"], \.repositories)
    }

    /// `GET /v2/<name>/tags/list`, following `Link` pages: a pull of every tag (`pull --all-tags`).
    public func tags() throws -> [String] {
        try pages("/v2/\(repository)/tags/list?n=100", limit: 10_000, extraScopes: [], \.tags)
    }

    private struct Page: Decodable { var repositories: [String]?; var tags: [String]? }

    private func pages(_ first: String, limit: Int, extraScopes: [String], _ names: KeyPath<Page, [String]?>) throws -> [String] {
        var found: [String] = []
        var path = first
        for _ in 0..<100 {
            let response = try send("GET", path, extraScopes: extraScopes)
            let body = try response.bytes(limit: 8 << 20)
            guard response.status == 200 else { throw Self.error(status: response.status, body: body) }
            found += (try? JSONDecoder().decode(Page.self, from: Data(body)))?[keyPath: names] ?? []
            guard found.count < limit, let link = response.header("Link"), let open = link.firstIndex(of: "<"),
                  let close = link.firstIndex(of: ">") else { break }
            path = String(link[link.index(after: open)..<close])
        }
        return found
    }
}
