import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc

/// Short request/reply exchanges with a shim over its socket (blocking: the shim answers at once).
public enum ShimClient {
    /// The shim closed a connection without answering: it does so only while it ends, after its
    /// container has exited.
    public struct Ended: Error, CustomStringConvertible {
        public let socket: String
        public var description: String { "shim \(socket) closed the connection" }
    }

    public static func request(_ socket: String, _ request: ShimRequest) throws -> ShimReply {
        let fd = try open(socket, request)
        defer { close(fd) }
        return try readReply(fd, socket: socket)
    }

    /// Connects and sends the request line; the caller owns the descriptor.
    public static func open(_ socket: String, _ request: ShimRequest) throws -> Int32 {
        let fd = try UnixSocket.connect(socket)
        let line = Array(try JSONEncoder().encode(request)) + [10]
        do {
            try FileIO.writeAll(fd, line, path: socket)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public static func readReply(_ fd: Int32, socket: String) throws -> ShimReply {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { throw ShimClient.Ended(socket: socket) }
            if byte == 10 { break }
            line.append(byte)
        }
        let reply = try JSONDecoder().decode(ShimReply.self, from: Data(line))
        if let error = reply.error { throw EngineError.internalError(error) }
        return reply
    }
}

extension ShimClient {
    /// Live shim processes by the config they were started with (`berth-shim <bundle>/shim.json`),
    /// read from /proc: at boot, the shims of starts a kill interrupted, socket or not.
    static func processes() -> [String: [pid_t]] {
        var found: [String: [pid_t]] = [:]
        for entry in (try? FileIO.listDirectory("/proc")) ?? [] {
            guard let pid = pid_t(entry), let raw = try? FileIO.read("/proc/\(entry)/cmdline") else { continue }
            let args = raw.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard args.count >= 2, args[0].hasSuffix("berth-shim"), args[1].hasSuffix("/shim.json") else { continue }
            found[args[1], default: []].append(pid)
        }
        return found
    }
}

/// One thread that waits on every running container's shim at once (a `wait` connection each)
/// and reports exits; the actors never block on a container.
final class ExitMonitor: @unchecked Sendable {
    private let lock = Lock()
    private var watched: [Int32: String] = [:]
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let onExit: @Sendable (String, ExitStatus?) -> Void

    init(onExit: @escaping @Sendable (String, ExitStatus?) -> Void) {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        wakeRead = fds[0]
        wakeWrite = fds[1]
        self.onExit = onExit
        Threads.detach { [self] in self.loop() }
    }

    /// Watches container `id` through a `wait` connection to its shim.
    func watch(id: String, socket: String) throws {
        let fd = try ShimClient.open(socket, ShimRequest(op: .wait))
        lock.locked { watched[fd] = id }
        _ = write(wakeWrite, "w", 1)
    }

    private func loop() {
        while true {
            let current = lock.locked { watched }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            fds += current.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 { continue }
            for entry in fds where entry.revents != 0 {
                if entry.fd == wakeRead {
                    var drain = [UInt8](repeating: 0, count: 64)
                    _ = read(wakeRead, &drain, drain.count)
                    continue
                }
                guard let id = current[entry.fd] else { continue }
                let reply = try? ShimClient.readReply(entry.fd, socket: id)
                lock.locked { watched[entry.fd] = nil }
                close(entry.fd)
                onExit(id, reply?.exit)
            }
        }
    }
}
