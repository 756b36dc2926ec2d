import BerthEngine
import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc

/// `docker logs`: json-file entries back to bytes, with since/until/tail/timestamps, following
/// the file while the container runs.
struct LogStreamer {
    let service: ContainerService

    struct Entry: Decodable {
        let log: String
        let stream: String
        let time: String
    }

    func stream(_ req: APIRequest, _ ref: String, _ r: Responder) async throws {
        let source = try await service.logSource(ref)
        let stdout = req.flag("stdout"), stderr = req.flag("stderr")
        guard stdout || stderr else { throw EngineError.invalid("Bad parameters: you must choose at least one stream") }
        let since = req.query("since").flatMap(Double.init) ?? 0
        let until = req.query("until").flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil }
        let tail = req.query("tail").flatMap { $0 == "all" ? nil : Int($0) }
        let timestamps = req.flag("timestamps")
        let follow = req.flag("follow")
        r.beginStream(contentType: source.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream")

        func emit(_ line: Substring) async throws {
            guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(line.utf8)) else { return }
            if entry.stream == "stdout" && !stdout || entry.stream == "stderr" && !stderr { return }
            let time = Timestamp.parse(entry.time) ?? 0
            if since > 0 && time < since { return }
            if let until, time > until { return }
            var payload = Array(entry.log.utf8)
            if timestamps { payload = Array((entry.time + " ").utf8) + payload }
            let header = source.tty ? [] : Frame.header(stream: entry.stream == "stderr" ? Frame.stderr : Frame.stdout, length: payload.count)
            try await r.write(header + payload)
        }

        let live = follow ? LiveLogFile(path: source.paths.last) : nil
        var lines = Self.lines(source.paths.dropLast())
        if let live { lines += live.completeLines() } else if let path = source.paths.last { lines += Self.lines([path]) }
        if let tail { lines = Array(lines.suffix(max(tail, 0))) }
        for line in lines { try await emit(line) }

        if let live {
            defer { live.close() }
            while r.isActive {
                // checked before reading: once the container is seen stopped, the read that
                // follows finds everything its shim logged (it logs all before reporting the exit)
                let running = await service.isRunning(source.id)
                let fresh = live.completeLines()
                for line in fresh { try await emit(line) }
                if fresh.isEmpty && !running { break }
                if fresh.isEmpty { try await Task.sleep(nanoseconds: 50_000_000) }
            }
        }
        r.end()
    }

    /// Every logged line (one json-file entry each) of `paths`, in order.
    static func lines(_ paths: some Sequence<String>) -> [Substring] {
        paths.flatMap { ((try? FileIO.readString($0)) ?? "").split(separator: "\n") }
    }

    /// What attach with `logs=1` replays before the live stream: (stream, bytes) pairs.
    static func replay(_ source: ContainerService.LogSource, stdout: Bool, stderr: Bool) -> [(UInt8, [UInt8])] {
        lines(source.paths).compactMap { line in
            guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(line.utf8)) else { return nil }
            let isErr = entry.stream == "stderr"
            guard isErr ? stderr : stdout else { return nil }
            return (isErr ? Frame.stderr : Frame.stdout, Array(entry.log.utf8))
        }
    }
}

/// The live json-file of a followed container, read through one open descriptor from the first
/// line on: what the container logs between the first read and the next is never skipped, and
/// a container removed right after it exits (`docker run --rm`, docker-py's `run`, which reads
/// the followed stream only after removing) leaves its file readable until the end.
final class LiveLogFile {
    private let path: String
    private var fd: Int32
    private var partial: [UInt8] = []

    init?(path: String?) {
        guard let path else { return nil }
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
    }

    /// Complete lines logged since the last call. A rotation (a new file at the path) is noticed
    /// after the old file is read to its end.
    func completeLines() -> [Substring] {
        var bytes = drain()
        if bytes.isEmpty, rotated() {
            Glibc.close(fd)
            fd = open(path, O_RDONLY | O_CLOEXEC)
            bytes = drain()
        }
        partial += bytes
        guard let end = partial.lastIndex(of: 10) else { return [] }
        let text = String(decoding: partial[...end], as: UTF8.self)
        partial.removeSubrange(...end)
        return text.split(separator: "\n")
    }

    func close() { if fd >= 0 { Glibc.close(fd) } }

    private func drain() -> [UInt8] { fd < 0 ? [] : (try? FileIO.readAll(fd)) ?? [] }

    private func rotated() -> Bool {
        var current = stat(), open = stat()
        guard stat(path, &current) == 0 else { return false }
        return fd < 0 || fstat(fd, &open) != 0 || open.st_ino != current.st_ino || open.st_dev != current.st_dev
    }
}

/// Streams a file as a chunked response body.
enum FileStreamer {
    /// Runs `produce` into a spool file, then streams it: the response starts only once the
    /// content is complete, so a failure still gets a proper error status.
    static func spooled(_ r: Responder, in directory: String, contentType: String, _ produce: (Int32) async throws -> Void) async throws {
        let spool = try FileIO.makeTemporaryDirectory(in: directory, prefix: "out-")
        defer { try? FileIO.removeTree(spool) }
        let fd = try sys("open", spool) { open(spool + "/out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        do { try await produce(fd) } catch { close(fd); throw error }
        close(fd)
        try await send(spool + "/out", r, contentType: contentType)
    }

    static func send(_ path: String, _ r: Responder, contentType: String) async throws {
        let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        r.beginStream(contentType: contentType)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            try await r.write(Array(buffer[0..<n]))
        }
        r.end()
    }
}
