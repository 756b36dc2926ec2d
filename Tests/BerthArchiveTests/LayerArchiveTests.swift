import BerthSystem
import BerthTestSupport
import CBerthLinux
import Glibc
import Testing
@testable import BerthArchive
import BerthContent

/// Round trips and hostile input. Runs as root (chown, mknod and trusted.* xattrs need it).
@Suite(.serialized) struct LayerArchiveTests {
    typealias Item = TarFixture.Item
    static func file(_ path: String, _ text: String, mode: UInt32 = 0o644) -> Item { TarFixture.file(path, text, mode: mode) }
    static func dir(_ path: String, mode: UInt32 = 0o755) -> Item { TarFixture.dir(path, mode: mode) }
    static func link(_ path: String, to target: String, hard: Bool = false) -> Item { TarFixture.link(path, to: target, hard: hard) }

    func tar(_ items: [Item], in dir: String, compression: TarWriter.Compression = .none) throws -> String {
        try TarFixture.write(items, to: dir + "/layer.tar", compression: compression)
    }

    func extract(_ tarPath: String, into root: String, whiteouts: LayerExtractor.Whiteouts = .overlay) throws {
        let fd = open(tarPath, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        try LayerExtractor(root: root, whiteouts: whiteouts).extract(try TarReader(fd: fd))
    }

    /// Archives `root` with TreeArchiver and reads the entries back.
    func archiveTree(_ root: String, mode: TreeArchiver.Mode, in work: String) throws -> [TarEntry] {
        let path = work + "/tree.tar"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let writer = try TarWriter(fd: fd)
        try TreeArchiver(mode: mode).archive(root, to: writer)
        _ = try writer.finish()
        close(fd)
        return try TarFixture.entries(path)
    }

    func withDirs(_ body: (_ work: String, _ root: String) throws -> Void) throws {
        let work = try FileIO.makeTemporaryDirectory(prefix: "berth-archive-")
        defer { try? FileIO.removeTree(work) }
        let root = work + "/root"
        mkdir(root, 0o755)
        try body(work, root)
    }

    func lstatOf(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    @Test(arguments: [TarWriter.Compression.none, .gzip])
    func metadataSurvivesARoundTrip(compression: TarWriter.Compression) throws {
        try withDirs { work, root in
            var suid = Self.file("bin/tool", "#!/bin/sh\n", mode: 0o4755)
            suid.entry.uid = 1000; suid.entry.gid = 1000
            suid.entry.mtime = timespec(tv_sec: 1_600_000_000, tv_nsec: 0)
            suid.entry.xattrs = ["user.note": Array("hi".utf8)]
            var dev = Item(entry: TarEntry(path: "dev/null", kind: .character, mode: 0o666))
            dev.entry.deviceMajor = 1; dev.entry.deviceMinor = 3
            var d = Self.dir("bin")
            d.entry.mtime = timespec(tv_sec: 1_500_000_000, tv_nsec: 0)
            let items = [d, suid, Self.link("bin/sh", to: "tool"), Self.link("bin/hard", to: "bin/tool", hard: true), Self.dir("dev"), dev]
            try extract(try tar(items, in: work, compression: compression), into: root)

            let tool = try #require(lstatOf(root + "/bin/tool"))
            #expect(tool.st_mode & 0o7777 == 0o4755)
            #expect(tool.st_uid == 1000 && tool.st_gid == 1000)
            #expect(tool.st_mtim.tv_sec == 1_600_000_000)
            #expect(tool.st_nlink == 2)
            #expect(lstatOf(root + "/bin")?.st_mtim.tv_sec == 1_500_000_000)
            #expect(TreeArchiver(mode: .plain).xattr(root + "/bin/tool", "user.note") == Array("hi".utf8))
            #expect(try FileIO.readString(root + "/bin/sh") == "#!/bin/sh\n")
            let null = try #require(lstatOf(root + "/dev/null"))
            #expect(berth_major(UInt(null.st_rdev)) == 1 && berth_minor(UInt(null.st_rdev)) == 3)

            // And back: the tree archived again reads as the same entries.
            var seen: [String: TarEntry] = [:]
            for e in try archiveTree(root, mode: .plain, in: work) { seen[e.path.hasSuffix("/") ? String(e.path.dropLast()) : e.path] = e }
            // Sorted order meets bin/hard first: it carries the data, bin/tool links to it.
            #expect(seen["bin/hard"]?.mode == 0o4755)
            #expect(seen["bin/hard"]?.xattrs["user.note"] == Array("hi".utf8))
            #expect(seen["bin/tool"]?.kind == .hardlink && seen["bin/tool"]?.linkTarget == "bin/hard")
            #expect(seen["bin/sh"]?.linkTarget == "tool")
            #expect(seen["dev/null"]?.deviceMinor == 3)
        }
    }

    @Test func dotDotIsRefused() throws {
        try withDirs { work, root in
            let path = try tar([Self.file("../escaped", "x")], in: work)
            #expect(throws: ArchiveError.escapes("../escaped")) { try extract(path, into: root) }
            #expect(!FileIO.exists(work + "/escaped"))
        }
    }

    @Test func absoluteNamesLandInsideTheRoot() throws {
        try withDirs { work, root in
            try extract(try tar([Self.file("/etc/berth-abs-probe", "x")], in: work), into: root)
            #expect(FileIO.exists(root + "/etc/berth-abs-probe"))
            #expect(!FileIO.exists("/etc/berth-abs-probe"))
        }
    }

    @Test func symlinkThenFileStaysInside() throws {
        try withDirs { work, root in
            let outside = work + "/outside"
            mkdir(outside, 0o755)
            // The absolute symlink resolves inside the root, where its target does not exist: refused.
            #expect(throws: (any Error).self) {
                try extract(try tar([Self.link("escape", to: outside), Self.file("escape/planted", "x")], in: work), into: root)
            }
            #expect(!FileIO.exists(outside + "/planted"))
            // `..` in a symlink's target stops at the root.
            try extract(try tar([Self.link("up", to: "../../../../.."), Self.file("up/tmp/planted2", "y")], in: work), into: root)
            #expect(FileIO.exists(root + "/tmp/planted2"))
            #expect(!FileIO.exists("/tmp/planted2"))
        }
    }

    @Test func aFileReplacesASymlinkInsteadOfWritingThroughIt() throws {
        try withDirs { work, root in
            let victim = work + "/victim"
            try FileIO.write(victim, "original", flags: O_WRONLY | O_CREAT)
            try extract(try tar([Self.link("f", to: victim), Self.file("f", "overwritten?")], in: work), into: root)
            #expect(try FileIO.readString(victim) == "original")
            #expect(try FileIO.readString(root + "/f") == "overwritten?")
        }
    }

    @Test func hardlinksCannotReachHostFiles() throws {
        try withDirs { work, root in
            let path = try tar([Self.link("shadow", to: "/etc/passwd", hard: true)], in: work)
            #expect(throws: (any Error).self) { try extract(path, into: root) }  // no /etc/passwd inside the root
            mkdir(root + "/etc", 0o755)
            try FileIO.write(root + "/etc/passwd", "inside", flags: O_WRONLY | O_CREAT)
            try extract(path, into: root)
            #expect(lstatOf(root + "/shadow")?.st_ino == lstatOf(root + "/etc/passwd")?.st_ino)
            #expect(lstatOf(root + "/shadow")?.st_ino != lstatOf("/etc/passwd")?.st_ino)
        }
    }

    @Test func whiteoutsBecomeOverlayWhiteoutsAndBack() throws {
        try withDirs { work, root in
            let items = [Self.dir("a"), Self.file("a/.wh.gone", ""), Self.dir("b"), Self.file("b/.wh..wh..opq", ""), Self.file("b/kept", "k")]
            try extract(try tar(items, in: work), into: root)
            let gone = try #require(lstatOf(root + "/a/gone"))
            #expect(UInt32(gone.st_mode) & 0o170000 == TarEntry.typeCharacter && gone.st_rdev == 0)
            #expect(TreeArchiver(mode: .plain).xattr(root + "/b", "trusted.overlay.opaque") == [0x79])

            let names = try archiveTree(root, mode: .overlayDiff, in: work).map(\.path)
            #expect(names == ["a/", "a/.wh.gone", "b/", "b/.wh..wh..opq", "b/kept"])
        }
    }

    @Test func whiteoutsApplyToAFlattenedTree() throws {
        try withDirs { work, root in
            try extract(try tar([Self.dir("a"), Self.file("a/gone", "1"), Self.dir("b"), Self.file("b/old", "2")], in: work), into: root, whiteouts: .apply)
            try extract(try tar([Self.file("a/.wh.gone", ""), Self.dir("b"), Self.file("b/new", "3"), Self.file("b/.wh..wh..opq", "")], in: work),
                        into: root, whiteouts: .apply)
            #expect(!FileIO.exists(root + "/a/gone"))
            #expect(!FileIO.exists(root + "/b/old"))
            #expect(FileIO.exists(root + "/b/new"))
        }
    }

    @Test func whiteoutNamesCannotEscapeEither() throws {
        try withDirs { work, root in
            #expect(throws: ArchiveError.self) { try extract(try tar([Self.file("a/.wh...", "")], in: work), into: root) }
        }
    }

    @Test func garbageIsAClearError() throws {
        try withDirs { work, _ in
            let path = work + "/junk.tar"
            try FileIO.write(path, String(repeating: "not a tar ", count: 200), flags: O_WRONLY | O_CREAT)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            #expect { let r = try TarReader(fd: fd); _ = try r.next() } throws: { "\($0)".hasPrefix("invalid tar archive") }
        }
    }

    @Test func diffIDIsTheDigestOfTheUncompressedTar() throws {
        try withDirs { work, _ in
            let plain = try tar([Self.file("x", "hello")], in: work)
            let plainDigest = try FileIO.read(plain)
            let gz = work + "/gz"
            mkdir(gz, 0o755)
            let compressed = try tar([Self.file("x", "hello")], in: gz, compression: .gzip)
            let fd = open(compressed, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            let stream = try DecompressedStream(fd: fd)
            #expect(try stream.finish() == SHA256.digest(plainDigest))
        }
    }

    /// The whole decompressed stream of `bytes` (under a pipe's 64 KiB), read through a pipe
    /// as a pull feeds it.
    func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        try FileIO.writeAll(fds[1], bytes, path: "pipe")
        close(fds[1])
        let stream = try DecompressedStream(fd: fds[0])
        var out: [UInt8] = []
        while let block = try stream.nextBlock() { out += block }
        return out
    }

    func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try Gzip.compress(bytes) { out += $0 }
        return out
    }

    @Test func gzipMembersAreReadInTurnAndTrailingBytesIgnored() throws {
        #expect(GzipInflater.Library.shared != nil, "libisal.so.2 is installed (make deps): gzip goes through ISA-L")
        let first = Array(String(repeating: "layer text ", count: 50_000).utf8), second = Array("and more".utf8)
        #expect(try decompress(try gzip(first) + gzip(second)) == first + second)
        #expect(try decompress(try gzip(first) + [0, 0, 0, 0]) == first)
        #expect(try decompress(try gzip([])) == [])
        #expect(try decompress([]) == [])
        #expect(try decompress(Array("plain".utf8)) == Array("plain".utf8))
    }

    @Test func aDamagedGzipIsAClearError() throws {
        let good = try gzip(Array(String(repeating: "0123456789", count: 10_000).utf8))
        var crc = good
        crc[crc.count - 6] ^= 0xff
        #expect { _ = try decompress(crc) } throws: { "\($0)".contains("checksum mismatch") }
        #expect { _ = try decompress(Array(good.dropLast(20))) } throws: { "\($0)".contains("ends inside a member") }
        var body = good
        for i in 20..<60 { body[i] = 0xff }
        #expect(throws: ArchiveError.self) { _ = try decompress(body) }
    }
}
