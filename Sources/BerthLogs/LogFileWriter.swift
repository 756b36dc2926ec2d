import BerthOCI
import BerthSystem
import CZlib
import Glibc

/// A container's log as its shim writes it: Docker's json-file format (one JSON object per line)
/// or its `local` driver's (framed protobuf entries), rotated to `<path>.1`, `<path>.2`… at
/// `maxSize` bytes keeping `maxFiles` files. The local format's rotations are gzip-compressed
/// (`<path>.1.gz`) when asked, as dockerd's local driver does by default.
public final class LogFileWriter {
    public enum Format: Equatable, Sendable {
        /// `attrs`: the `labels`/`env` log options' picks, in every entry.
        case jsonFile(attrs: [String: String])
        case local(compress: Bool)
    }

    let path: String
    let format: Format
    let maxSize: Int64
    let maxFiles: Int
    var fd: Int32
    var size: Int64
    var lines = LogLines()

    public init(path: String, format: Format, maxSize: Int64, maxFiles: Int) throws {
        self.path = path
        self.format = format
        self.maxSize = maxSize
        self.maxFiles = maxFiles
        fd = try sys("open", path) { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) }
        var st = stat()
        fstat(fd, &st)
        size = Int64(st.st_size)
    }

    public func write(_ bytes: ArraySlice<UInt8>, stream: String) {
        lines.add(bytes, stream: stream) { line, complete in emit(line, stream: stream, complete: complete) }
    }

    /// Writes what is left of unterminated lines (at exit).
    public func flush() {
        lines.drain { line, stream in emit(line, stream: stream, complete: false) }
    }

    func emit(_ line: ArraySlice<UInt8>, stream: String, complete: Bool) {
        let entry: [UInt8]
        switch format {
        case .jsonFile(let attrs):
            entry = JSONLogEntry(log: Array(line), stream: stream, time: Timestamp.now(), attrs: attrs).encoded()
        case .local:
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            entry = LocalLogEntry(source: stream, timeNano: Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec),
                                  line: Array(complete ? line.dropLast() : line), partial: !complete).framed()
        }
        if maxSize > 0 && size + Int64(entry.count) > maxSize && size > 0 { rotate() }
        try? FileIO.writeAll(fd, entry, path: path)
        size += Int64(entry.count)
    }

    func rotate() {
        close(fd)
        let compress = format == .local(compress: true)
        let suffix = compress ? ".gz" : ""
        if maxFiles > 1 {
            for n in stride(from: maxFiles - 1, to: 1, by: -1) { rename("\(path).\(n - 1)\(suffix)", "\(path).\(n)\(suffix)") }
            rename(path, "\(path).1")
            if compress { Self.compress("\(path).1", to: "\(path).1.gz") }
        }
        fd = (try? sys("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640) }) ?? -1
        size = 0
    }

    /// `source` gzipped into `target` (made whole under a temporary name first), then removed;
    /// left as it is if that fails (readers take an uncompressed rotation too).
    static func compress(_ source: String, to target: String) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return }
        defer { close(input) }
        let partial = target + ".tmp"
        guard let gz = gzopen(partial, "wb1") else { return }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var ok = true
        while ok {
            let n = read(input, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = n == 0; break }
            ok = gzwrite(gz, buffer, UInt32(n)) == n
        }
        if gzclose(gz) == Z_OK, ok, rename(partial, target) == 0 { unlink(source) } else { unlink(partial) }
    }
}
