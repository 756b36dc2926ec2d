import BerthSystem
import CBerthLinux
import Glibc

/// How a process being created enters its container's cgroup by itself instead of being moved
/// there from outside. A write of a pid to `cgroup.procs` takes the kernel's global threadgroup
/// lock for writing, and its RCU grace period cost 7–25 ms per container start on this machine;
/// moving only the caller's own thread (v1 `tasks`, "0") skips that lock (0.5 ms for all eight
/// hierarchies), and clone3 on v2 makes the child there (the fork path's read side only).
public enum CgroupEntry {
    /// v1: every hierarchy's `tasks`, opened by the parent (the kernel checks the opener's
    /// credentials, so a child already in a new user namespace may write them), written by the
    /// new child before it does anything else. It is single-threaded, so its thread is the process.
    case ownThread([Int32])
    /// v2: the cgroup's directory, for clone3's CLONE_INTO_CGROUP.
    case birth(Int32)

    /// In the new child (v1): joins every hierarchy and closes the files. Nothing to do on v2.
    public func enter() throws {
        guard case .ownThread(let files) = self else { return }
        for fd in files {
            _ = try sys("write", "the cgroup's tasks") { Int32(write(fd, "0", 1)) }
            Glibc.close(fd)
        }
    }

    public func close() {
        switch self {
        case .ownThread(let files): files.forEach { Glibc.close($0) }
        case .birth(let fd): Glibc.close(fd)
        }
    }

    /// Opens every hierarchy's `tasks` for writing; any failure closes what was opened.
    static func openTasks(in directories: [String]) throws -> CgroupEntry {
        var fds: [Int32] = []
        do {
            for dir in directories {
                let path = dir + "/tasks"
                fds.append(try sys("open", path) { Glibc.open(path, O_WRONLY | O_CLOEXEC) })
            }
        } catch {
            fds.forEach { Glibc.close($0) }
            throw error
        }
        return .ownThread(fds)
    }
}
