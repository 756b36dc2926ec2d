import BerthSystem
import Glibc

/// "If the socket is absent, berth starts berthd": the daemon next to this binary, in its own
/// session with its log in /var/log/berthd.log, and a wait (up to 10 s) for its socket.
public enum DaemonLauncher {
    public static func start(socket: String) {
        let dir = FileIO.executableDirectory()
        let daemon = dir + "/berthd"
        guard FileIO.exists(daemon) else { return }
        let log = open("/var/log/berthd.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if log >= 0 { close(log) }; close(null) }
        FileIO.stderr("berth: starting berthd (log: /var/log/berthd.log)\n")
        guard (try? Subprocess.spawn("/usr/bin/setsid", ["setsid", daemon], env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                     stdin: null, output: log >= 0 ? log : null)) != nil else { return }
        for _ in 0..<200 where !FileIO.exists(socket) { usleep(50_000) }
    }
}
