import CBerthLinux
import Glibc

/// Crash-safe replacement of a file: a reader sees the old bytes or the new ones, never a mix,
/// and a power cut after `write` returns keeps the new ones (temp + fsync + rename + fsync dir).
/// On tmpfs (runtime state under /run) a power cut loses the file anyway, so the fsyncs, which
/// cost more than the rest of the write, are skipped there.
public enum AtomicFile {
    /// `durable: false` keeps the atomic replace but skips the fsyncs, for files a power cut may
    /// lose: rebuilt at every start (a container's /etc/hosts), or a container's writable layer,
    /// which does not survive a power cut intact anyway (Docker does not sync it either).
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable requested: Bool = true) throws {
        let directory = parentDirectory(of: path)
        let durable = requested && !isVolatile(directory)
        let temp = "\(path).tmp-\(getpid())"
        let fd = try sys("open", temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try FileIO.writeAll(fd, bytes, path: temp)
            if durable { try sys("fsync", temp) { fsync(fd) } }
            close(fd)
            try sys("rename", path) { rename(temp, path) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        if durable { syncDirectory(directory) }
    }

    /// fsync of a directory, so a rename into it survives a power cut (best effort: some
    /// filesystems refuse it, and the rename itself has already happened).
    public static func syncDirectory(_ directory: String) {
        guard !isVolatile(directory) else { return }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    /// tmpfs or ramfs: memory-backed, gone at power-off.
    public static func isVolatile(_ directory: String) -> Bool {
        let type = berth_statfs_type(directory)
        return type == 0x0102_1994 || type == 0x8584_58f6
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
