import BerthSystem
import CBerthLinux
import Glibc

/// Unpacks a layer tar into a directory, never writing outside it.
///
/// Every parent directory is resolved by the kernel inside the root (openat2 `RESOLVE_IN_ROOT`),
/// and every entry is created relative to that parent with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`:
/// an absolute name, a symlink planted by an earlier entry, or a hardlink to `/etc/shadow` all
/// resolve to a path inside the root. Names with `..` are refused outright.
public struct LayerExtractor {
    /// What an OCI whiteout becomes.
    public enum Whiteouts: Sendable {
        /// overlayfs form: a 0/0 character device, and `trusted.overlay.opaque=y` on opaque dirs.
        case overlay
        /// Applied to a flattened tree (vfs): the whited-out path is deleted.
        case apply
        /// Not a layer (`docker cp`): `.wh.` names are ordinary files.
        case none
    }

    public let root: String
    public let whiteouts: Whiteouts
    /// `docker cp`'s guard: a directory is never replaced by a non-directory, nor the reverse.
    public var noOverwriteDirNonDir = false
    public var owners = OwnerShift.none

    public init(root: String, whiteouts: Whiteouts) {
        self.root = root
        self.whiteouts = whiteouts
    }

    /// Extracts every entry; returns the bytes of file data written.
    @discardableResult
    public func extract(_ reader: TarReader) throws -> Int64 {
        var session = try Session(root: try RootedPath(root: root), whiteouts: whiteouts)
        session.noOverwriteDirNonDir = noOverwriteDirNonDir
        session.owners = owners
        defer { session.close() }
        while let entry = try reader.next() {
            try session.apply(entry) { fd, path in try reader.copyData(to: fd, path: path) }
        }
        try session.finish()
        return session.bytes
    }

    /// Copies a directory tree in, with every piece of metadata, through the same safe path as a
    /// tar (the vfs driver's way to start a snapshot from its parent).
    @discardableResult
    public func copy(tree source: String) throws -> Int64 {
        try receive { try TreeArchiver(mode: .plain).archive(source, to: $0) }
    }

    /// Applies whatever `produce` sends to the sink it is given (a build's COPY, a tree copy).
    @discardableResult
    public func receive(_ produce: (TreeSink) throws -> Void) throws -> Int64 {
        let sink = try CopySink(session: Session(root: try RootedPath(root: root), whiteouts: whiteouts))
        defer { sink.session.close() }
        try produce(sink)
        try sink.session.finish()
        return sink.session.bytes
    }

    final class CopySink: TreeSink {
        var session: Session
        init(session: Session) { self.session = session }

