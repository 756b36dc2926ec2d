import BerthOCI
import BerthShimProtocol
import BerthSystem
import Glibc

/// A container's task (its processes), reached only through its shim, as containerd's task
/// service reaches runc through its shim: the shim is the one writer of the runtime's state, and
/// the engine links no runtime. Each call is one short exchange on the shim's socket.
struct ContainerTask: Sendable {
    let id: String
    let socket: String

    /// The init's pid once running.
    func start() throws -> Int32 { try request(.start).pid ?? 0 }

    /// Whether a shim answers for the container (it exits once the container has and its output
    /// is delivered).
    var isAlive: Bool { (try? request(.state)) != nil }

    /// Alive and its init not yet exited.
    var isRunning: Bool { (try? request(.state)).map { $0.exit == nil } ?? false }

    func kill(_ signal: Int32, all: Bool = false) throws {
        var request = ShimRequest(op: .kill)
        request.signal = signal
        request.all = all
        _ = try exchange(request)
    }

    func pause() throws { _ = try request(.pause) }
    func resume() throws { _ = try request(.resume) }

    /// New limits for the running container (`docker update`).
    func update(_ resources: Spec.Resources) throws {
        var request = ShimRequest(op: .update)
        request.resources = resources
        _ = try exchange(request)
    }

    /// Every process in the container's cgroup.
    func pids() throws -> [Int32] { try request(.pids).pids ?? [] }

    /// A terminal's size: the container's own, or an exec's.
    func resize(width: UInt16, height: UInt16, execID: String? = nil) throws {
        var request = ShimRequest(op: .resize)
        request.width = width
        request.height = height
        request.execID = execID
        _ = try exchange(request)
    }

    /// A stream of the container's output (and, with `stdin`, to its input); the caller owns the
    /// descriptor.
    func attach(stdin: Bool, stdout: Bool, stderr: Bool) throws -> Int32 {
        var request = ShimRequest(op: .attach)
        request.stdin = stdin
        request.stdout = stdout
        request.stderr = stderr
        let fd = try reachable { try ShimClient.open(socket, request) }
        do { _ = try ShimClient.readReply(fd, socket: socket) } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private func request(_ op: ShimRequest.Op) throws -> ShimReply { try exchange(ShimRequest(op: op)) }

    private func exchange(_ request: ShimRequest) throws -> ShimReply { try reachable { try ShimClient.request(socket, request) } }

    /// A shim that is gone, or ending, has seen its container exit (the record catches up when the exit is
    /// processed): what dockerd answers for a container that is not running.
    private func reachable<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as SystemError where [ENOENT, ECONNREFUSED, EPIPE, ECONNRESET].contains(error.errno) {
            throw EngineError.conflict("Container \(id) is not running")
        } catch is ShimClient.Ended {
            throw EngineError.conflict("Container \(id) is not running")
        }
    }
}
