import Glibc

/// How a new shim tells whoever started it that its container exists: "ok" on a descriptor it
/// was given, or its error's words and then EOF. The container's init, not yet exec'd, holds that
/// descriptor too (it is close-on-exec), so EOF comes only on failure and "ok" must end the wait.
public enum ShimReady {
    public static let ok = Array("ok".utf8)

    /// Waits for the report on `fd`: nil once the shim is ready, otherwise its message.
    public static func await(_ fd: Int32) -> String? {
        var message = [UInt8](repeating: 0, count: 4096)
        var received: [UInt8] = []
        while received != ok {
            let n = read(fd, &message, message.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            received += message[0..<n]
        }
        if received == ok { return nil }
        return received.isEmpty ? "shim exited before the container was created" : String(decoding: received, as: UTF8.self)
    }

    /// Reports `message` as the reason the shim could not start.
    public static func fail(_ fd: Int32, _ message: String) {
        let bytes = Array(message.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
