import BerthSystem
import Glibc

/// Docker's `-init` layer: the mount points every container needs (`/etc/hosts`, `/proc`…),
/// made once between the image and the container's writable layer, so that neither `diff`,
/// `commit` nor a rebuilt cache sees them as the container's own changes.
enum InitLayer {
    static let directories = ["/dev", "/dev/pts", "/dev/shm", "/proc", "/sys", "/etc"]
    static let files = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/console"]

    /// Adds what `root` (the merged image, mounted) lacks; an image's own entries are left alone.
    static func populate(_ root: String) throws {
        let rooted = try RootedPath(root: root)
        for dir in directories { close(try rooted.makeDirectories(dir)) }
        for file in files { close(try rooted.makeFile(file, mode: file == "/dev/console" ? 0o755 : 0o644)) }
        let etc = try rooted.open("/etc", flags: O_PATH | O_DIRECTORY)
        defer { close(etc) }
        var st = stat()
        if fstatat(etc, "mtab", &st, AT_SYMLINK_NOFOLLOW) != 0 { symlinkat("/proc/mounts", etc, "mtab") }
    }
}
