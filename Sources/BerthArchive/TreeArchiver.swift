import BerthSystem
import CBerthLinux
import Glibc

/// Where TreeArchiver sends each entry; `source` is an open regular file holding its data.
public protocol TreeSink: AnyObject {
    func add(_ entry: TarEntry, source: Int32?) throws
}

/// Writes a directory tree into a tar, in sorted order so the same tree always gives the same
/// bytes (and so the same diffID). Serves `export` (a merged rootfs, taken as it is) and layer
/// diffs (an overlay upper dir, whose 0/0 devices and opaque xattrs become OCI whiteouts).
public struct TreeArchiver {
    public enum Mode: Sendable {
        case plain
        case overlayDiff
    }

    public let mode: Mode
    public let owners: OwnerShift

    public init(mode: Mode, owners: OwnerShift = .none) { self.mode = mode; self.owners = owners }

    public func archive(_ directory: String, to writer: TreeSink) throws {
        let fd = try sys("open", directory) { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        var links: [UInt64: String] = [:]
        try walk(fd, prefix: "", path: directory, writer: writer, links: &links)
    }

    /// One entry of `dirfd` (a file, or a directory with its contents), named `newName` in the
    /// tar: `docker cp`'s source, whose top entry takes the name the user asked for.
    public func archive(item name: String, in dirfd: Int32, path: String, as newName: String, to writer: TreeSink) throws {
        var st = stat()
        try sys("lstat", path) { fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) }
        let renamed = RenamingSink(from: name, to: newName, writer: writer)
        var links: [UInt64: String] = [:]
        try emit(dirfd, name, st, prefix: "", path: path, writer: renamed, links: &links) { child, childPath, links in
            try walk(child, prefix: name + "/", path: childPath, writer: renamed, links: &links)
        }
    }

    /// Swaps the first path component (of names and hardlink targets).
    final class RenamingSink: TreeSink {
        let from: String, to: String, writer: TreeSink
        init(from: String, to: String, writer: TreeSink) { self.from = from; self.to = to; self.writer = writer }

        func rename(_ path: String) -> String {
            if path == from { return to }
            if path.hasPrefix(from + "/") { return to + path.dropFirst(from.count) }
            return path
        }

        func add(_ entry: TarEntry, source: Int32?) throws {
            var e = entry
            e.path = rename(e.path)
            if e.kind == .hardlink, let target = e.linkTarget { e.linkTarget = rename(target) }
            try writer.add(e, source: source)
        }
    }

