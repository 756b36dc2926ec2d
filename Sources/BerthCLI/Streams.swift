import BerthAPI
import BerthSystem
import Glibc

/// Moves bytes between the terminal and an attached container stream in one poll loop: stdin to
/// the daemon (half-closing at EOF), the daemon's output to stdout/stderr (demultiplexing the
/// 8-byte frames unless it is a tty stream).
public enum Streams {
    /// Sends the request and returns the raw connection once the daemon has switched protocols.
    public static func hijack(_ client: APIClient, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil) throws -> (fd: Int32, early: [UInt8]) {
        let response = try client.open("POST", path, query: query, body: body ?? [], upgrade: true)
        let fd = dup(response.reader.fd)
        let early = response.reader.buffer
        return (fd, early)
    }

    /// Pumps until the daemon ends the stream; true when the user typed the detach keys. With
    /// `stdin` false, input is not read at all. As the docker CLI, the keys are watched for on a
    /// terminal session only (`-it`); they still go to berthd, which detaches the stream without
    /// touching the container's stdin and closes it, so no output the client should see is cut.
    public static func pump(fd: Int32, early: [UInt8], tty: Bool, stdin: Bool, detachKeys: DetachKeys? = nil) -> Bool {
        var demux = Demux(tty: tty)
        demux.feed(early)
        var inputOpen = stdin
        var scanner = tty && stdin ? detachKeys.map(DetachKeyScanner.init) : nil
        var detachedAt: Double?
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            if inputOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            // once detached, berthd closes the stream at once; a second is plenty to wait for it
            let rc = poll(&fds, nfds_t(fds.count), detachedAt == nil ? -1 : 1000)
            if rc < 0 {
                if errno == EINTR { continue }
                break
            }
            if rc == 0, detachedAt != nil { break }
            if fds[0].revents != 0 {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                demux.feed(Array(buffer[0..<n]))
            }
            if inputOpen, fds[1].revents != 0 {
                let n = read(0, &buffer, buffer.count)
                if n <= 0 {
                    inputOpen = false
                    shutdown(fd, Int32(SHUT_WR))
                } else if (try? FileIO.writeAll(fd, Array(buffer[0..<n]))) == nil {
                    inputOpen = false
                } else if scanner?.scan(buffer[0..<n]).detached == true {
                    inputOpen = false
                    detachedAt = Monotonic.now()
                }
            }
        }
        close(fd)
        return detachedAt != nil
    }

    /// `--detach-keys`, else config.json's `detachKeys`, else docker's ctrl-p,ctrl-q: the keys the
    /// client watches for and the value sent to berthd (nil when only the default applies).
    public static func detachKeys(flag: String?) throws -> (keys: DetachKeys, query: String?) {
        let chosen = flag ?? DockerConfigFile.read()["detachKeys"]?.string
        do { return (try DetachKeys(parsing: chosen), chosen) } catch {
            throw APIClient.Failure(status: 0, message: error.description)
        }
    }

    /// Splits Docker's multiplexed stream (or passes a tty's bytes through) to stdout and stderr.
    public struct Demux {
        let tty: Bool
        var pending: [UInt8] = []
        public init(tty: Bool) { self.tty = tty }

        public mutating func feed(_ bytes: [UInt8]) {
            if tty { _ = try? FileIO.writeAll(1, bytes); return }
            pending += bytes
            while pending.count >= 8 {
                let size = Int(pending[4]) << 24 | Int(pending[5]) << 16 | Int(pending[6]) << 8 | Int(pending[7])
                guard pending.count >= 8 + size else { break }
                let target: Int32 = pending[0] == 2 ? 2 : 1
                _ = try? FileIO.writeAll(target, Array(pending[8..<8 + size]))
                pending.removeFirst(8 + size)
            }
        }
    }

    /// Puts the terminal in raw mode for a `-t` session; the returned closure restores it.
    public static func rawTerminal() -> () -> Void {
        guard isatty(0) == 1 else { return {} }
        var saved = termios()
        guard tcgetattr(0, &saved) == 0 else { return {} }
        var raw = saved
        cfmakeraw(&raw)
        tcsetattr(0, TCSANOW, &raw)
        return { var s = saved; tcsetattr(0, TCSANOW, &s) }
    }

    /// The terminal's size (rows, columns), if stdout is one.
    public static func terminalSize() -> (UInt16, UInt16)? {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0 else { return nil }
        return (size.ws_row, size.ws_col)
    }
}
