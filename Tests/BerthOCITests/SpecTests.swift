import Foundation
import Testing
@testable import BerthOCI

@Suite struct SpecTests {
    @Test func decodesARuncStyleConfig() throws {
        let json = """
        {"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":1,"gid":2,"additionalGids":[3]},
         "rlimits":[{"type":"RLIMIT_NOFILE","hard":10,"soft":5}],"capabilities":{"bounding":["CAP_KILL"]},
         "noNewPrivileges":true,"oomScoreAdj":100},
         "root":{"path":"rootfs","readonly":true},"hostname":"h",
         "mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
         "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],
          "resources":{"memory":{"limit":1048576,"swap":-1},"cpu":{"shares":512,"quota":50000,"period":100000},
           "pids":{"limit":10},"devices":[{"allow":false,"access":"rwm"}]},
          "uidMappings":[{"containerID":0,"hostID":1000,"size":65536}],
          "seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}},
         "unknownField":{"kept":"out of the way"}}
        """
        let spec = try JSONDecoder().decode(Spec.self, from: Data(json.utf8))
        #expect(spec.process?.user.uid == 1)
        #expect(spec.process?.user.additionalGids == [3])
        #expect(spec.root?.readonly == true)
        #expect(spec.linux?.namespaces?.count == 2)
        #expect(spec.linux?.namespaces?[1].path == "/proc/1/ns/net")
        #expect(spec.linux?.resources?.memory?.swap == -1)
        #expect(spec.linux?.resources?.pids?.limit == 10)
        #expect(spec.linux?.uidMappings?.first?.hostID == 1000)
        #expect(spec.linux?.seccomp?.syscalls?.first?.names == ["read"])
    }

    @Test func defaultSpecMatchesRuncSpec() throws {
        let spec = Spec.defaultSpec()
        #expect(spec.root?.path == "rootfs" && spec.root?.readonly == true)
        #expect(spec.process?.terminal == true)
        #expect(Set(spec.linux?.namespaces?.map(\.type) ?? []) == ["pid", "network", "ipc", "uts", "mount", "cgroup"])
        #expect(spec.mounts?.map(\.destination) == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"])
        let data = try JSONEncoder().encode(spec)
        #expect(try JSONDecoder().decode(Spec.self, from: data) == spec)
    }

    @Test func stateJSONKeepsRuncKeyOrder() throws {
        let state = RuntimeState(id: "a\"b", pid: 42, status: .running, bundle: "/b", rootfs: "/b/rootfs",
                                   created: "2026-01-01T00:00:00Z", annotations: ["k": "v"])
        let text = state.prettyJSON
        let keys = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner", "annotations"]
        let positions = keys.map { text.range(of: "\"\($0)\"")!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(text.contains(#""id": "a\"b""#))
        #expect(try JSONDecoder().decode(RuntimeState.self, from: Data(text.utf8)) == state)
    }

    @Test func quotesControlCharacters() {
        #expect(JSONText.quote("a\n\u{1}\\") == #""a\n\u0001\\""#)
    }
}
