import BerthArchive
import BerthSystem
import Glibc

/// Tar files written for tests, hostile ones included: the writer takes any name it is given.
public enum TarFixture {
    public struct Item {
        public var entry: TarEntry
        public var data: [UInt8]
        public init(entry: TarEntry, data: [UInt8] = []) { self.entry = entry; self.data = data }
    }

    public static func file(_ path: String, _ text: String, mode: UInt32 = 0o644) -> Item {
        Item(entry: TarEntry(path: path, kind: .file, mode: mode, size: Int64(text.utf8.count)), data: Array(text.utf8))
    }

    public static func dir(_ path: String, mode: UInt32 = 0o755) -> Item { Item(entry: TarEntry(path: path, kind: .directory, mode: mode)) }

    public static func link(_ path: String, to target: String, hard: Bool = false) -> Item {
        Item(entry: TarEntry(path: path, kind: hard ? .hardlink : .symlink, mode: 0o777, linkTarget: target))
    }

    /// Writes `items` to `path` and returns `path`.
    @discardableResult
    public static func write(_ items: [Item], to path: String, compression: TarWriter.Compression = .none) throws -> String {
        let fd = try sys("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        let writer = try TarWriter(fd: fd, compression: compression)
        for item in items {
            try writer.add(item.entry)
            try writer.write(item.data)
        }
        _ = try writer.finish()
        return path
    }

    /// Entries of the tar at `path`.
    public static func entries(_ path: String) throws -> [TarEntry] {
        let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        let reader = try TarReader(fd: fd)
        var out: [TarEntry] = []
        while let e = try reader.next() { out.append(e) }
        return out
    }
}
