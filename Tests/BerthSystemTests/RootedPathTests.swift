import Glibc
import Testing
@testable import BerthSystem

/// Paths inside a container root must never resolve outside it, whatever symlinks the image holds.
@Suite struct RootedPathTests {
    func withRoot(_ body: (String, RootedPath) throws -> Void) throws {
        let dir = try FileIO.makeTemporaryDirectory(prefix: "berth-rooted-")
        defer { _ = try? FileIO.removeTree(dir) }
        try body(dir, try RootedPath(root: dir))
    }

    @Test func symlinksResolveInsideTheRoot() throws {
        try withRoot { dir, root in
            #expect(symlink("/", dir + "/escape") == 0)
            #expect(symlink("../../../../etc", dir + "/up") == 0)
            #expect(mkdir(dir + "/etc", 0o755) == 0)
            let fd = try root.makeDirectories("/escape/made-inside")
            close(fd)
            #expect(FileIO.isDirectory(dir + "/made-inside"))
            let fd2 = try root.makeDirectories("/up/also-inside")
            close(fd2)
            #expect(FileIO.isDirectory(dir + "/etc/also-inside"))
            #expect(!FileIO.exists("/etc/also-inside"))
        }
    }

    @Test func joinAndSplit() throws {
        try withRoot { dir, root in
            #expect(root.join("/a/b") == dir + "/a/b")
            #expect(RootedPath.split("/dev/pts/0") == ("/dev/pts", "0"))
        }
    }
}
