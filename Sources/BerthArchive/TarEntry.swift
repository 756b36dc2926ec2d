import Glibc

/// One tar header, as Berth reads and writes it.
public struct TarEntry: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case file, directory, symlink, hardlink, character, block, fifo }

    /// Relative, `/`-separated, no leading `./` or `/`.
    public var path: String
    public var kind: Kind
    /// Permission bits including setuid/setgid/sticky (no type bits).
    public var mode: UInt32
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var size: Int64 = 0
    public var mtime: timespec = timespec(tv_sec: 0, tv_nsec: 0)
    /// Symlink target, or the path a hardlink points at.
    public var linkTarget: String?
    public var deviceMajor: UInt32 = 0
    public var deviceMinor: UInt32 = 0
    public var xattrs: [String: [UInt8]] = [:]

    public init(path: String, kind: Kind, mode: UInt32, size: Int64 = 0, linkTarget: String? = nil) {
        self.path = path; self.kind = kind; self.mode = mode; self.size = size; self.linkTarget = linkTarget
    }

    public static func == (a: TarEntry, b: TarEntry) -> Bool {
        a.path == b.path && a.kind == b.kind && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.size == b.size
            && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec && a.linkTarget == b.linkTarget
            && a.deviceMajor == b.deviceMajor && a.deviceMinor == b.deviceMinor && a.xattrs == b.xattrs
    }

    /// st_mode file types (Glibc's S_IF* import ambiguously).
    static let typeFile: UInt32 = 0o100000, typeDirectory: UInt32 = 0o040000, typeSymlink: UInt32 = 0o120000
    static let typeCharacter: UInt32 = 0o020000, typeBlock: UInt32 = 0o060000, typeFIFO: UInt32 = 0o010000

    /// OCI whiteout prefix (image-spec layer.md "Whiteouts").
    public static let whiteoutPrefix = ".wh."
    public static let opaqueWhiteout = ".wh..wh..opq"

    /// Strips `./` and `/` prefixes and refuses `..` components: names are relative to the root.
    public static func clean(_ raw: String) throws -> String {
        var parts: [Substring] = []
        for part in raw.split(separator: "/") where part != "." {
            if part == ".." { throw ArchiveError.escapes(raw) }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }
}
