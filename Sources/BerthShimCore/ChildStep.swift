import BerthRuntimeCore
import BerthSystem
import CBerthLinux
import Glibc

/// A step the shim runs in a short-lived child of its own: creating the container, which decodes
/// the whole spec (the seccomp profile alone is a few hundred strings). The shim lives as long as
/// its container, and every page that step dirtied in it stayed charged to it, half-free and
/// fragmented, for that long; in a child they go when it exits. The init the step clones is the
/// child's, and passes to the shim (a subreaper) when the child exits; the shim reaps it as its own.
/// The price is the child's copy-on-write faults, about 0.8 ms of a start.
enum ChildStep {
    /// What a step brings back: bytes, and a descriptor (a terminal's master) when it made one.
    struct Answer {
        var bytes: [UInt8]
        var fd: Int32?
    }

    /// The largest answer: a record without the spec, or an error's words.
    static let limit = 65536

    /// Runs `body` in a forked child and returns its answer; its error, as words, is thrown here.
    static func run(_ body: () throws -> Answer) throws -> Answer {
        var ends: [Int32] = [0, 0]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) }
        let pid = fork()
        if pid == 0 {
            close(ends[0])
            var message: [UInt8], fd: Int32 = -1
            do {
                let answer = try body()
                message = [0] + answer.bytes
                fd = answer.fd ?? -1
            } catch {
                message = [1] + Array("\(error)".utf8)
            }
            _ = berth_send_message(ends[1], message, min(message.count, limit + 1), fd)
            _exit(0)
        }
        let forkErrno = errno
        close(ends[1])
        defer { close(ends[0]) }
        guard pid > 0 else { throw RuntimeError.system(SystemError("fork", nil, errno: forkErrno)) }
        var fd: Int32 = -1, n = 0
        // not zeroed: only the pages the answer lands in are touched (see `Shim.read`)
        let buffer = [UInt8](unsafeUninitializedCapacity: limit + 1) { bytes, initialized in
            repeat { n = berth_recv_message(ends[0], bytes.baseAddress, limit + 1, &fd) } while n < 0 && errno == EINTR
            initialized = max(n, 0)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard n > 0 else {
            throw RuntimeError.other("the shim's child for this step ended without an answer (status \(ProcessStatus.exitCode(waitStatus: status)))")
        }
        let bytes = Array(buffer[1..<n])
        guard buffer[0] == 0 else {
            if fd >= 0 { close(fd) }
            throw RuntimeError.other(String(decoding: bytes, as: UTF8.self))
        }
        return Answer(bytes: bytes, fd: fd >= 0 ? fd : nil)
    }
}
