import CBerthLinux
import Glibc

/// Pseudo-terminals and descriptor passing, for `-t` containers and the console socket protocol
/// runc defined: the pty master travels over a unix socket as SCM_RIGHTS.
public enum Terminal {
    /// Opens a new pty pair from `ptmx`; returns (master, slave path).
    public static func openPTY(ptmx: String = "/dev/ptmx") throws -> (master: Int32, slave: String) {
        let master = try sys("open", ptmx) { open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC) }
        var buffer = [CChar](repeating: 0, count: 128)
        if berth_ptsname_unlock(master, &buffer, buffer.count) != 0 {
            let error = SystemError("ioctl TIOCSPTLCK", ptmx)
            close(master)
            throw error
        }
        let name = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return (master, String(decoding: name, as: UTF8.self))
    }

    public static func sendFD(_ socket: Int32, _ fd: Int32, name: String) throws {
        try sys("sendmsg", "console socket") { berth_send_fd(socket, fd, name) }
    }

    public static func receiveFD(_ socket: Int32) throws -> Int32 {
        var name = [CChar](repeating: 0, count: 4096)
        return try sys("recvmsg", "console socket") { berth_recv_fd(socket, &name, name.count) }
    }

    /// Connects a SOCK_STREAM unix socket to `path`.
    public static func connectUnix(_ path: String) throws -> Int32 {
        let fd = try sys("socket", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw SystemError("connect", path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let rc = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) }
        }
        if rc != 0 {
            let error = SystemError("connect", path)
            close(fd)
            throw error
        }
        return fd
    }

    /// Puts `fd` in raw mode; returns the saved settings for `restore`.
    public static func makeRaw(_ fd: Int32) -> [UInt8]? {
        var saved = [UInt8](repeating: 0, count: berth_termios_size())
        return berth_make_raw(fd, &saved, saved.count) == 0 ? saved : nil
    }

    public static func restore(_ fd: Int32, _ saved: [UInt8]) {
        _ = berth_restore_termios(fd, saved, saved.count)
    }

    public static func copyWindowSize(from source: Int32, to target: Int32) {
        var rows: UInt16 = 0, cols: UInt16 = 0
        if berth_get_winsize(source, &rows, &cols) == 0 { _ = berth_set_winsize(target, rows, cols) }
    }
}
