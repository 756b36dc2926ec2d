import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc

/// Short request/reply exchanges with a shim over its socket. Blocking, so callers run them on
/// the blocking pool; bounded by `replyLimit`, so a stopped or wedged shim costs an error, not a
/// thread and its container's operation gate forever.
public enum ShimClient {
    /// The shim closed a connection without answering: it does so only while it ends, after its
    /// container has exited.
    public struct Ended: Error, CustomStringConvertible {
        public let socket: String
        public var description: String { "shim \(socket) closed the connection" }
    }

    /// The shim took no request or gave no answer within `replyLimit`.
    public struct Unresponsive: Error, CustomStringConvertible {
        public let socket: String
        public var description: String { "shim \(socket) did not answer within \(ShimClient.replyLimit) seconds" }
    }

    /// The runtime refused for the container's state ("container not running"), or the kernel
    /// a value.
    public struct Refused: Error, CustomStringConvertible {
        public let kind: ShimReply.Refusal
        public let message: String
        public var description: String { message }
    }

    /// A shim answers at once; a freeze of many processes (pause) is the slowest reply.
    public static let replyLimit = 30

    public static func request(_ socket: String, _ request: ShimRequest) throws -> ShimReply {
        let fd = try open(socket, request)
        defer { close(fd) }
        return try readReply(fd, socket: socket)
    }

    /// Connects and sends the request line; the caller owns the descriptor, which stays bounded
    /// by `replyLimit` until `readReply` has the answer.
    public static func open(_ socket: String, _ request: ShimRequest) throws -> Int32 {
        let fd: Int32
        do { fd = try UnixSocket.connect(socket, timeout: replyLimit) } catch let error as SystemError where error.errno == EAGAIN {
            throw Unresponsive(socket: socket)
        }
        let line = Array(try JSONEncoder().encode(request)) + [10]
        do {
            try FileIO.writeAll(fd, line, path: socket)
        } catch {
            close(fd)
            throw (error as? SystemError)?.errno == EAGAIN ? Unresponsive(socket: socket) : error
        }
        return fd
    }

    /// The reply line; the descriptor then carries the stream, if any, without a time limit.
    /// The stream that may follow the line is the caller's: what arrived is peeked at and only
    /// the line taken, rather than read a byte per call.
    public static func readReply(_ fd: Int32, socket: String) throws -> ShimReply {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let n = recv(fd, &chunk, chunk.count, Int32(MSG_PEEK))
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { throw Unresponsive(socket: socket) }
            if n <= 0 { throw Ended(socket: socket) }
            let end = chunk[0..<n].firstIndex(of: 10)
            let take = end.map { $0 + 1 } ?? n
            var taken = 0
            repeat { taken = read(fd, &chunk, take) } while taken < 0 && errno == EINTR
            guard taken == take else { throw Ended(socket: socket) }  // what was peeked is queued: all of it
            line += chunk[0..<(end ?? n)]
            if end != nil { break }
        }
        try UnixSocket.setTimeout(fd, 0)
        let reply = try JSONDecoder().decode(ShimReply.self, from: Data(line))
        if let error = reply.error { throw reply.refusal.map { Refused(kind: $0, message: error) } ?? EngineError.internalError(error) }
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
