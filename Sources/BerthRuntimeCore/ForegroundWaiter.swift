import BerthSystem
import CBerthLinux
import Glibc

/// `run` and `exec` without `-d`: waits for the process while forwarding the signals a user
/// sends to the runtime, and, with a terminal, relays stdin/stdout through the pty master.
/// One poll loop over a signalfd; no threads (the runtime must stay single-threaded).
struct ForegroundWaiter {
    static let forwarded: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD]

    static var mask: UInt64 { forwarded.reduce(0) { $0 | (1 << UInt64($1)) } }

    /// Block before cloning so no signal meant for the container is lost in between;
    /// the child unblocks everything right before execve.
    static func blockSignals() { _ = berth_block_signals(mask) }

    /// Returns the exit status as a shell reports it.
    static func wait(for pid: Int32, master: Int32?) throws -> Int32 {
        let sigfd = try sys("signalfd") { berth_signalfd(mask) }
        defer { close(sigfd) }
        var saved: [UInt8]?
        var stdinOpen = master != nil
        if let master {
            if isatty(0) != 0 {
                Terminal.copyWindowSize(from: 0, to: master)
                saved = Terminal.makeRaw(0)
            }
        }
        defer { if let saved { Terminal.restore(0, saved) } }
        var exitCode: Int32?
        var masterOpen = master != nil
        while exitCode == nil || masterOpen {
            var fds = [pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if let master, masterOpen { fds.append(pollfd(fd: master, events: Int16(POLLIN), revents: 0)) }
            if stdinOpen, masterOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            // Once the process is gone, drain what the pty still holds, without blocking.
            let rc = poll(&fds, nfds_t(fds.count), exitCode == nil ? -1 : 50)
            if rc < 0 && errno == EINTR { continue }
            if rc == 0 { break }
            for entry in fds where entry.revents != 0 {
                if entry.fd == sigfd {
                    if let code = handleSignal(sigfd, pid: pid, master: master) { exitCode = code }
                } else if entry.fd == master, let master {
                    if !relay(from: master, to: 1) { masterOpen = false }
                } else if entry.fd == 0, let master {
                    if !relay(from: 0, to: master) { stdinOpen = false }
                }
            }
        }
        return exitCode ?? 0
    }

    /// Handles one signal; returns the exit status once `pid` has been reaped.
    static func handleSignal(_ sigfd: Int32, pid: Int32, master: Int32?) -> Int32? {
        var sender: Int32 = 0, status: Int32 = 0
        let signal = berth_read_signalfd(sigfd, &sender, &status)
        switch signal {
        case SIGCHLD:
            var result: Int32?
            while true {
                var st: Int32 = 0
                let reaped = waitpid(-1, &st, WNOHANG)
                if reaped <= 0 { break }
                if reaped == pid { result = ProcessStatus.exitCode(waitStatus: st) }
            }
            return result
        case SIGWINCH:
            if let master { Terminal.copyWindowSize(from: 0, to: master) }
        case let s where s > 0:
            kill(pid, s)
        default:
            break
        }
        return nil
    }

    /// Copies what is available; false at EOF or error (EIO when the pty slave closes).
    static func relay(from source: Int32, to target: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 32768)
        let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        if n <= 0 { return n < 0 && errno == EINTR }
        try? FileIO.writeAll(target, Array(buffer[0..<n]))
        return true
    }
}
