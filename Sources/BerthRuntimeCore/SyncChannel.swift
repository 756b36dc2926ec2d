import BerthSystem
import Glibc

/// The parent⇄child handshake over a SOCK_SEQPACKET pair: one message per send, so a message
/// can never be split or merged. The child reports failures as `E<exit code> <text>`.
struct SyncChannel {
    let fd: Int32

    static func pair() throws -> (parent: SyncChannel, child: SyncChannel) {
        var fds: [Int32] = [0, 0]
        try sys("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (SyncChannel(fd: fds[0]), SyncChannel(fd: fds[1]))
    }

    func send(_ message: String) {
        let bytes = Array(message.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// nil when the peer closed its end (the child died or exec'd).
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
        }
    }

    func sendError(_ error: RuntimeError) {
        send("E\(error.exitCode) \(error.description)")
    }

    /// Waits for `expected`; a child error message becomes the thrown error.
    func expect(_ expected: String) throws {
        guard let message = receive() else {
            throw RuntimeError.other("container init exited before it was ready")
        }
        if message == expected { return }
        try Self.raise(message)
    }

    /// Throws the error a child message carries (`E<code> <text>`), or an "unexpected" one.
    static func raise(_ message: String) throws -> Never {
        if message.hasPrefix("E"), let space = message.firstIndex(of: " "),
           let code = Int32(message[message.index(after: message.startIndex)..<space]) {
            let text = String(message[message.index(after: space)...])
            throw code == 1 ? RuntimeError.other(text) : RuntimeError.exec(code: code, message: text)
        }
        throw RuntimeError.other("unexpected message from container init: \(message)")
    }

    func close() { _ = Glibc.close(fd) }
}
