import BerthSystem
import CZlib
import Glibc

/// The formats a container's log is kept in: Docker's `json-file` and `local` drivers'.
public enum LogFormat: String, Codable, Sendable {
    case jsonFile = "json-file"
    case local
}

/// One file of a container's log, read for `docker logs` and attach's replay whichever driver
/// wrote it, without holding it in memory: `--tail` reads from the end backwards, the rest goes
/// forward a block at a time, and a follower goes on from where the tail ended.
public protocol LogFileReader: AnyObject {
    /// The file's size now.
    var size: Int64 { get }
    /// Where the forward reader goes on from.
    func seek(to position: Int64)
    /// The last `count` complete entries before byte `end`, oldest first.
    func lastEntries(_ count: Int, before end: Int64) -> [JSONLogEntry]
    /// The end of the last complete entry before byte `end`: where a follower starts so that an
    /// entry still being written when it looked is read whole.
    func entryBoundary(before end: Int64) -> Int64
    /// The complete entries written since the last call (reading no further than `limit`);
    /// empty when nothing new is complete.
    func nextEntries(upTo limit: Int64?) -> [JSONLogEntry]
    /// Whether the writer has rotated: the path names another file now.
    var replaced: Bool { get }
    /// Goes on with the file the path names now, from its start.
    func reopen()
}

public enum LogFiles {
    /// The files of the log at `base` that exist, oldest first: its rotations (`base.N` …
    /// `base.1`, gzipped ones as `base.N.gz`), then `base` itself, the live file, even before
    /// the container's first line. Found by listing the directory, so any `max-file` is read
    /// and the cost is the files there, not the setting.
    public static func paths(base: String) -> [String] {
        let directory = AtomicFile.parentDirectory(of: base)
        let name = String(base[base.index(after: base.lastIndex(of: "/") ?? base.startIndex)...])
        var rotations: [Int: String] = [:]
        for entry in (try? FileIO.listDirectory(directory)) ?? [] where entry.hasPrefix(name + ".") {
            var suffix = entry.dropFirst(name.count + 1)
            let gzipped = suffix.hasSuffix(".gz")
            if gzipped { suffix = suffix.dropLast(3) }
            guard let n = Int(suffix), n > 0 else { continue }
            // a rotation compressed just before a crash can be there twice: the .gz is whole
            if gzipped || rotations[n] == nil { rotations[n] = directory + "/" + entry }
        }
        return rotations.keys.sorted(by: >).compactMap { rotations[$0] } + [base]
    }

    public static func open(_ path: String, format: LogFormat) -> LogFileReader? {
        switch format {
        case .jsonFile: return JSONLogFile(path: path)
        case .local: return LocalLogFile(path: path)
        }
    }
}

/// A log file open for reading through one descriptor, which keeps a followed file readable
/// after its container is removed (docker-py's `run()` reads the followed stream only after
/// removing it) and across a rotation until its last entry is read. A gzipped rotation is
/// opened at once (the rotation that follows cannot swap it) and inflated at its first read,
/// into an unlinked file beside it: a `--tail` the live file answers inflates nothing.
final class OpenLogFile {
    let path: String
    private var opened: Int32
    private var inflatedFD: Int32?

    init?(path: String) {
        self.path = path
        opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else { return nil }
    }

    deinit {
        close(opened)
        if let inflatedFD, inflatedFD >= 0 { close(inflatedFD) }
    }

    /// What reads go to (-1 when a gzipped rotation could not be inflated: it reads as empty).
    var fd: Int32 {
        guard path.hasSuffix(".gz") else { return opened }
        if let inflatedFD { return inflatedFD }
        let fd = Self.inflated(opened, beside: path)
        inflatedFD = fd
        return fd
    }

    var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    func read(at offset: Int64, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        return n > 0 ? Array(bytes[..<n]) : []
    }

    var replaced: Bool {
        var current = stat(), mine = stat()
        guard stat(path, &current) == 0, fstat(opened, &mine) == 0 else { return false }
        return mine.st_ino != current.st_ino || mine.st_dev != current.st_dev
    }

    /// Whether the path could be opened again (the live file, after a rotation).
    func reopen() -> Bool {
        let fresh = open(path, O_RDONLY | O_CLOEXEC)
        guard fresh >= 0 else { return false }
        close(opened)
        opened = fresh
        return true
    }

    /// The gzip stream of `compressed` inflated into an unlinked file in `path`'s directory.
    static func inflated(_ compressed: Int32, beside path: String) -> Int32 {
        let copy = dup(compressed)
        guard copy >= 0 else { return -1 }
        guard let gz = gzdopen(copy, "rb") else { close(copy); return -1 }
        defer { gzclose(gz) }
        var template = Array((AtomicFile.parentDirectory(of: path) + "/.inflated-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { return -1 }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        unlink(String(cString: template))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = gzread(gz, &buffer, UInt32(buffer.count))
            if n < 0 || (n > 0 && (try? FileIO.writeAll(fd, Array(buffer[..<Int(n)]))) == nil) {
                close(fd)
                return -1
            }
            if n == 0 { return fd }
        }
    }
}
