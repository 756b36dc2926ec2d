import Foundation
import Testing
@testable import BerthOCI
@testable import BerthRuntimeCore
@testable import BerthSystem

@Suite struct NamespaceConfigTests {
    func spec(_ linux: String) throws -> Spec {
        try JSONDecoder().decode(Spec.self, from: Data(#"{"ociVersion":"1.0.2","linux":\#(linux)}"#.utf8))
    }

    @Test func splitsNewAndJoined() throws {
        let c = try NamespaceConfig(spec(#"{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"},{"type":"cgroup"}]}"#))
        #expect(c.created == [.pid, .cgroup])
        #expect(c.joinPaths.map(\.0) == [.network])
        #expect(c.unshareCgroup)
        #expect(c.cloneFlags == Namespace.pid.cloneFlag)  // cgroup is unshared later, from inside its cgroup
    }

    @Test(arguments: [
        (#"{"namespaces":[{"type":"bogus"}]}"#, "unknown namespace type \"bogus\""),
        (#"{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#, "duplicate namespace type \"pid\""),
        (#"{"namespaces":[{"type":"user"}]}"#, "user namespace enabled, but no uidMappings/gidMappings found"),
        (#"{"uidMappings":[{"containerID":0,"hostID":1,"size":1}]}"#, "uidMappings/gidMappings found, but no user namespace is configured"),
    ])
    func refusesInvalidConfigs(linux: String, message: String) throws {
        let s = try spec(linux)
        #expect { try NamespaceConfig(s) } throws: { "\($0)".contains(message) }
    }

    @Test func rootMapsToTheFirstMappedHostID() throws {
        let c = try NamespaceConfig(spec("""
            {"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
             "gidMappings":[{"containerID":0,"hostID":200000,"size":65536}]}
            """))
        #expect(c.hostID(ofRoot: \.uidMappings) == 100_000)
        #expect(c.hostID(ofRoot: \.gidMappings) == 200_000)
    }
}
