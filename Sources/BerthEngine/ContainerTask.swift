import BerthOCI
import BerthShimProtocol
import BerthSystem
import Glibc

/// What the engine asks of a container's processes: containerd's task API. `ContainerTask` is
/// the real one, through the container's shim; the engine's unit tests drive the lifecycle
/// through a fake.
public protocol TaskControl: Sendable {
    /// Runs the created task; the init's pid.
    func start() async throws -> Int32
    /// Whether anything answers for the task (its shim, until the exit is delivered).
    var isAlive: Bool { get async }
    /// Alive and its init not yet exited.
    var isRunning: Bool { get async }
    func kill(_ signal: Int32, all: Bool) async throws
    func pause() async throws
    func resume() async throws
    func update(_ resources: Spec.Resources) async throws
    /// Has what the container wrote so far reach its log before answering.
    func syncLog() async throws
    /// Opens the CRI log's path again.
    func reopenLog() async throws
    func pids() async throws -> [Int32]
    func resize(width: UInt16, height: UInt16, execID: String?) async throws
    /// A stream of the container's output (and, with `stdin`, to its input), in the shim's
    /// framing; the caller owns the descriptor.
    func attach(stdin: Bool, stdout: Bool, stderr: Bool) async throws -> Int32
    /// Starts an exec: its output stream, which ends with its exit status, and its pid.
    func exec(_ request: ShimRequest) async throws -> (fd: Int32, pid: Int32)
}

extension TaskControl {
    func kill(_ signal: Int32) async throws { try await kill(signal, all: false) }
    public func resize(width: UInt16, height: UInt16) async throws { try await resize(width: width, height: height, execID: nil) }
}

/// Where tasks come from: a container's task is created (its bundle prepared by the engine) and
/// then watched, each exit reported once to the handler `monitorExits` installed.
public protocol TaskService: Sendable {
    /// Creates container `id`'s task from its bundle; throws the runtime's own words on failure.
    func create(_ id: String, bundle: String) async throws
    func task(_ id: String) -> any TaskControl
    /// Installs the exit handler (once, before any `watch`).
    func monitorExits(_ handler: @escaping @Sendable (String, ExitStatus?) -> Void)
    /// Reports container `id`'s exit to the handler.
    func watch(_ id: String) throws
}

/// Tasks run by `berth-shim`: one shim per container, forked by the shim template with the
/// bundle's `shim.json`, which creates the task and outlives berthd; one thread watches every
/// shim for exits.
final class ShimTasks: TaskService, @unchecked Sendable {
    let launcher: ShimLauncher
    let bundlesRoot: String
    private var monitor: ExitMonitor?
    private let lock = Lock()

    init(shimPath: String, bundlesRoot: String) {
        launcher = ShimLauncher(shimPath: shimPath, bundlesRoot: bundlesRoot)
        self.bundlesRoot = bundlesRoot
    }

    func socket(_ id: String) -> String { bundlesRoot + "/" + id + "/shim.sock" }

    func create(_ id: String, bundle: String) async throws {
        let launcher = launcher
        // the shim's start (it creates the container) waits on the blocking pool
        if let failure = try await Threads.run({ try launcher.launch(bundle + "/shim.json") }) {
            throw ContainerService.startError(failure.trimmed)
        }
    }

    func task(_ id: String) -> any TaskControl { ContainerTask(id: id, socket: socket(id)) }

    func monitorExits(_ handler: @escaping @Sendable (String, ExitStatus?) -> Void) {
        lock.locked { monitor = ExitMonitor(onExit: handler) }
    }

    func watch(_ id: String) throws {
        guard let monitor = lock.locked({ monitor }) else { throw EngineError.internalError("exits are not monitored yet") }
        try monitor.watch(id: id, socket: socket(id))
    }
}

/// A container's task (its processes), reached only through its shim, as containerd's task
/// service reaches runc through its shim: the shim is the one writer of the runtime's state, and
/// the engine links no runtime. Each call is one short exchange on the shim's socket, run on the
/// blocking pool and bounded by `ShimClient.replyLimit`: never on an actor.
public struct ContainerTask: TaskControl {
    let id: String
    let socket: String

