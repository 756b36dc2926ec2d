import BerthAPI
import BerthArchive
import BerthImage
import BerthOCI
import BerthShimProtocol
import BerthSnapshot
import BerthSystem
import BerthTestSupport
import BerthVolume
import FoundationEssentials
import Glibc
import Testing
@testable import BerthEngine

/// Tasks without shims: a container's "program" is read from its bundle's runtime spec. `exit N`
/// ends with N as soon as it starts; anything else runs until a signal that ends a process
/// (128 + the signal, as a shell reports it). An exec of `fail` exits 1, any other 0.
final class FakeTasks: TaskService, @unchecked Sendable {
    struct State {
        var running = false
        var paused = false
        var watched = false
        var starts = 0
    }
    private let lock = Lock()
    private var tasks: [String: State] = [:]
    private var programs: [String: [String]] = [:]
    private var handler: (@Sendable (String, BerthShimProtocol.ExitStatus?) -> Void)?

    func starts(_ id: String) -> Int { lock.locked { tasks[id]?.starts ?? 0 } }

    func create(_ id: String, bundle: String) async throws {
        let spec = try JSONDecoder().decode(Spec.self, from: Data(try FileIO.read(bundle + "/config.json")))
        lock.locked {
            programs[id] = spec.process?.args ?? []
            tasks[id, default: State()].running = false
        }
    }

    func task(_ id: String) -> any TaskControl { FakeTask(id: id, owner: self) }

    func monitorExits(_ handler: @escaping @Sendable (String, BerthShimProtocol.ExitStatus?) -> Void) { lock.locked { self.handler = handler } }

    func watch(_ id: String) throws { lock.locked { tasks[id, default: State()].watched = true } }

    /// Ends the task and reports it, as a shim would once its init is reaped.
    func exit(_ id: String, code: Int32) {
        let report = lock.locked { () -> (@Sendable (String, BerthShimProtocol.ExitStatus?) -> Void)? in
            guard tasks[id]?.running == true else { return nil }
            tasks[id]?.running = false
            return tasks[id]?.watched == true ? handler : nil
        }
        report?(id, BerthShimProtocol.ExitStatus(exitCode: code, oomKilled: false, finishedAt: Timestamp.now()))
    }

    struct FakeTask: TaskControl {
        let id: String
        let owner: FakeTasks

        func start() async throws -> Int32 {
            let program = owner.lock.locked { () -> [String] in
                owner.tasks[id, default: State()].running = true
                owner.tasks[id]?.starts += 1
                return owner.programs[id] ?? []
            }
            if program.first == "exit" {
                let code = Int32(program.dropFirst().first ?? "0") ?? 0
                let (owner, id) = (owner, id)
                Task.detached { owner.exit(id, code: code) }
            }
            return 4242
        }
        var isAlive: Bool { get async { owner.lock.locked { owner.tasks[id]?.running == true } } }
        var isRunning: Bool { get async { await isAlive } }
        func kill(_ signal: Int32, all: Bool) async throws {
            guard await isRunning else { throw EngineError.conflict("Container \(id) is not running") }
            if [SIGKILL, SIGTERM, SIGINT].contains(signal) { owner.exit(id, code: 128 + signal) }
        }
        func pause() async throws { owner.lock.locked { owner.tasks[id]?.paused = true } }
        func resume() async throws { owner.lock.locked { owner.tasks[id]?.paused = false } }
        func update(_ resources: Spec.Resources) async throws {}
        func syncLog() async throws {}
        func reopenLog() async throws {}
        func pids() async throws -> [Int32] { [4242] }
        func resize(width: UInt16, height: UInt16, execID: String?) async throws {}
        func attach(stdin: Bool, stdout: Bool, stderr: Bool) async throws -> Int32 { throw EngineError.notImplemented("attach") }

        /// The shim's exec stream: the output framed as Docker's stream 1, then the exit status on 0xfe.
        func exec(_ request: ShimRequest) async throws -> (fd: Int32, pid: Int32) {
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SystemError("socketpair", "exec") }
            let failing = request.process?.args?.contains("fail") == true
            func frame(_ stream: UInt8, _ payload: [UInt8]) -> [UInt8] {
                let n = UInt32(payload.count)
                return [stream, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)] + payload
            }
            let status = Array(try JSONEncoder().encode(BerthShimProtocol.ExitStatus(exitCode: failing ? 1 : 0, oomKilled: false, finishedAt: Timestamp.now())))
            try FileIO.writeAll(fds[1], frame(1, Array((failing ? "probe failed\n" : "probe ok\n").utf8)) + frame(0xfe, status))
            close(fds[1])
            return (fds[0], 4343)
        }
    }
}

/// The engine's lifecycle, restart policies and healthcheck scheduling, driven through the real
/// ContainerService over a fake task service: no shim, no runtime, no cgroup. (Root for the one
/// bind mount of a container's rootfs, as the vfs driver mounts it.)
@Suite(.serialized) struct EngineLifecycleTests {
    struct Engine {
        let work: String
        let service: ContainerService
        let tasks: FakeTasks

        func create(_ command: [String], restart: RestartPolicy? = nil, health: HealthConfig? = nil) async throws -> String {
            var config = ContainerConfig()
            config.Image = "fake:latest"
            config.Cmd = command
            config.Healthcheck = health
            var host = HostConfig()
            host.NetworkMode = "host"
            host.RestartPolicy = restart
            return try await service.create(name: nil, config: config, host: host).Id
        }

        func state(_ id: String) async throws -> ContainerState { try service.inspect(id).State }

