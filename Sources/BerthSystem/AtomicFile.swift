import Glibc

/// Crash-safe replacement of a file: a reader sees the old bytes or the new ones, never a mix,
/// and a power cut after `write` returns keeps the new ones (temp + fsync + rename + fsync dir).
public enum AtomicFile {
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let directory = parentDirectory(of: path)
        let temp = "\(path).tmp-\(getpid())"
        let fd = try sys("open", temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try FileIO.writeAll(fd, bytes, path: temp)
            try sys("fsync", temp) { fsync(fd) }
            close(fd)
            try sys("rename", path) { rename(temp, path) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
