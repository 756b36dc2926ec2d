import BerthDiagnostics
import BerthEngine
import BerthLogs
import BerthRegistry
import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc
import NIOCore

/// `docker logs`: the log's entries (json-file or local) back to bytes, with since/until/tail/timestamps, following
/// the file while the container runs.
struct LogStreamer {
    let service: ContainerService

    func stream(_ req: APIRequest, _ ref: String, _ r: Responder) async throws {
        let source = try await service.logSource(ref)
        let stdout = req.flag("stdout"), stderr = req.flag("stderr")
        guard stdout || stderr else { throw EngineError.invalid("Bad parameters: you must choose at least one stream") }
        let since = req.query("since").flatMap(Double.init) ?? 0
        let until = req.query("until").flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil }
        let tail = req.query("tail").flatMap { $0 == "all" ? nil : Int($0) }
        let timestamps = req.flag("timestamps")
        let details = req.flag("details")
        let follow = req.flag("follow")
        r.beginStream(contentType: source.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream")

        func emit(_ entry: JSONLogEntry) async throws {
            if entry.stream == "stdout" && !stdout || entry.stream == "stderr" && !stderr { return }
            if since > 0 || until != nil {
                let time = Timestamp.parse(entry.time) ?? 0
                if since > 0 && time < since { return }
                if let until, time > until { return }
            }
            var payload = entry.log
            if details { payload = Self.details(entry.attrs) + payload }
            if timestamps { payload = Array((entry.time + " ").utf8) + payload }
            let header = source.tty ? [] : Frame.header(stream: entry.stream == "stderr" ? Frame.stderr : Frame.stdout, length: payload.count)
            try await r.write(header + payload)
        }

        // The live file is opened before anything is read: what the container logs from here on
        // is read through this descriptor, and nothing falls between the past and the follow.
        let live = source.paths.last.flatMap { LogFiles.open($0, format: source.format) }
        let older = source.paths.dropLast().compactMap { LogFiles.open($0, format: source.format) }
        if let tail {
            let end = live?.size ?? 0
            var picked = live?.lastEntries(tail, before: end) ?? []
            for file in older.reversed() where picked.count < tail {
                picked = file.lastEntries(tail - picked.count, before: file.size) + picked
            }
            for entry in picked { try await emit(entry) }
            live?.seek(to: live?.entryBoundary(before: end) ?? 0)
        } else {
            for file in older + (live.map { [$0] } ?? []) {
                while case let entries = file.nextEntries(upTo: nil), !entries.isEmpty { for entry in entries { try await emit(entry) } }
            }
        }

        if follow, let live {
            while r.isActive {
                // checked before reading: once the container is seen stopped, the read that
                // follows finds everything its shim logged (it logs all before reporting the exit)
                let running = service.isRunning(source.id)
                var fresh = live.nextEntries(upTo: nil)
                if fresh.isEmpty, live.replaced {
                    live.reopen()
                    fresh = live.nextEntries(upTo: nil)
                }
                for entry in fresh { try await emit(entry) }
                if fresh.isEmpty && !running { break }
                if fresh.isEmpty { try await Task.sleep(nanoseconds: 50_000_000) }
            }
        }
        r.end()
    }

    /// `details=1`: an entry's attributes before its line, as moby writes them (`k=v` pairs sorted
    /// by key, query-escaped, joined by commas, then a space; a lone space when there are none).
    static func details(_ attrs: [String: String]) -> [UInt8] {
        let pairs = attrs.keys.sorted().map { queryEscaped($0) + "=" + queryEscaped(attrs[$0] ?? "") }
        return Array((pairs.joined(separator: ",") + " ").utf8)
    }

    /// Go's `url.QueryEscape`: percent-encoding, with a space as `+`.
    static func queryEscaped(_ text: String) -> String { HTTPURL.percentEncode(text).replacing("%20", with: "+") }
}



/// What attach with `logs=1` replays before the live stream: the log as it stood when the attach
/// arrived (its files opened and the live one's size taken then, so nothing the live stream
/// brings is replayed too), written to the client a block at a time, each write awaited. It held
/// the whole log in memory, twice, before.
final class LogReplay: @unchecked Sendable {
    private let files: [LogFileReader]
    private let end: Int64
    private let stdout: Bool, stderr: Bool

    init(_ source: ContainerService.LogSource, stdout: Bool, stderr: Bool) {
        files = source.paths.compactMap { LogFiles.open($0, format: source.format) }
        end = files.last?.size ?? 0
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Returns false when the client went away.
    func write(to channel: Channel, tty: Bool) async -> Bool {
        for (i, file) in files.enumerated() {
            let limit = i == files.count - 1 ? end : nil
            while case let entries = file.nextEntries(upTo: limit), !entries.isEmpty {
                var bytes: [UInt8] = []
                for entry in entries {
                    let isErr = entry.stream == "stderr"
                    guard isErr ? stderr : stdout else { continue }
                    if !tty { bytes += Frame.header(stream: isErr ? Frame.stderr : Frame.stdout, length: entry.log.count) }
                    bytes += entry.log
                }
                if bytes.isEmpty { continue }
                do { try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get() } catch { return false }
            }
        }
        return true
    }
}

/// Streams a file as a chunked response body.
enum FileStreamer {
    /// Runs `produce` into a spool file, then streams it: the response starts only once the
    /// content is complete, so a failure still gets a proper error status.
    static func spooled(_ r: Responder, in directory: String, contentType: String, _ produce: (Int32) async throws -> Void) async throws {
        let spool = try FileIO.makeTemporaryDirectory(in: directory, prefix: "out-")
        defer { Router.log.attempt("removing the spooled response \(spool)") { try FileIO.removeTree(spool) } }
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
