import BerthOCI
import BerthSystem
import Glibc

/// The kubelet's container log format (CRI's `kuberuntime` logs): one
/// `<RFC 3339 nano time> <stdout|stderr> <F|P> <line>` per line, `P` for a piece of a line longer
/// than 16 KiB, `F` for its end; the newline is the record's. The kubelet rotates the file by
/// renaming it and asking the runtime to reopen its path (`ReopenContainerLog`).
public final class CRILogFile {
    let path: String
    var fd: Int32
    var lines = LogLines()

    public init(path: String) throws {
        self.path = path
        fd = try Self.open(path)
    }

    static func open(_ path: String) throws -> Int32 {
        try sys("open", path) { Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) }
    }

    public func write(_ bytes: ArraySlice<UInt8>, stream: String) {
        lines.add(bytes, stream: stream) { line, complete in emit(complete ? line.dropLast() : line, stream: stream, tag: complete ? "F" : "P") }
    }

    /// The unterminated rest of each stream, as full lines (at exit).
    public func flush() {
        lines.drain { line, stream in emit(line, stream: stream, tag: "F") }
    }

    /// Opens the path again: the kubelet has moved the old file aside.
    public func reopen() throws {
        let next = try Self.open(path)
        close(fd)
        fd = next
    }

    public static func record(_ line: some Collection<UInt8>, stream: String, tag: String, time: String) -> [UInt8] {
        Array("\(time) \(stream) \(tag) ".utf8) + line + [10]
    }

    func emit(_ line: ArraySlice<UInt8>, stream: String, tag: String) {
        // A full disk loses this line and not the container: the json-file log beside it is Berth's own record.
        try? FileIO.writeAll(fd, Self.record(line, stream: stream, tag: tag, time: Timestamp.now()), path: path)
    }
}
