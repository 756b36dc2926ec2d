import BerthAPI
import BerthOCI
import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc

/// Docker's healthcheck rules (moby `daemon/health.go`), kept apart from the probing so they can
/// be tested without a container: defaults, merging with the image's HEALTHCHECK, how a probe
/// result moves the status, and when the next probe is due.
enum HealthMonitor {
    static let defaultInterval: Int64 = 30_000_000_000
    static let defaultTimeout: Int64 = 30_000_000_000
    static let defaultStartInterval: Int64 = 5_000_000_000
    static let defaultRetries = 3
    static let maxLogEntries = 5
    static let maxOutput = 4096

    /// The container's healthcheck over the image's, field by field where the container's is
    /// unset (moby's `merge` in daemon/commit.go).
    static func merge(_ user: HealthConfig?, image: ImageConfig.Healthcheck?) -> HealthConfig? {
        guard let image else { return user }
        var out = user ?? HealthConfig()
        if (out.Test ?? []).isEmpty { out.Test = image.test }
        if (out.Interval ?? 0) == 0 { out.Interval = image.interval }
        if (out.Timeout ?? 0) == 0 { out.Timeout = image.timeout }
        if (out.StartPeriod ?? 0) == 0 { out.StartPeriod = image.startPeriod }
        if (out.StartInterval ?? 0) == 0 { out.StartInterval = image.startInterval }
        if (out.Retries ?? 0) == 0 { out.Retries = image.retries }
        return out
    }

    /// The command a probe runs, or nil when there is no healthcheck (`NONE`, empty, unknown kind).
    static func probeCommand(_ check: HealthConfig?, shell: [String]?) -> [String]? {
        guard let test = check?.Test, let kind = test.first else { return nil }
        switch kind {
        case "CMD": return test.count > 1 ? Array(test.dropFirst()) : nil
        case "CMD-SHELL":
            let sh = (shell ?? []).isEmpty ? ["/bin/sh", "-c"] : shell!
            return sh + test.dropFirst()
        default: return nil
        }
    }

    /// Nanoseconds until the next probe: the start interval while the start period runs (API 1.44).
    static func nextDelay(_ check: HealthConfig, sinceStart: Int64) -> Int64 {
        let interval = nonZero(check.Interval, defaultInterval)
        let period = check.StartPeriod ?? 0
        guard period > 0, sinceStart < period else { return interval }
        return nonZero(check.StartInterval, defaultStartInterval)
    }

    static func timeout(_ check: HealthConfig) -> Int64 { nonZero(check.Timeout, defaultTimeout) }

    static func nonZero(_ value: Int64?, _ fallback: Int64) -> Int64 {
        guard let value, value > 0 else { return fallback }
        return value
    }

    /// The state after one probe (moby's `handleProbeResult`): success resets the streak; a
    /// failure counts unless the container is still starting within its start period; `retries`
    /// failures in a row make it unhealthy. The log keeps the last five results.
    static func apply(_ result: HealthProbeResult, to health: HealthState, check: HealthConfig, startedAt: Double, probeStart: Double) -> HealthState {
        var h = health
        h.Log = Array((h.Log + [result]).suffix(maxLogEntries))
        if result.ExitCode == 0 {
            h.FailingStreak = 0
            h.Status = "healthy"
            return h
        }
        let period = Double(check.StartPeriod ?? 0) / 1e9
        if h.Status == "starting" && probeStart - startedAt < period { return h }
        h.FailingStreak += 1
        let retries = (check.Retries ?? 0) > 0 ? check.Retries! : defaultRetries
        if h.FailingStreak >= retries { h.Status = "unhealthy" }
        return h
    }

    /// Go's `time.Duration` text for the whole-unit values healthchecks use (`30s`, `1m30s`, `500ms`).
    static func goDuration(_ nanos: Int64) -> String {
        if nanos % 1_000_000_000 != 0 {
            if nanos % 1_000_000 == 0 { return "\(nanos / 1_000_000)ms" }
            return "\(Double(nanos) / 1e9)s"
        }
        var s = nanos / 1_000_000_000
        let h = s / 3600; s %= 3600
        let m = s / 60; s %= 60
        if h > 0 { return "\(h)h\(m)m\(s)s" }
        if m > 0 { return "\(m)m\(s)s" }
        return "\(s)s"
    }
}

/// One probe: an exec through the container's task whose output (the first 4 KiB) and exit code
/// are collected on the blocking pool, never on the actor.
enum HealthProbe {
    static func run(_ task: any TaskControl, request: ShimRequest, timeout: Int64) async -> (code: Int, output: String) {
        let fd: Int32, pid: Int32
        do { (fd, pid) = try await task.exec(request) } catch { return (-1, "\(error)") }
        guard let outcome = try? await Threads.run({ ExecOutput.collect(fd, pid: pid, timeout: timeout, limit: HealthMonitor.maxOutput) }) else {
            return (-1, "health check could not run")  // the pool refused the job: nothing more to say
        }
        switch outcome.end {
        case .timedOut: return (-1, "Health check exceeded timeout (\(HealthMonitor.goDuration(timeout)))")
        case .lost: return (-1, "health check for container ended without an exit code")
        case .exited(let code):
            let text = String(decoding: outcome.chunks.flatMap(\.bytes), as: UTF8.self) + (outcome.truncated ? "..." : "")
            return (Int(code), text)
        }
    }
}

/// What an exec without a client wrote and how it ended, read from its shim stream on the
/// blocking pool: health probes and CRI's ExecSync.
public struct ExecOutput: Sendable {
    public enum End: Sendable, Equatable { case exited(Int32), timedOut, lost }
    public var end: End
    /// In arrival order, each with its stream (1 stdout, 2 stderr), at most `limit` bytes in all.
    public var chunks: [(stream: UInt8, bytes: [UInt8])]
    public var truncated: Bool

    /// Reads until the exit status, EOF, or the timeout (nanoseconds, 0 for none), which kills
    /// the process.
    static func collect(_ fd: Int32, pid: Int32, timeout: Int64, limit: Int) -> ExecOutput {
        defer { close(fd) }
        let deadline = timeout > 0 ? Timestamp.epochNow() + Double(timeout) / 1e9 : Double.infinity
        var out = ExecOutput(end: .lost, chunks: [], truncated: false)
        var kept = 0
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let left = deadline - Timestamp.epochNow()
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = left > 0 ? poll(&p, 1, Int32(min(left * 1000 + 1, 60_000))) : 0
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 && Timestamp.epochNow() >= deadline {
                if pid > 0 { Glibc.kill(pid, SIGKILL) }
                out.end = .timedOut
                return out
            }
            if ready == 0 { continue }
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return out }
            pending += chunk[0..<n]
            for (stream, payload) in Frame.parse(&pending) {
                if stream == Frame.exit {
                    let status = try? JSONDecoder().decode(ExitStatus.self, from: Data(payload))
                    out.end = status.map { .exited($0.exitCode) } ?? .lost
                    return out
                }
                let room = max(limit - kept, 0)
                if payload.count > room { out.truncated = true }
                if room > 0 { out.chunks.append((stream, Array(payload.prefix(room)))) }
                kept += min(payload.count, room)
            }
        }
    }
}
