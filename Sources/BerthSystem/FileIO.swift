import Glibc

/// Whole-file reads and writes for small kernel and state files (/proc, cgroupfs, state.json).
/// Not atomic: use `AtomicFile` for anything that must survive a crash.
public enum FileIO {
    /// The directory of the running binary, from /proc/self/exe: where its helpers are
    /// (berth-shim beside berthd, berthd beside berth), however it was started — by a path or
    /// found on `PATH`, where argv[0] has no directory.
    public static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "/usr/local/bin" }
        let path = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return AtomicFile.parentDirectory(of: path)
    }

    public static func read(_ path: String) throws -> [UInt8] {
        let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        return try readAll(fd, path: path)
    }

    public static func readString(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    public static func readAll(_ fd: Int32, path: String? = nil) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = try buffer.withUnsafeMutableBytes { raw in
                try sys("read", path) { Int32(truncatingIfNeeded: Glibc.read(fd, raw.baseAddress, raw.count)) }
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<Int(n)])
        }
    }

    /// Hands what `fd` holds from its offset to the end to `body`, 1 MiB at a time (each block
    /// valid only during the call).
    public static func forEachBlock(_ fd: Int32, path: String? = nil, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SystemError("read", path) }
            if n == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
    }

    /// Writes `text` with one write(2): cgroupfs and procfs take a value per write call.
    public static func write(_ path: String, _ text: String, flags: Int32 = O_WRONLY | O_TRUNC) throws {
        let fd = try sys("open", path) { open(path, flags | O_CLOEXEC, 0o644) }
        defer { close(fd) }
        try writeAll(fd, Array(text.utf8), path: path)
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String? = nil) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    public static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String? = nil) throws {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write", path)
            }
            offset += n
        }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// mkdir -p; existing directories are fine. Tries the full path first: in the common case
    /// (parents exist) that is one syscall, not one per component.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw SystemError("mkdir", path) }
        let parent = AtomicFile.parentDirectory(of: path)
        guard parent != path, parent != "/", parent != "." else { throw SystemError("mkdir", path) }
        try makeDirectories(parent, mode: mode)
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("mkdir", path) }
    }

    /// mkdtemp under `parent`: a fresh private directory for staging work.
    public static func makeTemporaryDirectory(in parent: String = "/tmp", prefix: String = "berth-") throws -> String {
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        return try template.withUnsafeMutableBufferPointer { buffer in
            guard let p = mkdtemp(buffer.baseAddress!) else { throw SystemError("mkdtemp", parent) }
            return String(cString: p)
        }
    }

    /// rm -rf without following symlinks; missing paths are fine.
    public static func removeTree(_ path: String) throws {
        try removeTree(at: AT_FDCWD, path)
    }

    /// rm -rf of `name` relative to the directory `dirfd`, never following a symlink, so a tree
    /// inside a container root can be removed without a path that could be redirected. As rm -f,
    /// what is already gone is no error: another remover (a snapshot's removal finishing in the
    /// background) may take an entry between its listing and its turn.
    public static func removeTree(at dirfd: Int32, _ name: String) throws {
        var st = stat()
        guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw SystemError("lstat", name)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return }
                throw SystemError("open", name)
            }
            defer { close(fd) }
            for child in try listDirectory(fd: fd, path: name) { try removeTree(at: fd, child) }
            if unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw SystemError("rmdir", name) }
        } else if unlinkat(dirfd, name, 0) != 0 && errno != ENOENT {
            throw SystemError("unlink", name)
        }
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        let fd = try sys("opendir", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        return try listDirectory(fd: fd, path: path)
    }

    /// Sorted names in the open directory `fd` (which stays open and owned by the caller).
    public static func listDirectory(fd: Int32, path: String) throws -> [String] {
        let own = try sys("dup", path) { dup(fd) }
        guard let dir = fdopendir(own) else {
            close(own)
            throw SystemError("opendir", path)
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

extension FileIO {
    /// Unbuffered write to fd 2: safe in a forked child, where stdio buffers may be shared.
    public static func stderr(_ text: String) {
        try? writeAll(2, Array(text.utf8))
    }

    /// du of one directory tree (allocated blocks, hardlinks counted once).
    public static func diskUsage(_ path: String) -> Int64 { treeUsage(path).bytes }

    /// Allocated bytes and inodes of one directory tree, each hardlinked inode counted once
    /// (what the kubelet's image GC reads through CRI's ImageFsInfo).
    public static func treeUsage(_ path: String) -> (bytes: Int64, inodes: Int64) {
        var seen = Set<UInt64>()
        var inodes: Int64 = 0
        func walk(_ p: String) -> Int64 {
            var st = stat()
            guard lstat(p, &st) == 0 else { return 0 }
            if st.st_nlink > 1 && !seen.insert(UInt64(st.st_ino)).inserted { return 0 }
            inodes += 1
            var total = Int64(st.st_blocks) * 512
            if (st.st_mode & S_IFMT) == S_IFDIR {
                for name in (try? listDirectory(p)) ?? [] { total += walk(p + "/" + name) }
            }
            return total
        }
        let bytes = walk(path)
        return (bytes, inodes)
    }
}
