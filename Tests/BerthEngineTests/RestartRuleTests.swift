import BerthAPI
import Testing
@testable import BerthEngine

struct RestartRuleTests {
    func rule(_ name: String?, _ retries: Int? = nil) throws -> RestartRule {
        try RestartRule(validating: RestartPolicy(Name: name, MaximumRetryCount: retries))
    }

    @Test func dockersChecksAndWords() throws {
        #expect(try rule(nil) == .never)
        #expect(try rule("") == .never)
        #expect(try rule("no") == .never)
        #expect(try rule("on-failure", 3) == .onFailure(maxRetries: 3))
        #expect(throws: EngineError.invalid("maximum retry count cannot be used with restart policy 'always'")) { try rule("always", 2) }
        #expect(throws: EngineError.invalid("maximum retry count cannot be negative")) { try rule("on-failure", -1) }
        #expect(throws: EngineError.invalid("invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")) {
            try rule("sometimes")
        }
    }

    @Test func afterAnExit() {
        #expect(RestartRule.always.restartsAfterExit(code: 0, restarts: 50, stoppedByUser: false))
        #expect(!RestartRule.always.restartsAfterExit(code: 1, restarts: 0, stoppedByUser: true))  // a user's stop cancels
        #expect(!RestartRule.onFailure(maxRetries: 2).restartsAfterExit(code: 0, restarts: 0, stoppedByUser: false))
        #expect(RestartRule.onFailure(maxRetries: 2).restartsAfterExit(code: 1, restarts: 1, stoppedByUser: false))
        #expect(!RestartRule.onFailure(maxRetries: 2).restartsAfterExit(code: 1, restarts: 2, stoppedByUser: false))
        #expect(RestartRule.onFailure(maxRetries: 0).restartsAfterExit(code: 1, restarts: 1000, stoppedByUser: false))  // 0: no limit
        #expect(!RestartRule.never.restartsAfterExit(code: 1, restarts: 0, stoppedByUser: false))
    }

    @Test func asTheDaemonStarts() {
        #expect(RestartRule.always.restartsAtDaemonStart(stoppedByUser: true))
        #expect(RestartRule.unlessStopped.restartsAtDaemonStart(stoppedByUser: false))
        #expect(!RestartRule.unlessStopped.restartsAtDaemonStart(stoppedByUser: true))
        #expect(!RestartRule.onFailure(maxRetries: 0).restartsAtDaemonStart(stoppedByUser: false))
    }

    @Test func dockersBackOff() {
        #expect(RestartRule.delay(restart: 1, ranSeconds: 0.1) == 100)
        #expect(RestartRule.delay(restart: 4, ranSeconds: 0.1) == 800)
        #expect(RestartRule.delay(restart: 30, ranSeconds: 0.1) == 60_000)  // capped at a minute
        #expect(RestartRule.delay(restart: 30, ranSeconds: 12) == 100)  // a long run resets it
        #expect(RestartRule.delay(restart: Int.max, ranSeconds: 0) == 60_000)  // no overflow
    }
}
