import BerthAPI
import BerthSystem
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

struct ContainerGateTests {
    /// Operations on one container get its gate in arrival order, one at a time across their
    /// awaits, and another container's gate is never held up by it.
    @Test func oneOperationAtATimeInArrivalOrder() async {
        let container = Container(id: "c"), other = Container(id: "d")
        let log = Locked<[Int]>([])
        await withTaskGroup(of: Void.self) { group in
            for n in 1...4 {
                group.addTask {
                    await container.enter()
                    log.mutate { $0.append(n) }
                    try? await Task.sleep(nanoseconds: 2_000_000)
                    log.mutate { $0.append(-n) }
                    await container.leave()
                }
                // arrival order 1, 2, 3, 4: the next is added once n have been through the gate or
                // wait at it (a fixed pause was not enough while other tests kept the pool busy)
                while await container.run({ log.value.filter { $0 > 0 }.count + ($0.queues[.operations]?.count ?? 0) }) < n {
                    await Task.yield()
                }
            }
            await other.enter()  // free while "c" is busy
            await other.leave()
        }
        let order = log.value
        #expect(order.count == 8)
        for i in stride(from: 0, to: order.count, by: 2) { #expect(order[i] == -order[i + 1]) }  // never two inside at once
        #expect(order.filter { $0 > 0 } == [1, 2, 3, 4])
    }
}

struct ContainerRegistryTests {
    func record(_ id: String, _ name: String) -> ContainerRecord {
        ContainerRecord(id: id, name: name, created: "", imageID: "", imageName: "", path: "true", args: [],
                        config: ContainerConfig(), hostConfig: HostConfig(), state: ContainerRecord.initialState())
    }

    @Test func findsByIDNameAndUniquePrefix() throws {
        let registry = ContainerRegistry()
        registry["abc123"] = record("abc123", "web")
        registry["abd456"] = record("abd456", "db")
        #expect(try registry.find("web").id == "abc123")
        #expect(try registry.find("/db").id == "abd456")
        #expect(try registry.find("abc").id == "abc123")
        #expect(throws: EngineError.self) { try registry.find("ab") }  // two match
        #expect(throws: EngineError.self) { try registry.find("") }
        #expect(registry.actor("abc123") != nil)
    }

    /// A name is taken when it is reserved, before its container has a record, and a rename
    /// frees the old name.
    @Test func namesAreReservedOnceAndFollowRenames() throws {
        let registry = ContainerRegistry()
        try registry.reserve("web", for: "a")
        #expect(throws: EngineError.self) { try registry.reserve("web", for: "b") }
        registry["a"] = record("a", "web")
        try registry.reserve("api", for: "a")
        registry["a"] = record("a", "api")
        try registry.reserve("web", for: "b")  // free again
        registry.release("web", for: "b")
        #expect(throws: EngineError.self) { try registry.reserve("api", for: "b") }
        registry["a"] = nil  // removed: its name and actor go with it
        try registry.reserve("api", for: "b")
        #expect(registry.actor("a") == nil)
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
