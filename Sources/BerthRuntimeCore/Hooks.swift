import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// OCI lifecycle hooks (config.md "POSIX-platform Hooks"): each runs with the container state
/// as JSON on stdin; a failing or timed-out hook fails the operation that ran it.
enum Hooks {
    static func run(_ hooks: [Spec.Hook]?, phase: String, state: RuntimeState) throws {
        guard let hooks, !hooks.isEmpty else { return }
        try run(hooks, phase: phase, input: Array((try? JSONEncoder().encode(state)) ?? Data()))
    }

    /// The child's form: it holds the state already encoded by the parent.
    static func run(_ hooks: [Spec.Hook]?, phase: String, input: [UInt8]) throws {
        guard let hooks, !hooks.isEmpty else { return }
        for (index, hook) in hooks.enumerated() {
            do {
                try runOne(hook, input: input)
            } catch {
                throw RuntimeError.hook("error running \(phase) hook #\(index): \(error)")
            }
        }
    }

    static func runOne(_ hook: Spec.Hook, input: [UInt8]) throws {
        var fds: [Int32] = [0, 0]
        try sys("pipe") { pipe(&fds) }
        let pid: pid_t
        do {
            pid = try Subprocess.spawn(hook.path, hook.args ?? [hook.path], env: hook.env ?? [], stdin: fds[0], closing: [fds[1]])
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
        close(fds[0])
        signal(SIGPIPE, SIG_IGN)
        try? FileIO.writeAll(fds[1], input)
        close(fds[1])
        let status = try wait(pid, timeout: hook.timeout)
        if status != 0 { throw RuntimeError.hook("exit status \(status)") }
    }

    /// waitpid with an optional deadline; the hook is killed when it passes.
    static func wait(_ pid: pid_t, timeout: Int?) throws -> Int32 {
        let deadline = timeout.map { Monotonic.now() + Double($0) }
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if rc == pid { return ProcessStatus.exitCode(waitStatus: status) }
            if rc < 0 && errno != EINTR { throw SystemError("waitpid", String(pid)) }
            if let deadline, Monotonic.now() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw RuntimeError.hook("timeout after \(timeout!) seconds")
            }
            usleep(5000)
        }
    }
}

/// Exit status as a shell reports it: the code, or 128+signal.
