import BerthSystem
import Glibc

/// `ps` for one container: the host's ps(1) output filtered to the container's PIDs, as runc does.
enum ProcessTable {
    static func print(pids: [Int32], psArgs: [String]) throws -> Int32 {
        var fds: [Int32] = [0, 0]
        try sys("pipe") { pipe(&fds) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let argv = (["ps"] + psArgs).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, "ps", &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else { close(fds[0]); throw SystemError("exec", "ps", errno: rc) }
        let output = String(decoding: try FileIO.readAll(fds[0]), as: UTF8.self)
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.first else { return 1 }
        guard let pidColumn = header.split(separator: " ").firstIndex(of: "PID") else {
            throw SystemError("ps", "couldn't find PID field in ps output", errno: EINVAL)
        }
        let wanted = Set(pids)
        Swift.print(header)
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            if fields.count > pidColumn, let p = Int32(fields[pidColumn]), wanted.contains(p) { Swift.print(line) }
        }
        return 0
    }
}
