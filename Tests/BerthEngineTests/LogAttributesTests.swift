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

    @Test func namedAndMatchedLabelsAndVariablesArePicked() throws {
        #expect(try ContainerService.logAttributes(record(options: [:])) == nil)
        #expect(try ContainerService.logAttributes(record(options: ["labels": "team,absent", "env": "STAGE,NOEQUALS"]))
                == ["team": "blue", "STAGE": "prod=1"])
        // Go's regexps, unanchored, in linear time: a pattern that backtracks forever elsewhere matches nothing here at once
        #expect(try ContainerService.logAttributes(record(options: ["labels-regex": "^t", "env-regex": "AT"]))
                == ["team": "blue", "tier": "web", "PATH": "/bin"])
        #expect(try ContainerService.logAttributes(record(options: ["labels-regex": "(a+)+$"])) == nil)
        #expect(throws: EngineError.self) { try ContainerService.logAttributes(record(options: ["env-regex": "(unclosed"])) }
    }
}
