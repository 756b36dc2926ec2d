import BerthAPI
import BerthOCI
import Testing
@testable import BerthEngine

/// moby's healthcheck rules (daemon/health.go), without a container.
@Suite struct HealthMonitorTests {
    func check(interval: Int64? = nil, retries: Int? = nil, startPeriod: Int64? = nil, startInterval: Int64? = nil) -> HealthConfig {
        var h = HealthConfig()
        h.Test = ["CMD", "true"]
        h.Interval = interval; h.Retries = retries; h.StartPeriod = startPeriod; h.StartInterval = startInterval
        return h
    }

    func result(_ code: Int) -> HealthProbeResult { HealthProbeResult(Start: "", End: "", ExitCode: code, Output: "") }

    @Test func successResetsAndRetriesFailuresMakeItUnhealthy() {
        let c = check(retries: 2)
        var h = HealthState()
        h = HealthMonitor.apply(result(1), to: h, check: c, startedAt: 0, probeStart: 100)
        #expect(h.Status == "starting" && h.FailingStreak == 1)
        h = HealthMonitor.apply(result(1), to: h, check: c, startedAt: 0, probeStart: 101)
        #expect(h.Status == "unhealthy" && h.FailingStreak == 2)
        h = HealthMonitor.apply(result(0), to: h, check: c, startedAt: 0, probeStart: 102)
        #expect(h.Status == "healthy" && h.FailingStreak == 0)
    }

    @Test func failuresInTheStartPeriodDoNotCountUntilTheFirstSuccess() {
        let c = check(retries: 1, startPeriod: 10_000_000_000)
        var h = HealthMonitor.apply(result(1), to: HealthState(), check: c, startedAt: 100, probeStart: 105)
        #expect(h.Status == "starting" && h.FailingStreak == 0)
        h = HealthMonitor.apply(result(1), to: h, check: c, startedAt: 100, probeStart: 111)
        #expect(h.Status == "unhealthy")
    }

    @Test func theLogKeepsTheLastFive() {
        var h = HealthState()
        for i in 0..<8 { h = HealthMonitor.apply(result(i % 2), to: h, check: check(), startedAt: 0, probeStart: Double(i)) }
        #expect(h.Log.count == 5 && h.Log.map(\.ExitCode) == [1, 0, 1, 0, 1])
    }

    @Test func intervalsDefaultsAndTheStartInterval() {
        #expect(HealthMonitor.nextDelay(check(), sinceStart: 0) == 30_000_000_000)
        let c = check(interval: 60_000_000_000, startPeriod: 20_000_000_000, startInterval: 2_000_000_000)
        #expect(HealthMonitor.nextDelay(c, sinceStart: 1_000_000_000) == 2_000_000_000)
        #expect(HealthMonitor.nextDelay(c, sinceStart: 25_000_000_000) == 60_000_000_000)
        #expect(HealthMonitor.nextDelay(check(startPeriod: 5_000_000_000), sinceStart: 0) == 5_000_000_000)  // start interval's default
    }

    @Test func probeCommands() {
        #expect(HealthMonitor.probeCommand(check(), shell: nil) == ["true"])
        var shell = HealthConfig()
        shell.Test = ["CMD-SHELL", "curl -f x || exit 1"]
        #expect(HealthMonitor.probeCommand(shell, shell: nil) == ["/bin/sh", "-c", "curl -f x || exit 1"])
        #expect(HealthMonitor.probeCommand(shell, shell: ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "curl -f x || exit 1"])
        var none = HealthConfig()
        none.Test = ["NONE"]
        #expect(HealthMonitor.probeCommand(none, shell: nil) == nil)
        #expect(HealthMonitor.probeCommand(nil, shell: nil) == nil)
    }

    @Test func theContainersCheckOverTheImages() {
        var image = ImageConfig.Healthcheck()
        image.test = ["CMD", "img"]; image.interval = 5; image.retries = 4
        var user = HealthConfig()
        user.Interval = 9
        let merged = HealthMonitor.merge(user, image: image)
        #expect(merged?.Test == ["CMD", "img"] && merged?.Interval == 9 && merged?.Retries == 4)
        #expect(HealthMonitor.merge(nil, image: image)?.Test == ["CMD", "img"])
        #expect(HealthMonitor.merge(user, image: nil) == user)
    }

    @Test(arguments: [(30_000_000_000, "30s"), (90_000_000_000, "1m30s"), (500_000_000, "500ms"), (3_600_000_000_000, "1h0m0s")] as [(Int64, String)])
    func durationsPrintAsGo(_ nanos: Int64, _ text: String) {
        #expect(HealthMonitor.goDuration(nanos) == text)
    }
}
