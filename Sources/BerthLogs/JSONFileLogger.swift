import BerthOCI
import BerthSystem
import Glibc

/// Docker's json-file log driver: one `{"log":…,"stream":…,"time":…}` object per line of output,
/// rotated to `<path>.1`, `<path>.2`… at `maxSize` bytes.
public final class JSONFileLogger {
    let path: String
    let maxSize: Int64
    let maxFiles: Int
    var fd: Int32
    var size: Int64
    var lines = LogLines()
    let attrs: [String: String]

    public init(path: String, maxSize: Int64, maxFiles: Int, attrs: [String: String] = [:]) throws {
        self.path = path
        self.attrs = attrs
        self.maxSize = maxSize
        self.maxFiles = maxFiles
        fd = try sys("open", path) { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) }
        var st = stat()
        fstat(fd, &st)
        size = Int64(st.st_size)
    }

    public func write(_ bytes: ArraySlice<UInt8>, stream: String) {
        lines.add(bytes, stream: stream) { line, _ in emit(line, stream: stream) }
    }

    /// Writes what is left of unterminated lines (at exit).
    public func flush() {
        lines.drain { line, stream in emit(line, stream: stream) }
    }

    func emit(_ line: ArraySlice<UInt8>, stream: String) {
        let entry = JSONLogEntry(log: Array(line), stream: stream, time: Timestamp.now(), attrs: attrs).encoded()
        if maxSize > 0 && size + Int64(entry.count) > maxSize && size > 0 { rotate() }
        try? FileIO.writeAll(fd, entry, path: path)
        size += Int64(entry.count)
    }

    func rotate() {
        close(fd)
        if maxFiles > 1 {
            for n in stride(from: maxFiles - 1, to: 0, by: -1) {
                rename(n == 1 ? path : "\(path).\(n - 1)", "\(path).\(n)")
            }
        }
        fd = (try? sys("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640) }) ?? -1
        size = 0
    }
}
