import BerthSystem
import CBerthLinux
import Glibc

/// A container's network namespace, kept alive by a bind mount at `path` (as `ip netns` does) so
/// it outlives berthd and can be configured before the container's first process exists.
///
/// berthd is multi-threaded and must not move its own threads between namespaces: every step
/// that needs to be "inside" runs on a fresh thread that enters the namespace and then ends.
/// What it leaves behind is a socket opened there, which stays bound to that namespace.
public enum NetworkNamespace {
    /// Makes a new namespace pinned at `path` (an empty file is created) with `lo` up.
    public static func create(at path: String) throws(NetworkError) {
        try PinnedNamespace.create(.net, at: path) { () throws(NetworkError) in
            try Netlink().setUp(1)  // lo is always index 1 in a new namespace
        }
    }

    /// Runs `body` on a fresh thread inside the namespace pinned at `path` (a socket it opens
    /// stays in that namespace).
    public static func within<T>(_ path: String, _ body: @escaping () throws(NetworkError) -> T) throws(NetworkError) -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return try onThread { () throws(NetworkError) -> T in
            guard berth_setns(fd, 0x4000_0000) == 0 else { throw .system("setns \(path): \(String(cString: strerror(errno)))") }
            return try body()
        }
    }

    /// Unpins a namespace: once its last process is gone the kernel frees it, with its veth ends.
    public static func remove(at path: String) { PinnedNamespace.remove(at: path) }

    /// Runs `body` on a new thread and waits for it: the thread's namespace changes die with it.
    static func onThread<T>(_ body: @escaping () throws(NetworkError) -> T) throws(NetworkError) -> T {
        nonisolated(unsafe) var result: Result<T, NetworkError>?
        let box = ThreadBox { result = Result(catching: body) }
        var thread = pthread_t()
        let raw = Unmanaged.passRetained(box).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<ThreadBox>.fromOpaque(raw!).takeRetainedValue().work()
            return nil
        }, raw)
        guard rc == 0 else {
            Unmanaged<ThreadBox>.fromOpaque(raw).release()
            throw .system("pthread_create: \(String(cString: strerror(rc)))")
        }
        pthread_join(thread, nil)
        return try result!.get()
    }
}

/// A namespace with no process in it, kept alive by a bind mount (CRI-O's `pinns`): a pod's
/// network, IPC and UTS namespaces exist before any of its containers and outlive each of them.
public enum PinnedNamespace {
    public enum Kind: String, Sendable {
        case net, ipc, uts
        var cloneFlag: Int32 {
            switch self {
            case .net: return 0x4000_0000
            case .ipc: return 0x0800_0000
            case .uts: return 0x0400_0000
            }
        }
    }

    /// Makes a new namespace of `kind` pinned at `path` (an empty file is created), after `setup`
    /// ran inside it (bringing `lo` up, setting the hostname).
    public static func create(_ kind: Kind, at path: String, setup: @escaping () throws(NetworkError) -> Void = {}) throws(NetworkError) {
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw .system("create \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            try NetworkNamespace.onThread { () throws(NetworkError) in
                guard berth_unshare(kind.cloneFlag) == 0 else { throw .system("unshare(\(kind.rawValue) namespace): \(String(cString: strerror(errno)))") }
                try setup()
                guard berth_mount("/proc/thread-self/ns/\(kind.rawValue)", path, nil, MountFlag.bind, nil) == 0 else {
                    throw .system("bind \(kind.rawValue) namespace at \(path): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            remove(at: path)
            throw error
        }
    }

    /// Pins the namespace at `source` (a `/proc/<pid>/ns/<kind>` file) at `path`.
    public static func pin(_ source: String, at path: String) throws(NetworkError) {
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw .system("create \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        guard berth_mount(source, path, nil, MountFlag.bind, nil) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw .system("bind \(source) at \(path): \(reason)")
        }
    }

    /// Unpins: once its last process is gone the kernel frees the namespace.
    public static func remove(at path: String) {
        try? Mounter.unmount(path, detach: true)  // not a mount point when a crash cut the pinning short
        unlink(path)
    }
}

/// A thread's work, handed over through `pthread_create`'s argument.
final class ThreadBox: @unchecked Sendable {
    let work: () -> Void
    init(_ work: @escaping () -> Void) { self.work = work }
}
