import BerthAPI
import BerthEngine
import BerthSystem
import FoundationEssentials
import NIOHTTP1

/// /volumes/…
struct VolumeRoutes {
    let containers: ContainerService

    var table: [(HTTPMethod, String, Router.Handler)] {
        let v = containers.volumes
        return [
            (.GET, "/volumes", { req, _, r in r.json(try v.list(filters: try ContainerService.parseFilters(req.query("filters")))) }),
            (.POST, "/volumes/create", { req, _, r in
                var request = try req.decodeBody(VolumeCreateRequest.self)
                // API 1.42 brought cluster volumes; an older client's field is unknown, so ignored (as dockerd)
                if req.versionPrecedes("1.42") {
                    request.ClusterVolumeSpec = nil
                }
                let checked = request
                r.json(try await Threads.run { try v.create(checked) }, status: .created)
            }),
            (.POST, "/volumes/prune", { req, _, r in
                r.json(try await v.prune(filters: try ContainerService.parseFilters(req.query("filters"))))
            }),
            (.GET, "/volumes/{name}", { _, p, r in r.json(try v.inspect(p[0])) }),
            (.DELETE, "/volumes/{name}", { req, p, r in try await v.remove(p[0], force: req.flag("force")); r.status(.noContent) }),
        ]
    }
}
