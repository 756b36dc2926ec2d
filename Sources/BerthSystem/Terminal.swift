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