    /// The init's pid once running.
    public func start() async throws -> Int32 { try await request(.start).pid ?? 0 }

    /// Whether a shim answers for the container (it exits once the container has and its output
    /// is delivered).
    public var isAlive: Bool { get async { (try? await request(.state)) != nil } }

    /// Alive and its init not yet exited.
    public var isRunning: Bool { get async { (try? await request(.state)).map { $0.exit == nil } ?? false } }

    public func kill(_ signal: Int32, all: Bool) async throws {
        var request = ShimRequest(op: .kill)
        request.signal = signal
        request.all = all
        _ = try await exchange(request)
    }

    public func pause() async throws { _ = try await request(.pause) }
    public func resume() async throws { _ = try await request(.resume) }

    /// New limits for the running container (`docker update`).
    public func update(_ resources: Spec.Resources) async throws {
        var request = ShimRequest(op: .update)
        request.resources = resources
        _ = try await exchange(request)
    }

    /// Has the shim log what the container wrote so far before answering.
    public func syncLog() async throws { _ = try await request(.syncLog) }

    /// Opens the CRI log's path again (after the kubelet rotated the file).
    public func reopenLog() async throws { _ = try await request(.reopenLog) }

    /// Every process in the container's cgroup.
    public func pids() async throws -> [Int32] { try await request(.pids).pids ?? [] }

    /// A terminal's size: the container's own, or an exec's.
    public func resize(width: UInt16, height: UInt16, execID: String?) async throws {
        var request = ShimRequest(op: .resize)
        request.width = width
        request.height = height
        request.execID = execID
        _ = try await exchange(request)
    }

    /// A stream of the container's output (and, with `stdin`, to its input); the caller owns the
    /// descriptor.
    public func attach(stdin: Bool, stdout: Bool, stderr: Bool) async throws -> Int32 {
        var request = ShimRequest(op: .attach)
        request.stdin = stdin
        request.stdout = stdout
        request.stderr = stderr
        return try await stream(request).fd
    }

    /// Starts an exec (`request` as `prepareExecStart` made it): the stream of its output and
    /// exit status, which the caller owns, and its pid.
    public func exec(_ request: ShimRequest) async throws -> (fd: Int32, pid: Int32) {
        let (fd, reply) = try await stream(request)
        return (fd, reply.pid ?? 0)
    }

    private func request(_ op: ShimRequest.Op) async throws -> ShimReply { try await exchange(ShimRequest(op: op)) }

    private func exchange(_ request: ShimRequest) async throws -> ShimReply {
        let socket = socket
        return try await reachable { try ShimClient.request(socket, request) }
    }

    private func stream(_ request: ShimRequest) async throws -> (fd: Int32, reply: ShimReply) {
        let socket = socket
        return try await reachable {
            let fd = try ShimClient.open(socket, request)
            do { return (fd, try ShimClient.readReply(fd, socket: socket)) } catch {
                close(fd)
                throw error
            }
        }
    }

    /// A shim that is gone, or ending, has seen its container exit (the record catches up when the exit is
    /// processed): what dockerd answers for a container that is not running.
    private func reachable<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do { return try await Threads.run(body) } catch let error as SystemError where [ENOENT, ECONNREFUSED, EPIPE, ECONNRESET].contains(error.errno) {
            throw EngineError.conflict("Container \(id) is not running")
        } catch is ShimClient.Ended {
            throw EngineError.conflict("Container \(id) is not running")
        } catch is ShimClient.Unresponsive {
            throw EngineError.internalError("container \(id)'s shim did not answer within \(ShimClient.replyLimit) seconds")
        } catch let refused as ShimClient.Refused where refused.kind == .state {
            // the runtime's "container not running" / "container not paused", in dockerd's words
            let state = refused.message.hasPrefix("container ") ? String(refused.message.dropFirst(10)) : refused.message
            throw EngineError.conflict("Container \(id) is \(state)")
        } catch let refused as ShimClient.Refused {
            throw EngineError.invalid(refused.message)
        }
    }
}