        /// Polls until `done` holds, for at most 10 s.
        func eventually(_ what: String, _ done: () async throws -> Bool) async throws {
            for _ in 0..<500 {
                if try await done() { return }
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            Issue.record("never: \(what)")
        }
    }

    func withEngine(_ body: (Engine) async throws -> Void) async throws {
        let work = try FileIO.makeTemporaryDirectory(in: "/var/tmp", prefix: "berth-engine-")
        defer {
            for point in Mounter.mountPoints(under: work).reversed() { try? Mounter.unmount(point, detach: true) }
            try? FileIO.removeTree(work)
        }
        let data = work + "/data", exec = work + "/exec"
        let images = try ImageStore(root: data, snapshotter: try VFSSnapshotter(root: data + "/vfs"))
        let image = try TarFixture.write([TarFixture.dir("bin"), TarFixture.file("bin/true", "#!/bin/true\n", mode: 0o755)], to: work + "/image.tar")
        let fd = open(image, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        _ = try await ImageImporter(store: images).importTar(fd: fd, source: "-", reference: try Reference(parsing: "fake:latest"),
                                                             changes: [], message: nil)
        let config = EngineConfig(dataRoot: data, execRoot: exec, storageDriver: "vfs", shimPath: "/nonexistent/berth-shim")
        let networks = try NetworkService(config: NetworkConfig(defaultBridge: nil, iptables: false), dataRoot: data, execRoot: exec)
        let events = EventLog()
        let tasks = FakeTasks()
        let service = try ContainerService(config: config, images: images, networks: networks,
                                           volumes: VolumeService(store: try VolumeStore(root: data + "/volumes"), events: events),
                                           events: events, tasks: tasks)
        await service.restore()
        let engine = Engine(work: work, service: service, tasks: tasks)
        do {
            try await body(engine)
        } catch {
            for id in service.containers.values.map(\.id) { try? await service.remove(id, force: true) }
            throw error
        }
        for id in service.containers.values.map(\.id) { try await service.remove(id, force: true) }
    }

    @Test func aStartedContainerRunsUntilItsExitIsRecorded() async throws {
        try await withEngine { engine in
            let id = try await engine.create(["sleep"])
            #expect(try await engine.state(id).Status == "created")
            try await engine.service.start(id)
            let running = try await engine.state(id)
            #expect(running.Status == "running" && running.Running && running.Pid == 4242)
            try await engine.service.pause(id)
            #expect(try await engine.state(id).Paused)
            // a kill of a paused container thaws it after the signal, as moby does, and waits for the exit
            try await engine.service.kill(id, signal: "KILL")
            let exited = try await engine.state(id)
            #expect(exited.Status == "exited" && !exited.Running && !exited.Paused && exited.ExitCode == 137 && exited.Pid == 0)
            await #expect(throws: EngineError.self) { try await engine.service.kill(id, signal: "KILL") }
        }
    }

    @Test func onFailureRestartsUpToItsLimitThenStays() async throws {
        try await withEngine { engine in
            let id = try await engine.create(["exit", "3"], restart: RestartPolicy(Name: "on-failure", MaximumRetryCount: 2))
            try await engine.service.start(id)
            try await engine.eventually("three runs, then exited") {
                let state = try await engine.state(id)
                return engine.tasks.starts(id) == 3 && state.Status == "exited"
            }
            try await Task.sleep(nanoseconds: 600_000_000)  // longer than the next back-off would be
            #expect(engine.tasks.starts(id) == 3)
            let inspect = try engine.service.inspect(id)
            #expect(inspect.RestartCount == 2 && inspect.State.ExitCode == 3)
        }
    }

    @Test func alwaysRestartsAnExitButNotAUsersStop() async throws {
        try await withEngine { engine in
            let id = try await engine.create(["sleep"], restart: RestartPolicy(Name: "always"))
            try await engine.service.start(id)
            engine.tasks.exit(id, code: 0)  // the program ended by itself
            try await engine.eventually("restarted after its exit") {
                let running = try await engine.state(id).Running
                return engine.tasks.starts(id) == 2 && running
            }
            try await engine.service.stop(id, timeout: 1, signal: nil)
            try await Task.sleep(nanoseconds: 400_000_000)
            #expect(engine.tasks.starts(id) == 2)
            #expect(try await engine.state(id).Status == "exited")
        }
    }

    @Test func healthChecksAreScheduledAndCountFailures() async throws {
        try await withEngine { engine in
            var failing = HealthConfig()
            failing.Test = ["CMD", "fail"]
            failing.Interval = 30_000_000
            failing.Retries = 2
            let sick = try await engine.create(["sleep"], health: failing)
            var passing = failing
            passing.Test = ["CMD", "ok"]
            let well = try await engine.create(["sleep"], health: passing)
            try await engine.service.start(sick)
            try await engine.service.start(well)
            try await engine.eventually("unhealthy after two failures") { try await engine.state(sick).Health?.Status == "unhealthy" }
            try await engine.eventually("healthy after a pass") { try await engine.state(well).Health?.Status == "healthy" }
            let health = try #require(try await engine.state(sick).Health)
            #expect(health.FailingStreak >= 2 && health.Log.last?.Output == "probe failed\n" && health.Log.last?.ExitCode == 1)
            // a stopped container is not probed any more
            try await engine.service.kill(sick, signal: "KILL")
            let last = try await engine.state(sick).Health?.Log.last?.Start
            try await Task.sleep(nanoseconds: 200_000_000)
            #expect(try await engine.state(sick).Health?.Log.last?.Start == last)
        }
    }
}
