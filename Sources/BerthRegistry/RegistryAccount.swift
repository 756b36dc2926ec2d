import BerthOCI
import FoundationEssentials

/// `docker login` and `docker search`, which talk to a registry without naming an image.
extension Registry {
    /// Checks credentials against the registry (`/v2/` with basic auth, or a token request).
    public func login(server: String, credentials: RegistryCredentials) throws {
        _ = try open(domain: Reference.domain(ofServer: server), repository: "", credentials: credentials) { _ in () }
    }

    /// One search hit, as `GET /images/search` returns it.
    public struct SearchResult: Codable, Sendable {
        public var name: String
        public var description: String
        public var star_count: Int
        public var is_official: Bool
        public var is_automated: Bool
    }

    /// Docker Hub's search API for plain terms; a `host[:port]/term` searches that registry's
    /// catalog for repositories containing the term.
    public func search(_ term: String, limit: Int, credentials: RegistryCredentials?) throws -> [SearchResult] {
        let first = term.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let hasDomain = term.contains("/") && (first.contains(".") || first.contains(":") || first == "localhost")
        guard hasDomain else { return try searchHub(term, limit: limit) }
        let needle = String(term.dropFirst(first.count + 1)).lowercased()
        let names = try open(domain: first, repository: "", credentials: credentials) { try $0.catalog() }.1
        return names.filter { needle.isEmpty || $0.lowercased().contains(needle) }.prefix(limit).map {
            SearchResult(name: first + "/" + $0, description: "", star_count: 0, is_official: false, is_automated: false)
        }
    }

    func searchHub(_ term: String, limit: Int) throws -> [SearchResult] {
        let url = HTTPURL(scheme: "https", host: "index.docker.io", target: "/v1/search").adding(query: [("q", term), ("n", String(limit))])
        let response: HTTPResponse
        do { response = try http.send(HTTPRequest("GET", url)) } catch let error as RegistryError {
            throw RegistryError.unreachable("https://index.docker.io/v1/search?q=\(HTTPURL.percentEncode(term))&n=\(limit)", underlying: error.description)
        }
        let body = try response.bytes()
        guard response.status == 200 else { throw RegistryClient.error(status: response.status, body: body) }
        struct Page: Decodable { var results: [SearchResult]? }
        return (try? JSONDecoder().decode(Page.self, from: Data(body)))?.results ?? []
    }
}
