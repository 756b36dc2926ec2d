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

        var lines = Self.lines(source)
        if let tail { lines = Array(lines.suffix(max(tail, 0))) }
        for line in lines { try await emit(line) }

        if follow {
            let path = source.paths.last!
            var offset = Int64(((try? FileIO.read(path)) ?? []).count)
            var partial = ""
            while r.isActive {
                let running = await service.isRunning(source.id)
                let (chunk, newOffset) = Self.readFrom(path, offset)
                offset = newOffset
                if !chunk.isEmpty {
                    partial += chunk
                    var parts = partial.split(separator: "\n", omittingEmptySubsequences: false)
                    partial = String(parts.removeLast())
                    for line in parts { try await emit(line) }
                } else if !running {
                    break
                } else {
                    try await Task.sleep(nanoseconds: 50_000_000)
                }
            }
        }
        r.end()
    }

    /// Every logged line (one json-file entry each), oldest rotation first.
    static func lines(_ source: ContainerService.LogSource) -> [Substring] {
        source.paths.flatMap { ((try? FileIO.readString($0)) ?? "").split(separator: "\n") }
    }

    /// What attach with `logs=1` replays before the live stream: (stream, bytes) pairs.
    static func replay(_ source: ContainerService.LogSource, stdout: Bool, stderr: Bool) -> [(UInt8, [UInt8])] {
        lines(source).compactMap { line in
            guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(line.utf8)) else { return nil }
            let isErr = entry.stream == "stderr"
            guard isErr ? stderr : stdout else { return nil }
            return (isErr ? Frame.stderr : Frame.stdout, Array(entry.log.utf8))
        }
    }

    /// New bytes past `offset` (a rotation starts the file over).
    static func readFrom(_ path: String, _ offset: Int64) -> (String, Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return ("", offset) }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let start = Int64(st.st_size) < offset ? 0 : offset
        lseek(fd, off_t(start), SEEK_SET)
        let bytes = (try? FileIO.readAll(fd)) ?? []
        return (String(decoding: bytes, as: UTF8.self), start + Int64(bytes.count))
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
