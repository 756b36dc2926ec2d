import BerthSnapshot
import BerthSystem
import Glibc

/// Docker's `-init` layer: the mount points every container needs (`/etc/hosts`, `/proc`…),
/// made once between the image and the container's writable layer, so that neither `diff`,
/// `commit` nor a rebuilt cache sees them as the container's own changes.
///
/// Filled without mounting the image: the snapshotter says what the parent chain holds, and only
/// what is missing is created in the layer's own directory (a mount and its unmount would cost
/// more than the rest of `create`).
enum InitLayer {
    static let directories = ["/dev", "/dev/pts", "/dev/shm", "/proc", "/sys", "/etc"]
    static let files = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/console"]

    static func populate(_ snapshotter: Snapshotter, key: String) throws {
        let (directory, _) = try snapshotter.applyTarget(key: key)
        let layer = try RootedPath(root: directory)
        let parent = snapshotter.parentView(key: key)
        /// A path is made only where the image has real directories (or nothing) on the way, and
        /// no non-directory at a directory's place: an image whose /etc is a symlink keeps it.
        func usable(_ path: String, directory: Bool) -> Bool {
            var walked = ""
            for component in path.split(separator: "/") {
                walked += "/" + component
                guard let type = parent.type(of: walked) else { return true }
                if (walked != path || directory) && type != S_IFDIR { return false }
            }
            return true
        }
        for dir in directories where usable(dir, directory: true) { close(try layer.makeDirectories(dir)) }
        for file in files where usable(file, directory: false) {
            close(try layer.makeFile(file, mode: file == "/dev/console" ? 0o755 : 0o644))
        }
        if parent.type(of: "/etc/mtab") == nil && usable("/etc", directory: true) {
            let etc = try layer.open("/etc", flags: O_PATH | O_DIRECTORY)
            defer { close(etc) }
            var st = stat()
            if fstatat(etc, "mtab", &st, AT_SYMLINK_NOFOLLOW) != 0 { symlinkat("/proc/mounts", etc, "mtab") }
        }
    }
}
