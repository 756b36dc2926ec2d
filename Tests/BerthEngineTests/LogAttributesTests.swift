import BerthAPI
import Testing
@testable import BerthEngine

/// The json-file attributes the `labels` and `env` log options pick.
struct LogAttributesTests {
    func record(options: [String: String]) -> ContainerRecord {
        var config = ContainerConfig()
        config.Labels = ["team": "blue", "tier": "web", "other": "x"]
        config.Env = ["STAGE=prod=1", "PATH=/bin", "NOEQUALS"]
        var host = HostConfig()
        var log = LogConfig()
        log.Config = options
        host.LogConfig = log
        return ContainerRecord(id: "c", name: "n", created: "", imageID: "", imageName: "", path: "true", args: [],
                               config: config, hostConfig: host, state: ContainerRecord.initialState())
    }

    @Test func namedLabelsAndVariablesArePicked() {
        #expect(ContainerService.logAttributes(record(options: [:])) == nil)
        #expect(ContainerService.logAttributes(record(options: ["labels": "team,absent", "env": "STAGE,NOEQUALS"]))
                == ["team": "blue", "STAGE": "prod=1"])
        // patterns are not applied (a backtracking regex from a client on the engine's actor)
        #expect(ContainerService.logAttributes(record(options: ["labels-regex": "(a+)+$", "env-regex": "AT"])) == nil)
    }
}
