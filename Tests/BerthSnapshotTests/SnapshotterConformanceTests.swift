import BerthArchive
import BerthSystem
import BerthTestSupport
import CBerthLinux
import Glibc
import Testing
@testable import BerthSnapshot

/// One suite, every driver. Root, real mounts; each test unmounts and removes what it made.
@Suite(.serialized) struct SnapshotterConformanceTests {
    enum Driver: String, CaseIterable, CustomStringConvertible {
        case overlay2, vfs
        var description: String { rawValue }
        func make(_ root: String) throws -> any Snapshotter {
            self == .overlay2 ? try OverlaySnapshotter(root: root) : try VFSSnapshotter(root: root)
        }
    }

    struct Fixture {
        let work: String
        let snapshotter: any Snapshotter
        var mounted: [String] = []

        /// Unpacks a layer made of `files` (path → content; "" content with a `.wh.` name is a whiteout).
        func layer(_ key: String, parent: String?, files: [(String, String)]) throws {
            _ = try snapshotter.prepare(key: "extract-" + key, parent: parent)
            let (dir, whiteouts) = try snapshotter.applyTarget(key: "extract-" + key)
            let tarPath = try TarFixture.write(files.map { TarFixture.file($0.0, $0.1) }, to: work + "/layer.tar")
            let rfd = open(tarPath, O_RDONLY | O_CLOEXEC)
            defer { close(rfd) }
            try LayerExtractor(root: dir, whiteouts: whiteouts).extract(try TarReader(fd: rfd))
            try snapshotter.commit(key: "extract-" + key, as: key)
        }

        mutating func mount(_ plan: MountPlan, name: String) throws -> String {
            let target = work + "/mnt-" + name
            mkdir(target, 0o755)
            try plan.mount(at: target)
            mounted.append(target)
            return target
        }

        func cleanup() {
            for target in mounted.reversed() { try? Mounter.unmount(target, detach: true) }
        }
    }

    func with(_ driver: Driver, _ body: (inout Fixture) throws -> Void) throws {
        let work = try FileIO.makeTemporaryDirectory(in: "/var/tmp", prefix: "berth-snap-")
        var fixture = Fixture(work: work, snapshotter: try driver.make(work + "/store"))
        defer {
            fixture.cleanup()
            try? FileIO.removeTree(work)
        }
        try body(&fixture)
    }

    /// The snapshots' root carries ext4's top-directory flag, so each new snapshot is placed in a
    /// block group of its own (see `SnapshotDirectory`); checked where the tests' root is ext4.
    @Test(arguments: Driver.allCases)
    func theRootIsMarkedAsATopDirectory(driver: Driver) throws {
        try with(driver) { f in
            guard berth_statfs_type(f.work) == 0xEF53 else { return }
            let (status, output) = try Subprocess.run("/usr/bin/lsattr", ["-d", f.work + "/store"])
            #expect(status == 0 && output.split(separator: " ").first?.contains("T") == true, "\(output)")
        }
    }

    /// What inspect shows as `GraphDriver.Data`: a container's writes land in its `UpperDir`,
    /// over its parents' directories in `LowerDir`, top first.
    @Test func overlayNamesTheDirectoriesAContainerWritesToAndReads() throws {
        try with(.overlay2) { f in
            try f.layer("sha256:l1", parent: nil, files: [("a", "1")])
            try f.layer("sha256:l2", parent: "sha256:l1", files: [("b", "2")])
            let target = try f.mount(try f.snapshotter.prepare(key: "c", parent: "sha256:l2"), name: "c")
            try AtomicFile.write(target + "/new", Array("x".utf8), durable: false)
            let data = f.snapshotter.driverData(key: "c")
            #expect(FileIO.exists(try #require(data["UpperDir"]) + "/new") && data["WorkDir"] != nil)
            let lowers = try #require(data["LowerDir"]).split(separator: ":").map(String.init)
            #expect(lowers.count == 2 && FileIO.exists(lowers[0] + "/b") && FileIO.exists(lowers[1] + "/a"))
            #expect(f.snapshotter.driverData(key: "sha256:l1").keys.sorted() == ["UpperDir"])
        }
        try with(.vfs) { f in
            try f.layer("sha256:l1", parent: nil, files: [("a", "1")])
            #expect(f.snapshotter.driverData(key: "sha256:l1").isEmpty)
        }
    }

