import BerthOCI
import BerthSystem
import Glibc

public enum ContentError: Error, CustomStringConvertible, Equatable {
    case notFound(Digest)
    case digestMismatch(expected: Digest, actual: Digest)
    case sizeMismatch(expected: Int64, actual: Int64)
    case locked(String)

    public var description: String {
        switch self {
        case .notFound(let d): return "content \(d): not found"
        case .digestMismatch(let e, let a): return "digest mismatch: expected \(e), got \(a)"
        case .sizeMismatch(let e, let a): return "size mismatch: expected \(e) bytes, got \(a)"
        case .locked(let ref): return "ingest \(ref) is in use by another writer"
        }
    }
}

/// Immutable, content-addressed blobs under `<root>/blobs/sha256/<hex>` (containerd's layout).
///
/// A blob appears only when its ingest commits with a verified digest, by rename, so a reader never
/// sees a partial blob and a crash leaves at most an ingest directory, which a later writer with
/// the same ref resumes from where it stopped.
public struct ContentStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileIO.makeDirectories(root + "/blobs/sha256", mode: 0o700)
        try FileIO.makeDirectories(root + "/ingest", mode: 0o700)
    }

    public func path(_ digest: Digest) -> String { "\(root)/blobs/\(digest.algorithm)/\(digest.hex)" }

    public func exists(_ digest: Digest) -> Bool { FileIO.exists(path(digest)) }

    /// Size in bytes, or nil when absent.
    public func size(_ digest: Digest) -> Int64? {
        var st = stat()
        return stat(path(digest), &st) == 0 ? Int64(st.st_size) : nil
    }

    public func read(_ digest: Digest) throws -> [UInt8] {
        guard exists(digest) else { throw ContentError.notFound(digest) }
        return try FileIO.read(path(digest))
    }

    /// Opens the blob for streaming; the caller closes the descriptor.
    public func open(_ digest: Digest) throws -> Int32 {
        let p = path(digest)
        let fd = Glibc.open(p, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw errno == ENOENT ? ContentError.notFound(digest) : SystemError("open", p) }
        return fd
    }

    /// Stores `bytes` (verified against `expected` when given) and returns its descriptor fields.
    @discardableResult
    public func put(_ bytes: [UInt8], expected: Digest? = nil) throws -> (digest: Digest, size: Int64) {
        let digest = SHA256.digest(bytes)
        if let expected, expected != digest { throw ContentError.digestMismatch(expected: expected, actual: digest) }
        if exists(digest) { return (digest, Int64(bytes.count)) }
        let writer = try self.writer(ref: "put-\(digest.hex)")
        try writer.write(bytes)
        return (try writer.commit(expected: digest), Int64(bytes.count))
    }

    /// A writer for ingest `ref`; if an earlier writer with this ref was interrupted, the new one
    /// continues after the bytes already received (`offset`).
    public func writer(ref: String) throws -> ContentWriter {
        try ContentWriter(store: self, directory: root + "/ingest/" + Self.ingestName(ref))
    }

    /// Ref → a safe directory name (refs are free text such as `layer-sha256:…`).
    static func ingestName(_ ref: String) -> String {
        SHA256.digest(Array(ref.utf8)).hex
    }

    public func delete(_ digest: Digest) throws {
        let p = path(digest)
        if unlink(p) != 0 && errno != ENOENT { throw SystemError("unlink", p) }
    }

    /// Re-hashes a stored blob: true when its bytes still match its name.
    public func verify(_ digest: Digest) -> Bool {
        guard let fd = try? open(digest) else { return false }
        defer { close(fd) }
        return (try? SHA256.digest(fd: fd)) == digest
    }

    public func list() -> [Digest] {
        ((try? FileIO.listDirectory(root + "/blobs/sha256")) ?? []).compactMap { try? Digest(sha256: $0) }
    }

    /// Deletes every blob not in `keep` and every ingest older than `staleIngestSeconds`;
    /// returns the bytes reclaimed.
    @discardableResult
    public func garbageCollect(keep: Set<Digest>, staleIngestSeconds: Int = 24 * 3600) throws -> Int64 {
        var reclaimed: Int64 = 0
        for digest in list() where !keep.contains(digest) {
            reclaimed += size(digest) ?? 0
            try delete(digest)
        }
        let now = time(nil)
        for name in (try? FileIO.listDirectory(root + "/ingest")) ?? [] {
            var st = stat()
            let dir = root + "/ingest/" + name
            if stat(dir, &st) == 0 && Int(now - st.st_mtim.tv_sec) > staleIngestSeconds {
                try FileIO.removeTree(dir)
            }
        }
        return reclaimed
    }
}

/// One ingest in progress. Holds an exclusive lock on its directory, so two writers of the same
/// ref cannot interleave; the lock dies with the process, so a killed writer never blocks a retry.
public final class ContentWriter {
    let store: ContentStore
    let directory: String
    let fd: Int32
    let hasher = SHA256()
    public private(set) var offset: Int64 = 0
    private var finished = false

    init(store: ContentStore, directory: String) throws {
        self.store = store
        self.directory = directory
        try FileIO.makeDirectories(directory, mode: 0o700)
        let data = directory + "/data"
        fd = try sys("open", data) { Glibc.open(data, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw ContentError.locked(directory)
        }
        // Resume: re-hash what an earlier writer left, then append after it.
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { close(fd); throw SystemError("read", data) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
        }
    }

    deinit { if !finished { close(fd) } }

    /// The ingest's bytes so far (a resumed transfer replays them to its extractor).
    public var dataPath: String { directory + "/data" }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        try FileIO.writeAll(fd, bytes, path: directory + "/data")
        offset += Int64(bytes.count)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Verifies and publishes the blob. On a mismatch the ingest is discarded: its bytes are wrong.
    @discardableResult
    public func commit(expected: Digest? = nil, size: Int64? = nil) throws -> Digest {
        let digest = hasher.finish()
        finished = true
        defer { close(fd) }
        if let size, size != offset {
            try? FileIO.removeTree(directory)  // else a stale ingest, collected by garbageCollect
            throw ContentError.sizeMismatch(expected: size, actual: offset)
        }
        if let expected, expected != digest {
            try? FileIO.removeTree(directory)  // else a stale ingest, collected by garbageCollect
            throw ContentError.digestMismatch(expected: expected, actual: digest)
        }
        let target = store.path(digest)
        if store.exists(digest) {
            try FileIO.removeTree(directory)
            return digest
        }
        if !AtomicFile.isVolatile(directory) { try sys("fsync", directory) { fsync(fd) } }
        fchmod(fd, 0o444)
        try sys("rename", target) { rename(directory + "/data", target) }
        AtomicFile.syncDirectory(AtomicFile.parentDirectory(of: target))
        try FileIO.removeTree(directory)
        return digest
    }

    /// Drops the ingest and its bytes.
    public func abort() {
        guard !finished else { return }
        finished = true
        close(fd)
        try? FileIO.removeTree(directory)  // else a stale ingest, collected by garbageCollect
    }
}
