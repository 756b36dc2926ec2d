import BerthShimProtocol
import BerthSystem
import CBerthLinux
import Glibc

/// Starts containers' shims by asking the shim template (`berth-shim --template`, one per
/// daemon) to fork them: see `ShimTemplate` for why. The template is started on first use and
/// again if it has gone; its end of the socket closes with berthd, which ends it.
final class ShimLauncher: @unchecked Sendable {
    let shimPath: String
    /// The template's last argument: the room a forked shim needs to show `berth-shim CONFIG` as
    /// its command line (the bundles' root, then more than a container's `/ID/shim.json`).
    let room: String
    private let lock = Lock()
    private var template: (pid: pid_t, control: Int32)?

    init(shimPath: String, bundlesRoot: String) {
        self.shimPath = shimPath
        room = bundlesRoot + String(repeating: " ", count: 80)
    }

    /// Starts the shim for the config at `path` and waits until it has created the container:
    /// nil then, else the shim's error. Blocks: run it on the blocking pool.
    func launch(_ path: String) throws -> String? {
        var report: [Int32] = [0, 0]
        try sys("pipe") { berth_pipe_cloexec(&report) }
        defer { close(report[0]) }
        let sent = Result { try lock.locked { try send(path, report[1]) } }
        close(report[1])
        try sent.get()
        return ShimReady.await(report[0])
    }

    /// Hands the request to the template, starting one if there is none or it has gone (once:
    /// a template that cannot take a request right after it started will not take the next).
    /// One whose queue stays full for `sendTimeout` (it stopped taking requests) is killed and
    /// replaced rather than waited for.
    private func send(_ path: String, _ report: Int32) throws {
        for attempt in 0..<2 {
            let current = try template ?? start()
            template = current
            if berth_send_fd(current.control, report, path) == 0 { return }
            let failure = SystemError("sendmsg", "the shim template")
            kill(current.pid, SIGKILL)
            close(current.control)
            var status: Int32 = 0
            waitpid(current.pid, &status, 0)
            template = nil
            if attempt == 1 { throw failure }
        }
    }

    static let sendTimeout = timeval(tv_sec: 5, tv_usec: 0)

    private func start() throws -> (pid: pid_t, control: Int32) {
        var pair: [Int32] = [0, 0]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        defer { close(pair[1]) }
        var timeout = Self.sendTimeout
        _ = setsockopt(pair[0], SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        do {
            let pid = try Subprocess.spawn(shimPath, [shimPath, "--template", room], env: Subprocess.defaultEnvironment, stdin: pair[1])
            return (pid, pair[0])
        } catch {
            close(pair[0])
            throw error
        }
    }
}
