import BerthOCI
import BerthSystem

/// The daemon's registry side: configuration, one HTTP client (its connections and TLS contexts
/// are reused across pulls), and which endpoint last worked for each registry.
public final class Registry: @unchecked Sendable {
    public let hosts: RegistryHosts
    public let http: HTTPClient
    let lock = Lock()
    /// Registry domain → index of the endpoint that answered last (skips a failing HTTPS probe of
    /// a plain-HTTP registry on every pull).
    var preferred: [String: Int] = [:]
    let log: @Sendable (String) -> Void

    public init(hosts: RegistryHosts, http: HTTPClient = HTTPClient(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.hosts = hosts
        self.http = http
        self.log = log
    }

    /// A client for `repository` on `domain` whose endpoint answered `/v2/` (mirrors first for
    /// docker.io and only for pulls; insecure registries fall back from HTTPS to HTTP). With
    /// `operation`, each endpoint is also asked for it, so a mirror lacking an image falls back to
    /// the origin.
    public func open<T>(domain: String, repository: String, credentials: RegistryCredentials?, push: Bool = false,
                        _ operation: (RegistryClient) throws -> T) throws -> (RegistryClient, T) {
        var endpoints = try hosts.endpoints(for: domain).filter { !(push && $0.isMirror) }
        if let first = lock.locked({ preferred[domain] }), first < endpoints.count, first > 0 {
            endpoints.insert(endpoints.remove(at: first), at: 0)
        }
        var firstError: Error?
        for (index, endpoint) in endpoints.enumerated() {
            let client = RegistryClient(endpoint: endpoint, repository: repository, http: http, credentials: credentials, push: push)
            do {
                try client.ping()
                let result = try operation(client)
                let original = try hosts.endpoints(for: domain).firstIndex(where: { $0.base == endpoint.base }) ?? index
                lock.locked { preferred[domain] = original }
                return (client, result)
            } catch let error as RegistryError {
                let transport: Bool
                switch error {
                case .tls, .connection, .protocolError: transport = true
                default: transport = error.isTransient
                }
                if endpoint.isMirror { log("mirror \(endpoint.base) failed, trying the next: \(error)") }
                guard transport || endpoint.isMirror, index < endpoints.count - 1 else {
                    // A plain-HTTP retry of a TLS-only registry answers 400: the HTTPS error says more.
                    if case .registry(400, _, _) = error, let firstError { throw Self.unreachable(firstError, endpoint: endpoints[0]) }
                    throw transport ? Self.unreachable(firstError ?? error, endpoint: endpoints[0]) : error
                }
                if firstError == nil && !endpoint.isMirror { firstError = error }
            }
        }
        throw RegistryError.unsupported("no endpoint for \(domain)")
    }

    /// Transport failures read as Docker's `Get "https://host/v2/": dial tcp …`.
    static func unreachable(_ error: Error, endpoint: RegistryEndpoint) -> Error {
        guard let e = error as? RegistryError else { return error }
        switch e {
        case .connection(let m), .tls(let m): return RegistryError.unreachable("\(endpoint.base.scheme)://\(endpoint.base.authority)/v2/", underlying: m)
        default: return e
        }
    }
}