    @Test(arguments: Driver.allCases)
    func layersStackAndAContainerWritesOnTop(driver: Driver) throws {
        try with(driver) { f in
            try f.layer("sha256:l1", parent: nil, files: [("etc/os", "one"), ("etc/gone", "x"), ("bin/tool", "t")])
            try f.layer("sha256:l2", parent: "sha256:l1", files: [("etc/os", "two"), ("etc/.wh.gone", "")])
            let root = try f.mount(try f.snapshotter.prepare(key: "container", parent: "sha256:l2"), name: "c")
            #expect(try FileIO.readString(root + "/etc/os") == "two")
            #expect(!FileIO.exists(root + "/etc/gone"))
            #expect(try FileIO.readString(root + "/bin/tool") == "t")

            try FileIO.write(root + "/new", "n", flags: O_WRONLY | O_CREAT)
            #expect(unlink(root + "/bin/tool") == 0)
            let diffPath = f.work + "/diff.tar"
            let fd = open(diffPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            let writer = try TarWriter(fd: fd)
            try f.snapshotter.diff(key: "container", to: writer)
            _ = try writer.finish()
            close(fd)
            let names = try TarFixture.entries(diffPath).map(\.path)
            #expect(names.contains("bin/.wh.tool"))
            #expect(names.contains("new"))
            #expect(!names.contains("etc/os"))  // unchanged files are not in the diff

            // Layers are shared: the image below is untouched by the container's writes.
            let view = try f.mount(try f.snapshotter.view(key: "view", parent: "sha256:l2"), name: "v")
            #expect(FileIO.exists(view + "/bin/tool"))
            #expect(!FileIO.exists(view + "/new"))
            #expect(open(view + "/x", O_WRONLY | O_CREAT, 0o644) == -1 && errno == EROFS)
        }
    }

    @Test(arguments: Driver.allCases)
    func removalRespectsChildrenAndKinds(driver: Driver) throws {
        try with(driver) { f in
            try f.layer("sha256:base", parent: nil, files: [("a", "1")])
            _ = try f.snapshotter.prepare(key: "c1", parent: "sha256:base")
            #expect(throws: SnapshotError.hasChildren("sha256:base")) { try f.snapshotter.remove(key: "sha256:base") }
            #expect(throws: SnapshotError.exists("c1")) { try f.snapshotter.prepare(key: "c1", parent: "sha256:base") }
            #expect(throws: SnapshotError.notFound("nope")) { try f.snapshotter.prepare(key: "c2", parent: "nope") }
            #expect(throws: SnapshotError.notActive("sha256:base")) { try f.snapshotter.applyTarget(key: "sha256:base") }
            try f.snapshotter.removeLeaf(key: "c1")  // the caller's word that nothing is on it
            #expect(f.snapshotter.info(key: "c1") == nil)
            try f.snapshotter.remove(key: "sha256:base")
            #expect(f.snapshotter.list().isEmpty)
        }
    }

    @Test(arguments: Driver.allCases)
    func moreThanAHundredLayersStillMount(driver: Driver) throws {
        try with(driver) { f in
            var parent: String?
            for i in 0..<120 {
                let key = "sha256:layer\(i)"
                try f.layer(key, parent: parent, files: [("layers/\(i)", String(i))])
                parent = key
            }
            let root = try f.mount(try f.snapshotter.prepare(key: "tall", parent: parent), name: "tall")
            #expect(try FileIO.listDirectory(root + "/layers").count == 120)
        }
    }

    @Test(arguments: Driver.allCases)
    func aCrashMidCreateLeavesNothingVisible(driver: Driver) throws {
        let work = try FileIO.makeTemporaryDirectory(in: "/var/tmp", prefix: "berth-snap-")
        defer { try? FileIO.removeTree(work) }
        _ = try driver.make(work + "/store")
        mkdir(work + "/store/staging-abc123", 0o700)  // as a killed prepare would leave it
        let reopened = try driver.make(work + "/store")
        #expect(reopened.list().isEmpty)
        #expect(!FileIO.exists(work + "/store/staging-abc123"))
    }

    /// A kill between a commit's info write and its rename (seen after `kill -9` during `run`):
    /// the next open finishes the commit, so the snapshot can be found and removed.
    @Test(arguments: Driver.allCases)
    func aCommitCutBeforeItsRenameIsFinishedAtOpen(driver: Driver) throws {
        let work = try FileIO.makeTemporaryDirectory(in: "/var/tmp", prefix: "berth-snap-")
        defer { try? FileIO.removeTree(work) }
        let store = try driver.make(work + "/store")
        _ = try store.prepare(key: "c-init-active", parent: nil)
        let directory = try SnapshotDirectory(root: work + "/store")
        try directory.write(SnapshotInfo(key: "c-init", parent: nil, kind: .committed), in: directory.path("c-init-active"))
        let reopened = try driver.make(work + "/store")
        #expect(reopened.list().map(\.key) == ["c-init"])
        #expect(reopened.info(key: "c-init")?.kind == .committed)
        try reopened.remove(key: "c-init")
        #expect(reopened.list().isEmpty)
    }
}
