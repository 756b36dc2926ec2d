import BerthAPI
import Testing
@testable import BerthEngine

struct ContainerLifecycleTests {
    func record(_ lifecycle: ContainerLifecycle) throws -> ContainerRecord {
        var r = ContainerRecord(id: "c", name: "n", created: "", imageID: "", imageName: "", path: "true", args: [],
                                config: ContainerConfig(), hostConfig: HostConfig(), state: ContainerRecord.initialState())
        switch lifecycle {
        case .created: break
        case .running: try r.move(to: .running)
        case .paused: try r.move(to: .running); try r.move(to: .paused)
        case .exited: try r.move(to: .running); try r.move(to: .exited)
        case .restarting: try r.move(to: .running); try r.move(to: .exited); try r.move(to: .restarting)
        case .dead: try r.move(to: .dead)
        case .removing: try r.move(to: .removing)
        }
        return r
    }

    /// Docker's fields always agree with each other and read back as the state they render.
    @Test(arguments: ContainerLifecycle.allCases)
    func renderedStateReadsBack(lifecycle: ContainerLifecycle) throws {
        let r = try record(lifecycle)
        #expect(r.lifecycle == lifecycle)
        #expect(r.state.Status == lifecycle.rawValue)
        #expect(r.state.Running == (lifecycle == .running || lifecycle == .paused))
        #expect(r.state.Paused == (lifecycle == .paused))
        #expect(r.state.Restarting == (lifecycle == .restarting))
    }

    func refused(_ r: ContainerRecord, _ next: ContainerLifecycle) -> Bool {
        var copy = r
        do { try copy.move(to: next) } catch { return copy.lifecycle == r.lifecycle }  // and nothing changed
        return false
    }

    @Test func movesTheEngineNeverMakesAreRefused() throws {
        let created = try record(.created), exited = try record(.exited), running = try record(.running)
        #expect(refused(created, .paused) && refused(created, .exited))
        #expect(refused(exited, .paused) && refused(exited, .exited))
        #expect(refused(running, .running) && refused(running, .restarting))
        #expect(!refused(running, .paused) && !refused(exited, .restarting))
        // only a container without a process is removed, and nothing comes back from removing
        let removing = try record(.removing)
        #expect(refused(running, .removing) && !refused(exited, .removing) && !refused(created, .removing))
        #expect(ContainerLifecycle.allCases.allSatisfy { refused(removing, $0) })
    }

    /// Records written before the lifecycle existed (or by an older berthd) read as what they say.
    @Test func storedDockerStatesMapToTheirLifecycle() {
        var state = ContainerState()
        state.Status = "running"; state.Running = true
        #expect(ContainerLifecycle(state) == .running)
        state.Paused = true
        #expect(ContainerLifecycle(state) == .paused)
        state = ContainerState(); state.Status = "restarting"; state.Restarting = true
        #expect(ContainerLifecycle(state) == .restarting)
        state = ContainerState(); state.Status = "exited"
        #expect(ContainerLifecycle(state) == .exited)
        state = ContainerState(); state.Status = "created"
        #expect(ContainerLifecycle(state) == .created)
    }
}

struct OperationGateTests {
    @Test func oneHolderPerContainerAndOthersFree() {
        var gate = OperationGate()
        let first = gate.tryEnter("a"), again = gate.tryEnter("a"), other = gate.tryEnter("b")
        #expect(first && !again)
        #expect(other)  // another container is never held up
        let next = gate.leave("a")
        #expect(next == nil)
        let reentered = gate.tryEnter("a"), stillHeld = gate.tryEnter("b")
        #expect(reentered && !stillHeld)
    }

    /// Waiters get the gate in arrival order, handed over without a moment free in between.
    @Test func waitersGetTheGateInOrder() async {
        actor Order {
            var gate = OperationGate()
            var log: [Int] = []
            func run(_ n: Int, hold: UInt64) async {
                if !gate.tryEnter("c") { await withCheckedContinuation { gate.enqueue("c", $0) } }
                log.append(n)
                try? await Task.sleep(nanoseconds: hold)
                log.append(-n)
                gate.leave("c")?.resume()
            }
        }
        let order = Order()
        await withTaskGroup(of: Void.self) { group in
            for n in 1...4 {
                group.addTask { await order.run(n, hold: 2_000_000) }
                try? await Task.sleep(nanoseconds: 200_000)  // arrival order 1, 2, 3, 4
            }
        }
        let log = await order.log
        #expect(log.count == 8)
        for i in stride(from: 0, to: log.count, by: 2) { #expect(log[i] == -log[i + 1]) }  // never two inside at once
    }
}

/// Where a container's cgroup goes: `/berth/<id>`, or under `--cgroup-parent` in the cgroupfs
/// layout, with stray slashes folded and a parent refused when it could climb out.
struct CgroupPathTests {
    @Test(arguments: [(nil, "/berth/c"), ("", "/berth/c"), ("kubepods", "/kubepods/c"), ("/kubepods/pod1", "/kubepods/pod1/c"),
                      ("//a//b/", "/a/b/c")] as [(String?, String)])
    func cgroupPath(parent: String?, expected: String) {
        var host = HostConfig()
        host.CgroupParent = parent
        let r = ContainerRecord(id: "c", name: "n", created: "", imageID: "", imageName: "", path: "true", args: [],
                                config: ContainerConfig(), hostConfig: host, state: ContainerRecord.initialState())
        #expect(r.cgroupPath == expected)
    }

    @Test func parentsThatClimbAreRefused() {
        for parent in ["/a/../b", "..", "./x"] {
            var host = HostConfig()
            host.CgroupParent = parent
            #expect(throws: EngineError.self) { try ContainerService.validate(host) }
        }
    }
}
