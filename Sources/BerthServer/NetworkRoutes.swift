import BerthAPI
import BerthEngine
import FoundationEssentials
import NIOHTTP1

/// /networks/…
struct NetworkRoutes {
    let containers: ContainerService

    var table: [(HTTPMethod, String, Router.Handler)] {
        let c = containers, n = containers.networks, events = containers.events
        return [
            (.GET, "/networks", { req, _, r in r.json(try await n.list(filters: try ContainerService.parseFilters(req.query("filters")))) }),
            (.POST, "/networks/create", { req, _, r in
                let request = try req.decodeBody(NetworkCreateRequest.self)
                let created = try await n.create(request)
                events.publish("network", "create", id: created.Id, attributes: ["name": request.Name, "type": request.Driver ?? "bridge"])
                r.json(created, status: .created)
            }),
            (.POST, "/networks/prune", { req, _, r in
                let deleted = try await n.prune(filters: try ContainerService.parseFilters(req.query("filters")), inUse: c.networksInUse())
                r.json(NetworkPruneReport(NetworksDeleted: deleted))
            }),
            (.GET, "/networks/{id}", { _, p, r in r.json(try await n.inspect(p[0])) }),
            (.DELETE, "/networks/{id}", { _, p, r in
                let net = try await n.inspect(p[0])
                try await n.remove(p[0])
                events.publish("network", "destroy", id: net.Id, attributes: ["name": net.Name, "type": net.Driver])
                r.status(.noContent)
            }),
            (.POST, "/networks/{id}/connect", { req, p, r in
                let body = try req.decodeBody(NetworkConnectRequest.self)
                try await c.connect(network: p[0], container: body.Container, endpoint: body.EndpointConfig)
                r.status(.ok)
            }),
            (.POST, "/networks/{id}/disconnect", { req, p, r in
                let body = try req.decodeBody(NetworkConnectRequest.self)
                try await c.disconnect(network: p[0], container: body.Container, force: body.Force == true)
                r.status(.ok)
            }),
        ]
    }
}
