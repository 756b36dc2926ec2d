import Glibc

/// Unix stream sockets: the console socket, the shim's socket, berthd's API socket.
public enum UnixSocket {
    /// Connects a SOCK_STREAM unix socket to `path`.
    /// `timeout` (seconds) bounds the connect, and every read and write on the socket after it,
    /// until `setTimeout(fd, 0)`; a read past it fails with EAGAIN.
    public static func connect(_ path: String, timeout: Int = 0) throws -> Int32 {
        let fd = try sys("socket", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let rc: Int32
        do {
            if timeout > 0 { try setTimeout(fd, timeout) }
            rc = try withAddress(path) { Glibc.connect(fd, $0, $1) }
        } catch {
            close(fd)
            throw error
        }
        if rc != 0 {
            let error = SystemError("connect", path)
            close(fd)
            throw error
        }
        return fd
    }

    public static func setTimeout(_ fd: Int32, _ seconds: Int) throws {
        var limit = timeval(tv_sec: seconds, tv_usec: 0)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            try sys("setsockopt", "SO_RCVTIMEO/SO_SNDTIMEO") { setsockopt(fd, SOL_SOCKET, option, &limit, socklen_t(MemoryLayout<timeval>.size)) }
        }
    }

    /// Binds and listens on `path` (replacing a stale socket file) with `mode`.
    public static func listen(_ path: String, mode: mode_t = 0o600, backlog: Int32 = 64) throws -> Int32 {
        let fd = try sys("socket", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        unlink(path)
        do {
            let rc = try withAddress(path) { bind(fd, $0, $1) }
            if rc != 0 { throw SystemError("bind", path) }
            try sys("chmod", path) { chmod(path, mode) }
            try sys("listen", path) { Glibc.listen(fd, backlog) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Int32) throws -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // sun_path holds 107 bytes; a deeper path is reached through its directory's descriptor.
        var directory: Int32 = -1
        defer { if directory >= 0 { close(directory) } }
        if bytes.count >= MemoryLayout.size(ofValue: addr.sun_path), let slash = path.lastIndex(of: "/") {
            directory = try sys("open", path) { open(String(path[..<slash]), O_PATH | O_DIRECTORY | O_CLOEXEC) }
            bytes = Array("/proc/self/fd/\(directory)/\(path[path.index(after: slash)...])".utf8)
        }
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SystemError("socket", path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return try withUnsafePointer(to: &addr) { ptr in
            try ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, len) }
        }
    }
}