    func walk(_ dirfd: Int32, prefix: String, path: String, writer: TreeSink, links: inout [UInt64: String]) throws {
        for name in try FileIO.listDirectory(fd: dirfd, path: path) {
            var st = stat()
            try sys("lstat", path + "/" + name) { fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) }
            try emit(dirfd, name, st, prefix: prefix, path: path, writer: writer, links: &links) { child, childPath, links in
                try walk(child, prefix: prefix + name + "/", path: childPath, writer: writer, links: &links)
            }
        }
    }

    /// Sends one entry (and, for a directory, what `descend` sends for its contents).
    func emit(_ dirfd: Int32, _ name: String, _ st: stat, prefix: String, path: String, writer: TreeSink,
              links: inout [UInt64: String], descend: (Int32, String, inout [UInt64: String]) throws -> Void) throws {
        let rel = prefix + name
        let fullPath = path + "/" + name
        let type = UInt32(st.st_mode) & 0o170000
        if mode == .overlayDiff && type == TarEntry.typeCharacter && st.st_rdev == 0 {
            return try writer.add(whiteout(prefix + TarEntry.whiteoutPrefix + name, st), source: nil)
        }
        guard var entry = try self.entry(dirfd, name, st, rel: rel, fullPath: fullPath) else { return }
        if entry.kind == .file {
            let key = UInt64(st.st_dev) << 40 ^ UInt64(st.st_ino)
            if st.st_nlink > 1, let first = links[key] {
                entry.kind = .hardlink
                entry.linkTarget = first
                entry.size = 0
                entry.xattrs = [:]
                return try writer.add(entry, source: nil)
            }
            if st.st_nlink > 1 { links[key] = rel }
            let fd = try sys("open", fullPath) { openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(fd) }
            return try writer.add(entry, source: fd)
        }
        try writer.add(entry, source: nil)
        guard entry.kind == .directory else { return }
        if mode == .overlayDiff && xattr(fullPath, "trusted.overlay.opaque") == [0x79] {
            try writer.add(whiteout(rel + "/" + TarEntry.opaqueWhiteout, st), source: nil)
        }
        let child = try sys("open", fullPath) { openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(child) }
        try descend(child, fullPath, &links)
    }

    /// The header for one file system object (sockets: nil, they do not travel in images).
    func entry(_ dirfd: Int32, _ name: String, _ st: stat, rel: String, fullPath: String) throws -> TarEntry? {
        var entry = TarEntry(path: rel, kind: .file, mode: UInt32(st.st_mode) & 0o7777)
        entry.uid = owners.toArchive(uid: st.st_uid)
        entry.gid = owners.toArchive(gid: st.st_gid)
        entry.mtime = st.st_mtim
        switch UInt32(st.st_mode) & 0o170000 {
        case TarEntry.typeDirectory: entry.kind = .directory
        case TarEntry.typeSymlink:
            entry.kind = .symlink
            entry.linkTarget = try readlink(dirfd, name, fullPath)
        case TarEntry.typeCharacter, TarEntry.typeBlock:
            entry.kind = UInt32(st.st_mode) & 0o170000 == TarEntry.typeCharacter ? .character : .block
            entry.deviceMajor = berth_major(UInt(st.st_rdev))
            entry.deviceMinor = berth_minor(UInt(st.st_rdev))
        case TarEntry.typeFIFO: entry.kind = .fifo
        case TarEntry.typeFile: entry.size = Int64(st.st_size)
        default: return nil
        }
        if entry.kind != .symlink { entry.xattrs = xattrs(fullPath) }
        return entry
    }

    /// The changes that turn `lower` into `upper`, as a layer: new and modified entries, and a
    /// whiteout for each removed one (the vfs driver's diff; overlay's upper dir is the diff itself).
    public func archiveChanges(from lower: String, to upper: String, writer: TreeSink) throws {
        let lfd = try sys("open", lower) { open(lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(lfd) }
        let ufd = try sys("open", upper) { open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(ufd) }
        var links: [UInt64: String] = [:]
        try compare(lfd, lower, ufd, upper, prefix: "", writer: writer, links: &links)
    }

    func compare(_ lfd: Int32, _ lpath: String, _ ufd: Int32, _ upath: String, prefix: String, writer: TreeSink,
                 links: inout [UInt64: String]) throws {
        let upperNames = try FileIO.listDirectory(fd: ufd, path: upath)
        let lowerNames = Set(try FileIO.listDirectory(fd: lfd, path: lpath))
        for name in Set(upperNames).union(lowerNames).sorted() {
            var ust = stat()
            guard fstatat(ufd, name, &ust, AT_SYMLINK_NOFOLLOW) == 0 else {
                var gone = stat()
                _ = fstatat(lfd, name, &gone, AT_SYMLINK_NOFOLLOW)
                try writer.add(whiteout(prefix + TarEntry.whiteoutPrefix + name, gone), source: nil)
                continue
            }
            var lst = stat()
            let inLower = lowerNames.contains(name) && fstatat(lfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0
            let bothDirectories = inLower && (ust.st_mode & S_IFMT) == S_IFDIR && (lst.st_mode & S_IFMT) == S_IFDIR
            if bothDirectories {
                if !sameMetadata(ust, lst, lfd, ufd, name), let e = try entry(ufd, name, ust, rel: prefix + name, fullPath: upath + "/" + name) {
                    try writer.add(e, source: nil)
                }
                let lc = try sys("open", lpath + "/" + name) { openat(lfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                defer { close(lc) }
                let uc = try sys("open", upath + "/" + name) { openat(ufd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                defer { close(uc) }
                try compare(lc, lpath + "/" + name, uc, upath + "/" + name, prefix: prefix + name + "/", writer: writer, links: &links)
                continue
            }
            if inLower && sameMetadata(ust, lst, lfd, ufd, name) { continue }
            try emit(ufd, name, ust, prefix: prefix, path: upath, writer: writer, links: &links) { child, childPath, links in
                try walk(child, prefix: prefix + name + "/", path: childPath, writer: writer, links: &links)
            }
        }
    }

    /// Docker's naive diff rule: same type, mode, owner, size, mtime (to the nanosecond), device
    /// and link target means unchanged.
    func sameMetadata(_ a: stat, _ b: stat, _ lfd: Int32, _ ufd: Int32, _ name: String) -> Bool {
        guard a.st_mode == b.st_mode, a.st_uid == b.st_uid, a.st_gid == b.st_gid, a.st_rdev == b.st_rdev,
              a.st_mtim.tv_sec == b.st_mtim.tv_sec, a.st_mtim.tv_nsec == b.st_mtim.tv_nsec else { return false }
        if (a.st_mode & S_IFMT) == S_IFDIR { return true }
        guard a.st_size == b.st_size else { return false }
        if (a.st_mode & S_IFMT) == S_IFLNK {
            return (try? readlink(ufd, name, name)) == (try? readlink(lfd, name, name))
        }
        return true
    }

    func whiteout(_ path: String, _ st: stat) -> TarEntry {
        var e = TarEntry(path: path, kind: .file, mode: 0)
        e.mtime = st.st_mtim
        return e
    }

    func readlink(_ dirfd: Int32, _ name: String, _ path: String) throws -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBytes { readlinkat(dirfd, name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard n >= 0 else { throw SystemError("readlink", path) }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// The xattrs an image carries: everything but overlayfs's own bookkeeping.
    func xattrs(_ path: String) -> [String: [UInt8]] {
        let size = berth_llistxattr(path, nil, 0)
        guard size > 0 else { return [:] }
        var list = [CChar](repeating: 0, count: Int(size))
        let n = berth_llistxattr(path, &list, UInt(size))
        guard n > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        for raw in list[..<Int(n)].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if name.hasPrefix("trusted.overlay.") { continue }
            if let value = xattr(path, name) { result[name] = value }
        }
        return result
    }

    func xattr(_ path: String, _ name: String) -> [UInt8]? {
        let size = berth_lgetxattr(path, name, nil, 0)
        guard size >= 0 else { return nil }
        var value = [UInt8](repeating: 0, count: Int(size))
        let n = berth_lgetxattr(path, name, &value, UInt(size))
        return n >= 0 ? Array(value[..<Int(n)]) : nil
    }
}
