import CBerthLinux
import Glibc

/// Paths inside a root directory resolved by the kernel (openat2 RESOLVE_IN_ROOT): `..` and
/// symlinks, absolute or relative, can never climb out of `root`. Mount targets, tar extraction
/// and `cp` all go through this one helper so none of them joins strings into host paths.
public final class RootedPath {
    public let root: String
    public let rootFD: Int32

    static let resolveInRoot: UInt64 = 0x10
    static let resolveNoMagicLinks: UInt64 = 0x02

    public init(root: String) throws {
        self.root = root
        rootFD = try sys("open", root) { Glibc.open(root, O_PATH | O_DIRECTORY | O_CLOEXEC) }
    }

    deinit { close(rootFD) }

    /// Opens `path` (interpreted inside the root) with `flags`.
    public func open(_ path: String, flags: Int32, mode: mode_t = 0) throws -> Int32 {
        let relative = Self.relative(path)
        return try sys("openat2", join(path)) {
            berth_openat2(rootFD, relative, flags | O_CLOEXEC, Int32(mode), Self.resolveInRoot | Self.resolveNoMagicLinks)
        }
    }

    /// Where `path` leads inside the root once its symlinks are followed (within the root), as a
    /// root-relative path; `.` for the root itself.
    public func resolve(_ path: String) throws -> String {
        let fd = try open(path, flags: O_PATH)
        defer { close(fd) }
        func target(_ fd: Int32) -> String {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(Self.procPath(fd), &buffer, Int(PATH_MAX))
            return String(cString: Array(buffer.prefix(max(n, 0))) + [0])
        }
        let base = target(rootFD), full = target(fd)
        guard full != base else { return "." }
        guard full.hasPrefix(base == "/" ? "/" : base + "/") else { throw SystemError("resolve", join(path), errno: EXDEV) }
        return String(full.dropFirst(base == "/" ? 1 : base.count + 1))
    }

    /// The names in a directory inside the root.
    public func list(_ path: String) throws -> [String] {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        return try FileIO.listDirectory(fd: fd, path: join(path))
    }

    /// mkdir -p inside the root; returns an O_PATH descriptor of the final directory.
    @discardableResult
    public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws -> Int32 {
        if let existing = try? self.open(path, flags: O_PATH | O_DIRECTORY) { return existing }
        var parent = try self.open("/", flags: O_PATH | O_DIRECTORY)
        var walked = ""
        for component in Self.relative(path).split(separator: "/") where component != "." {
            walked += "/" + component
            if component == ".." {
                close(parent)
                parent = try self.open(walked, flags: O_PATH | O_DIRECTORY)
                continue
            }
            let name = String(component)
            if mkdirat(parent, name, mode) != 0 && errno != EEXIST {
                let error = SystemError("mkdir", join(walked))
                close(parent)
                throw error
            }
            close(parent)
            parent = try self.open(walked, flags: O_PATH | O_DIRECTORY)
        }
        return parent
    }

    /// Makes sure a regular file exists at `path` (parents created); returns an O_PATH descriptor.
    public func makeFile(_ path: String, mode: mode_t = 0o644) throws -> Int32 {
        let (parentPath, name) = Self.split(path)
        let parent = try makeDirectories(parentPath)
        defer { close(parent) }
        if let existing = try? self.open(path, flags: O_PATH) { return existing }
        let fd = openat(parent, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode)
        if fd < 0 && errno != EEXIST { throw SystemError("open", join(path)) }
        if fd >= 0 { Glibc.close(fd) }
        return try self.open(path, flags: O_PATH)
    }

    /// The host path a descriptor's magic link points at, usable as a mount(2) target.
    public static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    /// Human-readable host path for messages; never used to open anything.
    public func join(_ path: String) -> String {
        let rel = Self.relative(path)
        return rel == "." ? root : (root.hasSuffix("/") ? root + rel : root + "/" + rel)
    }

    /// The path relative to the root; the root itself is ".".
    static func relative(_ path: String) -> String {
        let rel = String(path.drop(while: { $0 == "/" }))
        return rel.isEmpty ? "." : rel
    }

    /// Splits into (parent, last component): "/a/b/c" → ("/a/b", "c").
    public static func split(_ path: String) -> (String, String) {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return ("/", trimmed) }
        return (String(trimmed[..<slash]), String(trimmed[trimmed.index(after: slash)...]))
    }
}
