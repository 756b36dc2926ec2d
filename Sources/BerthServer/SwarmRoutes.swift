import BerthEngine
import NIOHTTP1

/// Swarm mode's endpoints, answered as a dockerd that is not part of a swarm answers them (503
/// with moby's `errNoSwarm`), so that clients probing or tearing down swarm state (docker-py's
/// `leave_swarm(force=True)`, `docker info`, compose) get the reply they handle. Berth runs no
/// swarm: clustering is Kubernetes' job, through CRI.
enum SwarmRoutes {
    static let notInSwarm = EngineError.unavailable("This node is not part of a swarm")

    static var table: [(HTTPMethod, String, Router.Handler)] {
        let refuse: Router.Handler = { _, _, _ in throw notInSwarm }
        let init_: Router.Handler = { _, _, _ in
            throw EngineError.unavailable("Berth does not run swarm mode; use Kubernetes with berthd's CRI socket to orchestrate several hosts")
        }
        var table: [(HTTPMethod, String, Router.Handler)] = [
            (.POST, "/swarm/init", init_), (.POST, "/swarm/join", init_),
            (.GET, "/swarm", refuse), (.POST, "/swarm/leave", refuse), (.POST, "/swarm/update", refuse),
            (.GET, "/swarm/unlockkey", refuse), (.POST, "/swarm/unlock", refuse),
        ]
        for kind in ["services", "nodes", "tasks", "secrets", "configs"] {
            table += [(.GET, "/\(kind)", refuse), (.GET, "/\(kind)/{id}", refuse), (.DELETE, "/\(kind)/{id}", refuse),
                      (.POST, "/\(kind)/{id}/update", refuse)]
        }
        table += [(.POST, "/services/create", refuse), (.GET, "/services/{id}/logs", refuse), (.GET, "/tasks/{id}/logs", refuse),
                  (.POST, "/secrets/create", refuse), (.POST, "/configs/create", refuse)]
        return table
    }
}
