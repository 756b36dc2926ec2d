import BerthOCI
import BerthSystem
import FoundationEssentials
import Testing
@testable import BerthRuntimeCore

@Suite struct StateFileTests {
    /// The state file embeds config.json's bytes as read; it must load back as the same record,
    /// with strings that need escaping intact.
    @Test func aSavedRecordLoadsBack() throws {
        let root = try FileIO.makeTemporaryDirectory(prefix: "berth-state-")
        defer { try? FileIO.removeTree(root) }
        let config = Array(#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},"hostname":"h\"1","annotations":{"a":"line\nbreak"}}"#.utf8)
        let spec = try JSONDecoder().decode(Spec.self, from: Data(config))
        let record = RuntimeRecord(id: "c1", pid: 42, startTime: 7, bundle: "/b \"q\"", rootfs: "/b/rootfs", created: "2026-12-05T00:00:00Z",
                                   cgroupPath: "/berth/c1", config: spec)
        let dir = try StateDirectory(root: root, id: "c1")
        try dir.claim()
        try dir.save(record, config: config)
        let loaded = try dir.load()
        #expect(loaded.id == "c1" && loaded.pid == 42 && loaded.startTime == 7)
        #expect(loaded.bundle == "/b \"q\"" && loaded.rootfs == "/b/rootfs" && loaded.cgroupPath == "/berth/c1")
        #expect(loaded.config.hostname == "h\"1")
        #expect(loaded.annotations == ["a": "line\nbreak"])
    }
}
