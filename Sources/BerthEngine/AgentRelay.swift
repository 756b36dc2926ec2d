import BerthSystem
import CBerthLinux
import Glibc

/// An SSH agent for one build step (`RUN --mount=type=ssh`): a socket in the step's secrets
/// tmpfs, owned and moded as the mount asks, each connection relayed to the agent the client
/// named (`berth build --ssh`), as BuildKit's session proxies its agent. The step never sees the
/// client's socket path, and the mode and owner are the mount's, not the agent's. Agent traffic
/// is a few small requests: a thread per connection, at most `connectionLimit` at once.
final class AgentRelay: @unchecked Sendable {
    static let connectionLimit = 16
    private let listener: Int32
    /// A pipe whose read end every thread of the relay polls: `stop` closes the write end,
    /// which wakes them all at once.
    private let stopped: Int32
    private let stopper = Locked<Int32>(-1)
    private let agent: String
    private let connections = Locked(0)

    init(path: String, agent: String, mode: mode_t, owner: (uid: UInt32, gid: UInt32)) throws {
        var st = stat()
        guard stat(agent, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else {
            throw BuildError(message: "ssh agent \(agent): not a socket")
        }
        self.agent = agent
        listener = try UnixSocket.listen(path, mode: mode)
        var fds: [Int32] = [-1, -1]
        guard berth_pipe_cloexec(&fds) == 0, chown(path, owner.uid, owner.gid) == 0 else {
            let error = SystemError(fds[0] < 0 ? "pipe2" : "chown", path)
            for fd in [listener] + fds where fd >= 0 { close(fd) }
            throw error
        }
        stopped = fds[0]
        stopper.exchange(fds[1])
        Threads.detach { [self] in accepting() }
    }

    deinit {
        stop()
        close(listener)
        close(stopped)
    }

    /// Ends the relay: the listener and every open connection (the step is over).
    func stop() {
        let fd = stopper.exchange(-1)
        if fd >= 0 { close(fd) }
    }

    private func accepting() {
        while readable(listener, or: -1) != nil {
            let client = berth_accept_cloexec(listener)
            guard client >= 0 else {
                if errno == EMFILE || errno == ENFILE { usleep(100_000) }  // out of descriptors: not a spin
                continue
            }
            let admitted = connections.mutate { count -> Bool in
                guard count < Self.connectionLimit else { return false }
                count += 1
                return true
            }
            guard admitted else { close(client); continue }
            Threads.detach { [self] in
                defer { connections.mutate { $0 -= 1 } }
                relay(client)
            }
        }
    }

    /// The one of `fd` and `other` (when ≥ 0) that is readable; nil once stopped.
    private func readable(_ fd: Int32, or other: Int32) -> Int32? {
        var fds = [pollfd(fd: stopped, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
        while true {
            let n = poll(&fds, nfds_t(other >= 0 ? 3 : 2), -1)
            if n < 0 && errno == EINTR { continue }
            guard n > 0, fds[0].revents == 0 else { return nil }
            return fds[1].revents != 0 ? fd : other
        }
    }

    private func relay(_ client: Int32) {
        defer { close(client) }
        guard let upstream = try? UnixSocket.connect(agent) else { return }
        defer { close(upstream) }
        var buffer = [UInt8](repeating: 0, count: 16384)
        while let from = readable(client, or: upstream) {
            let to = from == client ? upstream : client
            let n = read(from, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0, (try? FileIO.writeAll(to, Array(buffer[..<n]))) != nil else { return }  // either end closed: the relay ends
        }
    }
}
