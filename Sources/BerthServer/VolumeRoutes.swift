import BerthAPI
import BerthEngine
import FoundationEssentials
import NIOHTTP1

/// /volumes/…
struct VolumeRoutes {
    let containers: ContainerService

    var table: [(HTTPMethod, String, Router.Handler)] {
        let c = containers
        return [
            (.GET, "/volumes", { req, _, r in r.json(try await c.listVolumes(filters: try ContainerService.parseFilters(req.query("filters")))) }),
            (.POST, "/volumes/create", { req, _, r in
                let request = try req.decodeBody(VolumeCreateRequest.self)
                r.json(try await c.createVolume(request), status: .created)
            }),
            (.POST, "/volumes/prune", { req, _, r in
                r.json(try await c.pruneVolumes(filters: try ContainerService.parseFilters(req.query("filters"))))
            }),
            (.GET, "/volumes/{name}", { _, p, r in r.json(try await c.inspectVolume(p[0])) }),
            (.DELETE, "/volumes/{name}", { req, p, r in try await c.removeVolume(p[0], force: req.flag("force")); r.status(.noContent) }),
        ]
    }
}
