import BerthSystem
import CBerthLinux
import Glibc

/// Writes a directory tree into a tar, in sorted order so the same tree always gives the same
/// bytes (and so the same diffID). Serves `export` (a merged rootfs, taken as it is) and layer
/// diffs (an overlay upper dir, whose 0/0 devices and opaque xattrs become OCI whiteouts).
public struct TreeArchiver {
    public enum Mode: Sendable {
        case plain
        case overlayDiff
    }

    public let mode: Mode

    public init(mode: Mode) { self.mode = mode }

    public func archive(_ directory: String, to writer: TarWriter) throws {
        let fd = try sys("open", directory) { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        var links: [UInt64: String] = [:]
        try walk(fd, prefix: "", path: directory, writer: writer, links: &links)
    }

    func walk(_ dirfd: Int32, prefix: String, path: String, writer: TarWriter, links: inout [UInt64: String]) throws {
        for name in try FileIO.listDirectory(fd: dirfd, path: path) {
            let rel = prefix + name
            var st = stat()
            try sys("lstat", path + "/" + name) { fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) }
            let type = UInt32(st.st_mode) & 0o170000
            if mode == .overlayDiff && type == TarEntry.typeCharacter && st.st_rdev == 0 {
                try writer.add(whiteout(prefix + TarEntry.whiteoutPrefix + name, st))
                continue
            }
            var entry = TarEntry(path: rel, kind: .file, mode: UInt32(st.st_mode) & 0o7777)
            entry.uid = st.st_uid
            entry.gid = st.st_gid
            entry.mtime = st.st_mtim
            let fullPath = path + "/" + name
            switch type {
            case TarEntry.typeDirectory: entry.kind = .directory
            case TarEntry.typeSymlink:
                entry.kind = .symlink
                entry.linkTarget = try readlink(dirfd, name, fullPath)
            case TarEntry.typeCharacter, TarEntry.typeBlock:
                entry.kind = type == TarEntry.typeCharacter ? .character : .block
                entry.deviceMajor = berth_major(UInt(st.st_rdev))
                entry.deviceMinor = berth_minor(UInt(st.st_rdev))
            case TarEntry.typeFIFO: entry.kind = .fifo
            case TarEntry.typeFile:
                let key = UInt64(st.st_dev) << 40 ^ UInt64(st.st_ino)
                if st.st_nlink > 1, let first = links[key] {
                    entry.kind = .hardlink
                    entry.linkTarget = first
                } else {
                    if st.st_nlink > 1 { links[key] = rel }
                    entry.size = Int64(st.st_size)
                }
            default: continue  // sockets do not travel in images
            }
            let opaque = entry.kind == .directory && mode == .overlayDiff && xattr(fullPath, "trusted.overlay.opaque") == [0x79]
            if entry.kind != .hardlink { entry.xattrs = xattrs(fullPath) }
            try writer.add(entry)
            switch entry.kind {
            case .file:
                let fd = try sys("open", fullPath) { openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
                defer { close(fd) }
                try writer.copy(from: fd, size: entry.size, path: fullPath)
            case .directory:
                if opaque { try writer.add(whiteout(rel + "/" + TarEntry.opaqueWhiteout, st)) }
                let child = try sys("open", fullPath) { openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                defer { close(child) }
                try walk(child, prefix: rel + "/", path: fullPath, writer: writer, links: &links)
            default: break
            }
        }
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
