import BerthAPI
import BerthEngine
import BerthImage
import BerthOCI
import BerthRegistry
import BerthSystem
import FoundationEssentials
import NIOHTTP1

/// Pull, push, login and search: the routes that reach registries.
struct RegistryRoutes {
    let store: ImageStore
    let registry: Registry
    let events: EventLog
    let maxConcurrentDownloads: Int
    let maxConcurrentUploads: Int

    var table: [(HTTPMethod, String, Router.Handler)] {
        let registry = registry, routes = self
        return [
            (.POST, "/images/{name...}/push", { req, p, r in try await routes.push(p[0], req, r) }),
            (.POST, "/auth", { req, _, r in
                let auth = try req.decodeBody(RegistryAuth.self)
                let server = auth.serveraddress ?? ""
                do {
                    try await Threads.run { try registry.login(server: server, credentials: Self.credentials(auth) ?? RegistryCredentials()) }
                } catch let error as RegistryError {
                    guard case .unauthorized = error else { throw error }
                    return r.json(ErrorResponse(message: error.description), status: .unauthorized)
                }
                struct Reply: Encodable { let Status: String; let IdentityToken: String }
                r.json(Reply(Status: "Login Succeeded", IdentityToken: ""))
            }),
            (.GET, "/distribution/{name...}/json", { req, p, r in
                let ref = try Reference(parsing: p[0])
                let credentials = Self.credentials(req)
                let puller = routes.makePuller()
                let (descriptor, platforms) = try await Threads.run { try puller.distribution(ref, credentials: credentials) }
                struct Inspect: Encodable { let Descriptor: Descriptor; let Platforms: [Platform] }
                r.json(Inspect(Descriptor: descriptor, Platforms: platforms))
            }),
            (.GET, "/images/search", { req, _, r in
                guard let term = req.query("term"), !term.isEmpty else { throw EngineError.invalid("a search term is required") }
                let limit = min(max(req.int("limit") ?? 25, 1), 100)
                let filters = try ContainerService.parseFilters(req.query("filters"))
                let credentials = Self.credentials(req)
                var results = try await Threads.run { try registry.search(term, limit: limit, credentials: credentials) }
                if let stars = filters["stars"]?.compactMap({ Int($0) }).max() { results = results.filter { $0.star_count >= stars } }
                if let official = filters["is-official"]?.first { results = results.filter { $0.is_official == (official == "true") } }
                r.json(results)
            }),
        ]
    }

    /// `POST /images/create?fromImage=…`: the registry is asked first, so a missing image is an
    /// HTTP error; then progress streams as JSON lines. A name without a tag or digest is every
    /// tag of the repository (moby's `docker pull --all-tags`), each pulled in turn and the
    /// outcome (and the `pull` event) said once for the name.
    func pull(_ req: APIRequest, _ r: Responder) async throws {
        let puller = makePuller()
        var ref = try Reference(parsing: req.query("fromImage") ?? "")
        if let tag = req.query("tag"), !tag.isEmpty {
            if tag.hasPrefix("sha256:") { ref.digest = try Digest(parsing: tag); ref.tag = nil } else { ref.tag = tag }
        }
        let platform = try req.query("platform").flatMap { $0.isEmpty ? nil : try Platform(parsing: $0) }
        let credentials = Self.credentials(req)
        let wanted = ref
        let allTags = ref.tag == nil && ref.digest == nil
        let tags = allTags ? try await Threads.run { try puller.tags(wanted, credentials: credentials) } : [wanted]
        var resolved = try await Threads.run { try puller.resolve(tags.first ?? wanted.withDefaultTag, platform: platform, credentials: credentials) }
        r.beginStream(contentType: "application/json")
        do {
            var anyNew = false
            for (index, tag) in tags.enumerated() {
                if index > 0 { resolved = try await Threads.run { try puller.resolve(tag, platform: platform, credentials: credentials) } }
                anyNew = try await puller.fetch(resolved, finalStatus: !allTags) { r.post($0) }.1 || anyNew
            }
            if allTags { r.post(ImagePuller.status(isNew: anyNew, wanted.familiarString)) }
            // one event for what was asked, as moby's: the name alone for every tag
            let pulled = (allTags ? wanted : resolved.reference).familiarString
            events.publish("image", "pull", id: pulled, attributes: ["name": pulled])
        } catch {
            r.post(ProgressMessage.failure(Responder.describe(error).1))
        }
        r.end()
    }

    func makePuller() -> ImagePuller {
        ImagePuller(store: store, registry: registry, maxConcurrentDownloads: maxConcurrentDownloads)
    }

    /// A build's FROM of a missing image (or `--pull`): resolved and fetched with progress posted.
    func pullForBuild(_ name: String, post: @escaping @Sendable (ProgressMessage) -> Void) async throws {
        let puller = makePuller()
        let ref = try Reference(parsing: name).withDefaultTag
        let resolved = try await Threads.run { try puller.resolve(ref, platform: nil, credentials: nil) }
        _ = try await puller.fetch(resolved, progress: post)
    }

    /// `POST /images/{name}/push?tag=…`.
    func push(_ name: String, _ req: APIRequest, _ r: Responder) async throws {
        let pusher = ImagePusher(store: store, registry: registry, maxConcurrentUploads: maxConcurrentUploads)
        let ref = try Reference(parsing: name)
        let tags = try await pusher.tags(ref, tag: req.query("tag") ?? ref.tag)
        let credentials = Self.credentials(req)
        r.beginStream(contentType: "application/json")
        r.post(ProgressMessage(status: "The push refers to repository [\(ref.name.hasPrefix("docker.io/") ? ref.name : ref.familiarName)]"))
        do {
            for tag in tags {
                try await pusher.push(tag, credentials: credentials) { r.post($0) }
                events.publish("image", "push", id: tag.familiarString, attributes: ["name": tag.familiarString])
            }
        } catch {
            r.post(ProgressMessage.failure(Responder.describe(error).1))
        }
        r.end()
    }

    /// The credentials in `X-Registry-Auth` (base64url JSON; some clients send standard base64).
    static func credentials(_ req: APIRequest) -> RegistryCredentials? {
        guard let auth = try? HeaderJSON.decode(RegistryAuth.self, req, "X-Registry-Auth") else { return nil }
        return credentials(auth)
    }

    static func credentials(_ auth: RegistryAuth) -> RegistryCredentials? {
        RegistryCredentials.given(username: auth.username ?? "", password: auth.password ?? "", auth: auth.auth ?? "",
                                  identityToken: auth.identitytoken ?? "", registryToken: auth.registrytoken ?? "")
    }
}
