import BerthArchive
import BerthContent
import BerthOCI
import BerthSnapshot
import BerthSystem
import BerthTestSupport
import Foundation
import Testing
@testable import BerthImage

/// Runs the real thing as root: overlay snapshots, busybox-static layers, skopeo for interop.
@Suite(.serialized) struct ImageStoreTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A gzip'd busybox rootfs tar, made once per run at one fixed path (renamed into place, so
    /// runs neither pile up copies nor see a half-written one).
    static let busyboxTar: String = {
        let dir = try! FileIO.makeTemporaryDirectory(in: "/var/tmp", prefix: "berth-busybox-")
        defer { try? FileIO.removeTree(dir) }
        try! run("/bin/sh", [repo + "/scripts/make-rootfs.sh", dir + "/rootfs"])
        try! run("/bin/tar", ["-C", dir + "/rootfs", "-czf", dir + "/rootfs.tar.gz", "."])
        let path = "/var/tmp/berth-test-busybox.tar.gz"
        guard Glibc.rename(dir + "/rootfs.tar.gz", path) == 0 else { fatalError("rename to \(path): \(errno)") }
        return path
    }()

    @discardableResult
    static func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw ImageError.invalid("\(tool) \(args.joined(separator: " ")) failed: \(text)") }
        return text
    }

    struct Env {
        let work: String
        let store: ImageStore
        var mounts: [String] = []

        func importBusybox(_ name: String? = "busybox:latest", changes: [String] = []) async throws -> ImageRecord {
            let fd = open(ImageStoreTests.busyboxTar, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            return try await ImageImporter(store: store).importTar(fd: fd, source: "-", reference: try name.map { try Reference(parsing: $0) },
                                                                   changes: changes, message: nil)
        }
    }

    func withEnv(_ body: (Env) async throws -> Void) async throws {
        let work = try FileIO.makeTemporaryDirectory(in: "/var/tmp", prefix: "berth-image-")
        defer {
            for point in Mounter.mountPoints(under: work) { try? Mounter.unmount(point, detach: true) }
            try? FileIO.removeTree(work)
        }
        let store = try ImageStore(root: work + "/data", snapshotter: try OverlaySnapshotter(root: work + "/data/overlay2"))
        try await body(Env(work: work, store: store))
    }

    @Test func importNamesAnImageAndUnpacksIt() async throws {
        try await withEnv { env in
            let record = try await env.importBusybox(changes: ["CMD [\"sh\"]", "ENV A=1 B=\"two words\"", "EXPOSE 80", "WORKDIR /srv",
                                                               "LABEL org.example=yes", "VOLUME /data", "USER 1000", "STOPSIGNAL SIGINT"])
            let config = try await env.store.config(record)
            #expect(config.config?.cmd == ["sh"])
            #expect(config.config?.env == ["A=1", "B=two words"])
            #expect(config.config?.exposedPorts?.keys.sorted() == ["80/tcp"])
            #expect(config.config?.workingDir == "/srv" && config.config?.user == "1000" && config.config?.stopSignal == "SIGINT")
            #expect(config.history?.first?.comment == "Imported from -")
            #expect(config.architecture == Platform.current.architecture)
            // The stored layer is the uncompressed tar: its digest is the diffID.
            let manifest = try await env.store.manifest(record)
            #expect(manifest.layers.first?.digest == config.rootfs.diffIDs.first)
            #expect(try await env.store.resolve("busybox").id == record.id)
            #expect(try await env.store.resolve("docker.io/library/busybox:latest").id == record.id)
            #expect(try await env.store.resolve(record.id.shortID).id == record.id)
            #expect(try await env.store.resolve(record.id.description).id == record.id)
            await #expect(throws: ImageError.notFound("nope")) { try await env.store.resolve("nope") }

            let chain = try #require(try await env.store.topChain(record))
            let target = env.work + "/rootfs"
            mkdir(target, 0o755)
            try env.store.snapshotter.prepare(key: "c1", parent: chain).mount(at: target)
            #expect(FileIO.exists(target + "/bin/busybox"))
            try Mounter.unmount(target)
            try env.store.snapshotter.remove(key: "c1")
        }
    }

    @Test func badChangesAndBadTarsAreRefused() async throws {
        try await withEnv { env in
            await #expect(throws: ImageError.invalid("run is not a valid change command")) {
                _ = try await env.importBusybox(changes: ["RUN echo"])
            }
            let junk = env.work + "/junk"
            try FileIO.write(junk, String(repeating: "garbage!", count: 400), flags: O_WRONLY | O_CREAT)
            let fd = open(junk, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            await #expect { _ = try await ImageImporter(store: env.store).importTar(fd: fd, source: "-", reference: nil, changes: [], message: nil) }
                throws: { "\($0)".hasPrefix("invalid tar archive") }
            #expect(await env.store.records().isEmpty)
        }
    }

    @Test func rmiUntagsThenDeletesAndRespectsContainers() async throws {
        try await withEnv { env in
            let record = try await env.importBusybox()
            try await env.store.tag("busybox", as: "localhost:5000/mine:v1")
            #expect(try await env.store.remove("busybox", force: false, users: []) == [.untagged("busybox:latest")])
            let user = ImageStore.User(containerID: "0123456789abcdef", running: false)
            await #expect(throws: ImageError.conflict("conflict: unable to remove repository reference \"localhost:5000/mine:v1\" (must force) - container 0123456789ab is using its referenced image \(record.id.shortID)")) {
                _ = try await env.store.remove("localhost:5000/mine:v1", force: false, users: [user])
            }
            await #expect(throws: ImageError.conflict("conflict: unable to delete \(record.id.shortID) (cannot be forced) - image is being used by running container 0123456789ab")) {
                _ = try await env.store.remove(record.id.shortID, force: true, users: [.init(containerID: "0123456789abcdef", running: true)])
            }
            let actions = try await env.store.remove(record.id.shortID, force: false, users: [])
            #expect(actions.first == .untagged("localhost:5000/mine:v1"))
            #expect(actions.contains(.deleted(record.id)))
            #expect(env.store.snapshotter.list().isEmpty)
            #expect(env.store.content.list().isEmpty)
        }
    }

    @Test func saveThenLoadKeepsTheImageID() async throws {
        try await withEnv { env in
            let record = try await env.importBusybox()
            try await env.store.tag("busybox", as: "busybox:second")
            let tarPath = env.work + "/saved.tar"
            let fd = open(tarPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            // a repository name saves every tag of it (moby's parseNames); an ID saves none
            try await ImageSaver(store: env.store).save(["busybox"], to: fd)
            close(fd)
            let byID = open(env.work + "/by-id.tar", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            try await ImageSaver(store: env.store).save([record.id.description], to: byID)
            close(byID)
            let untagged = try ImageStore(root: env.work + "/untagged", snapshotter: try OverlaySnapshotter(root: env.work + "/untagged/overlay2"))
            let ufd = open(env.work + "/by-id.tar", O_RDONLY | O_CLOEXEC)
            defer { close(ufd) }
            #expect(try await ImageLoader(store: untagged).load(fd: ufd).map(\.description) == ["Loaded image ID: \(record.id)"])

            let other = try ImageStore(root: env.work + "/other", snapshotter: try OverlaySnapshotter(root: env.work + "/other/overlay2"))
            let rfd = open(tarPath, O_RDONLY | O_CLOEXEC)
            defer { close(rfd) }
            let loaded = try await ImageLoader(store: other).load(fd: rfd)
            #expect(Set(loaded.map(\.description)) == ["Loaded image: busybox:latest", "Loaded image: busybox:second"])
            #expect(try await other.resolve("busybox:second").id == record.id)

            // What we write validates against the OCI image-spec schemas.
            if FileManager.default.fileExists(atPath: "/usr/share/gocode/src/github.com/opencontainers/image-spec/schema") {
                try ImageStoreTests.run("/usr/bin/env", ["python3", ImageStoreTests.repo + "/scripts/validate-oci.py", tarPath])
            }

            // skopeo reads our save, and what skopeo writes (docker-archive and oci-archive) loads back.
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/skopeo") else { return }
            let inspect = try ImageStoreTests.run("/usr/bin/skopeo", ["inspect", "--raw", "--config", "docker-archive:\(tarPath):busybox:latest"])
            #expect(inspect.contains("\"diff_ids\""))
            for (transport, file) in [("oci-archive", env.work + "/skopeo-oci.tar"), ("docker-archive", env.work + "/skopeo-docker.tar")] {
                try ImageStoreTests.run("/usr/bin/skopeo", ["copy", "-q", "docker-archive:\(tarPath):busybox:latest", "\(transport):\(file):copied:v1"])
                let third = try ImageStore(root: env.work + "/third-\(transport)", snapshotter: try OverlaySnapshotter(root: env.work + "/third-\(transport)/overlay2"))
                let tfd = open(file, O_RDONLY | O_CLOEXEC)
                defer { close(tfd) }
                let result = try await ImageLoader(store: third).load(fd: tfd)
                #expect(result.map(\.description) == ["Loaded image: copied:v1"], "\(transport)")
                // skopeo rewrites the config when it converts to OCI (so the ID changes); the layers must not.
                let copied = try await third.resolve("copied:v1")
                if transport == "docker-archive" { #expect(copied.id == record.id) }
                #expect(try await third.config(copied).rootfs.diffIDs == (try await env.store.config(record)).rootfs.diffIDs, "\(transport)")
            }
        }
    }

    @Test func hostileArchivesAreRefusedAndLeaveNothing() async throws {
        try await withEnv { env in
            func tarOf(_ files: [(String, String)]) throws -> Int32 {
                let path = try TarFixture.write(files.map { TarFixture.file($0.0, $0.1) }, to: env.work + "/hostile.tar")
                return open(path, O_RDONLY | O_CLOEXEC)
            }
            let loader = ImageLoader(store: env.store)
            let cases: [([(String, String)], String)] = [
                ([("hello", "x")], "neither manifest.json nor index.json"),
                ([("manifest.json", "[{\"Config\":\"missing.json\",\"Layers\":[]}]")], "missing.json is listed but not in the archive"),
                ([("blobs/sha256/" + String(repeating: "0", count: 64), "not that")], "does not match its digest"),
                ([("manifest.json", "{oops")], "manifest.json"),
                ([("../escape", "x")], "escapes the extraction root"),
            ]
            for (files, message) in cases {
                let fd = try tarOf(files)
                defer { close(fd) }
                await #expect { _ = try await loader.load(fd: fd) } throws: { "\($0)".contains(message) }
            }
            #expect(await env.store.records().isEmpty)
            _ = try await env.store.repair()
            #expect(env.store.content.list().isEmpty)
        }
    }

    @Test func pruneAndRepairClearWhatNothingUses() async throws {
        try await withEnv { env in
            let record = try await env.importBusybox(nil)
            let (deleted, reclaimed) = try await env.store.prune(all: false, inUse: [])
            #expect(deleted.contains(.deleted(record.id)))
            #expect(reclaimed > 1_000_000)
            // What a crash mid-unpack leaves: an extract snapshot and a blob no image names.
            _ = try env.store.snapshotter.prepare(key: "extract-1-abc", parent: nil)
            try env.store.content.put(Array("orphan".utf8))
            let notes = try await env.store.repair()
            #expect(notes.contains { $0.contains("interrupted unpack") })
            #expect(env.store.snapshotter.list().isEmpty && env.store.content.list().isEmpty)
        }
    }
}