        static func readWrite(_ source: Int32, _ fd: Int32, _ path: String) throws -> Int64 {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var total: Int64 = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw SystemError("read", path) }
                if n == 0 { return total }
                try FileIO.writeAll(fd, Array(buffer[0..<n]), path: path)
                total += Int64(n)
            }
        }

        func add(_ entry: TarEntry, source: Int32?) throws {
            try session.apply(entry) { fd, path in
                guard let source else { return 0 }
                var total: Int64 = 0
                while true {
                    let n = berth_copy_file_range(source, fd, 1 << 30)
                    if n < 0 && errno == EINTR { continue }
                    // Across file systems (a build context into an overlay) the kernel may
                    // refuse: plain reads and writes then.
                    if n < 0 && [EXDEV, EOPNOTSUPP, EINVAL, ENOSYS].contains(errno) { return total + (try Self.readWrite(source, fd, path)) }
                    if n < 0 { throw SystemError("copy_file_range", path) }
                    if n == 0 { return total }
                    total += Int64(n)
                }
            }
        }
    }

    struct Session {
        let root: RootedPath
        let whiteouts: Whiteouts
        var noOverwriteDirNonDir = false
        var owners = OwnerShift.none
        var bytes: Int64 = 0
        /// Paths this layer created: an opaque whiteout (apply mode) keeps them.
        var created = Set<String>()
        /// Directory mtimes, applied last: creating children would change them.
        var directoryTimes: [(String, timespec)] = []
        var cachedParent: (path: String, fd: Int32)?

        init(root: RootedPath, whiteouts: Whiteouts) throws {
            self.root = root
            self.whiteouts = whiteouts
        }

        mutating func close() {
            if let c = cachedParent { Glibc.close(c.fd) }
            cachedParent = nil
        }

        mutating func parent(_ path: String) throws -> Int32 {
            if let c = cachedParent, c.path == path { return c.fd }
            close()
            let fd = try root.makeDirectories(path)
            cachedParent = (path, fd)
            return fd
        }

        /// Creates one entry; `writeData` fills a new regular file's descriptor and returns its size.
        mutating func apply(_ raw: TarEntry, writeData: (Int32, String) throws -> Int64) throws {
            var entry = raw
            entry.path = try TarEntry.clean(raw.path)
            if entry.path.isEmpty { return }  // the root itself keeps its own metadata
            let (parentPath, name) = RootedPath.split("/" + entry.path)
            let dir = try parent(parentPath)

            if whiteouts != .none && name == TarEntry.opaqueWhiteout { return try opaque(parentPath, dir) }
            if whiteouts != .none && name.hasPrefix(TarEntry.whiteoutPrefix) {
                let target = String(name.dropFirst(TarEntry.whiteoutPrefix.count))
                guard !target.isEmpty, target != ".", target != ".." else { throw ArchiveError.escapes(raw.path) }
                return try whiteout(target, in: dir)
            }

            try clear(name, in: dir, keepDirectory: entry.kind == .directory)
            switch entry.kind {
            case .directory:
                if mkdirat(dir, name, 0o700) != 0 && errno != EEXIST { throw fail("mkdir", entry.path) }
                directoryTimes.append((entry.path, entry.mtime))
            case .file:
                let fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw fail("open", entry.path) }
                defer { Glibc.close(fd) }
                let written = try writeData(fd, entry.path)
                if written < entry.size && ftruncate(fd, off_t(entry.size)) != 0 { throw fail("truncate", entry.path) }
                bytes += entry.size
            case .symlink:
                if symlinkat(entry.linkTarget ?? "", dir, name) != 0 { throw fail("symlink", entry.path) }
            case .hardlink:
                let target = try TarEntry.clean(entry.linkTarget ?? "")
                guard !target.isEmpty else { throw ArchiveError.escapes(entry.linkTarget ?? "") }
                let source = try root.open("/" + target, flags: O_PATH | O_NOFOLLOW)
                defer { Glibc.close(source) }
                if linkat(AT_FDCWD, RootedPath.procPath(source), dir, name, AT_SYMLINK_FOLLOW) != 0 { throw fail("link", entry.path) }
                created.insert(entry.path)
                return  // a hardlink shares its target's inode and metadata
            case .character, .block, .fifo:
                let type: mode_t = entry.kind == .character ? S_IFCHR : entry.kind == .block ? S_IFBLK : S_IFIFO
                if berth_mknodat(dir, name, type | 0o600, entry.deviceMajor, entry.deviceMinor) != 0 { throw fail("mknod", entry.path) }
            }
            try setMetadata(entry, name: name, in: dir)
            created.insert(entry.path)
        }

        func setMetadata(_ entry: TarEntry, name: String, in dir: Int32) throws {
            if fchownat(dir, name, owners.toMount(uid: entry.uid), owners.toMount(gid: entry.gid), AT_SYMLINK_NOFOLLOW) != 0 { throw fail("chown", entry.path) }
            if entry.kind != .symlink {
                // After chown, which clears setuid/setgid bits.
                if fchmodat(dir, name, mode_t(entry.mode), 0) != 0 { throw fail("chmod", entry.path) }
                let settable = entry.xattrs.filter { !$0.key.hasPrefix("trusted.overlay.") }
                if !settable.isEmpty {
                    let fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
                    guard fd >= 0 else { throw fail("open", entry.path) }
                    defer { Glibc.close(fd) }
                    for (key, value) in settable {
                        let rc = value.withUnsafeBytes { berth_setxattr(RootedPath.procPath(fd), key, $0.baseAddress, UInt($0.count)) }
                        if rc != 0 && errno != ENOTSUP { throw fail("setxattr \(key)", entry.path) }
                    }
                }
            }
            if entry.kind != .directory {
                var times = [entry.mtime, entry.mtime]
                if utimensat(dir, name, &times, AT_SYMLINK_NOFOLLOW) != 0 { throw fail("utimes", entry.path) }
            }
        }

        /// Makes room for a new entry: anything there goes, except a directory that stays a directory.
        mutating func clear(_ name: String, in dir: Int32, keepDirectory: Bool) throws {
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            if isDirectory && keepDirectory { return }
            if noOverwriteDirNonDir && isDirectory != keepDirectory {
                throw ArchiveError.malformed(isDirectory ? "cannot overwrite directory \"\(name)\" with non-directory"
                                                         : "cannot overwrite non-directory \"\(name)\" with directory")
            }
            if isDirectory { close() }  // the cached parent may live under it
            try FileIO.removeTree(at: dir, name)
        }

        mutating func whiteout(_ target: String, in dir: Int32) throws {
            try clear(target, in: dir, keepDirectory: false)
            if whiteouts == .overlay && berth_mknodat(dir, target, S_IFCHR, 0, 0) != 0 {
                throw fail("mknod whiteout", target)
            }
        }

        mutating func opaque(_ path: String, _ dir: Int32) throws {
            switch whiteouts {
            case .overlay:
                let rc = "y".withCString { berth_setxattr(RootedPath.procPath(dir), "trusted.overlay.opaque", $0, 1) }
                if rc != 0 { throw fail("setxattr trusted.overlay.opaque", path) }
            case .none:
                return
            case .apply:
                let prefix = path == "/" ? "" : String(path.dropFirst()) + "/"
                let fd = try root.open(path, flags: O_RDONLY | O_DIRECTORY)
                defer { Glibc.close(fd) }
                for child in try FileIO.listDirectory(fd: fd, path: path) where !created.contains(prefix + child) {
                    close()
                    try FileIO.removeTree(at: fd, child)
                }
            }
        }

        mutating func finish() throws {
            close()
            for (path, mtime) in directoryTimes.reversed() {
                // A later entry may have replaced the directory; then its time is not ours to set.
                guard let fd = try? root.open("/" + path, flags: O_PATH | O_NOFOLLOW | O_DIRECTORY) else { continue }
                defer { Glibc.close(fd) }
                var times = [mtime, mtime]
                if utimensat(AT_FDCWD, RootedPath.procPath(fd), &times, 0) != 0 { throw fail("utimes", path) }
            }
        }

        func fail(_ call: String, _ path: String) -> Error { SystemError(call, root.join(path)) }
    }
}
