import BerthAPI
import BerthShimProtocol
import BerthSystem

/// Healthchecks: one probe loop per running, unpaused container with a HEALTHCHECK. The loop
/// sleeps and probes on its own task, owned by the container's actor; each probe first checks that
/// it is still wanted, and each result is recorded (status, streak, log, `health_status` events).
extension ContainerService {
    /// At start the status goes back to `starting` with no failures; after unpause it carries on.
    func startHealthChecks(_ id: String, reset: Bool) async {
        await stopHealthChecks(id)
        guard let container = containers.actor(id), var record = containers[id], record.state.Running, !record.state.Paused,
              let check = record.config.Healthcheck,
              let command = HealthMonitor.probeCommand(check, shell: record.config.Shell) else { return }
        if reset || record.state.Health == nil {
            var health = record.state.Health ?? HealthState()
            health.Status = "starting"
            health.FailingStreak = 0
            record.state.Health = health
            containers[id] = record
        }
        let startedAt = record.state.StartedAt
        let task = task(id)
        await container.setHealthTask(Task { [weak self] in
            while !Task.isCancelled {
                let since = Int64((Timestamp.epochNow() - (Timestamp.parse(startedAt) ?? 0)) * 1e9)
                try? await Task.sleep(nanoseconds: UInt64(HealthMonitor.nextDelay(check, sinceStart: since)))
                guard !Task.isCancelled, let self, let request = self.probeRequest(id, command, startedAt) else { return }
                let start = Timestamp.now()
                let startEpoch = Timestamp.epochNow()
                let timeout = HealthMonitor.timeout(check)
                let outcome = await HealthProbe.run(task, request: request, timeout: timeout)
                let result = HealthProbeResult(Start: start, End: Timestamp.now(), ExitCode: outcome.code, Output: outcome.output)
                self.recordHealth(id, startedAt: startedAt, probeStart: startEpoch, result)
            }
        })
    }

    func stopHealthChecks(_ id: String) async {
        await containers.actor(id)?.setHealthTask(nil)
    }

    /// The probe as an exec of the container's user and working directory; nil once the run it
    /// was started for is over or paused.
    private func probeRequest(_ id: String, _ command: [String], _ startedAt: String) -> ShimRequest? {
        guard let record = containers[id], record.state.Running, !record.state.Paused, record.state.StartedAt == startedAt else { return nil }
        var exec = ExecConfig()
        exec.Cmd = command
        exec.User = record.config.User
        exec.WorkingDir = record.config.WorkingDir
        var request = ShimRequest(op: .exec)
        request.execID = "health-" + Self.randomID().prefix(16)
        request.stdin = false
        do { request.process = try execProcess(record, exec, tty: false) } catch {
            recordHealth(id, startedAt: startedAt, probeStart: Timestamp.epochNow(),
                         HealthProbeResult(Start: Timestamp.now(), End: Timestamp.now(), ExitCode: -1, Output: "\(error)"))
            return nil
        }
        return request
    }

    /// The result lands only on the run it was probed for, checked in the same step as the save
    /// (see `update`): an exit saved meanwhile is never written over.
    private func recordHealth(_ id: String, startedAt: String, probeStart: Double, _ result: HealthProbeResult) {
        var before: String?
        let saved: ContainerRecord?
        do {
            saved = try update(id) { record in
                guard record.state.Running, record.state.StartedAt == startedAt,
                      let check = record.config.Healthcheck, let health = record.state.Health else { return false }
                before = health.Status
                record.state.Health = HealthMonitor.apply(result, to: health, check: check, startedAt: Timestamp.parse(startedAt) ?? 0,
                                                          probeStart: probeStart)
                return true
            }
        } catch {
            return log.error("saving the health of container \(id): \(error)")
        }
        if let saved, let status = saved.state.Health?.Status, status != before { emit(saved, "health_status: " + status) }
    }
}
