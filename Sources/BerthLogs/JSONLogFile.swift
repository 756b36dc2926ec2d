import BerthSystem
import Glibc

/// One json-file log (what `LogFileWriter` writes in `.jsonFile` format: one entry per line),
/// read through one open descriptor (`OpenLogFile`): `--tail N` reads blocks backwards from the
/// end, the rest goes forward a block at a time.
public final class JSONLogFile: LogFileReader {
    private let file: OpenLogFile
    private var fd: Int32 { file.fd }
    /// The next byte the forward reader takes.
    private var offset: Int64 = 0
    /// The start of a line whose end has not been read yet.
    private var partial: [UInt8] = []
    static let block = 64 * 1024

    /// nil when there is no such file.
    public init?(path: String) {
        guard let file = OpenLogFile(path: path) else { return nil }
        self.file = file
    }

    public var size: Int64 { file.size }

    /// Where the forward reader goes on from (the end of what a tail took).
    public func seek(to position: Int64) {
        offset = position
        partial = []
    }

    /// The last `count` complete lines before byte `end`, oldest first, without their newlines.
    public func lastLines(_ count: Int, before end: Int64) -> [[UInt8]] {
        guard count > 0 else { return [] }
        var lines: [[UInt8]] = []
        var position = end
        var carry: [UInt8] = []  // the start of the line the last block read ends with
        // a partial last line (no newline yet) is not an entry: it is where a follower starts
        var skippingPartial = true
        while position > 0 && lines.count < count {
            let length = Int(min(Int64(Self.block), position))
            position -= Int64(length)
            var chunk = [UInt8](repeating: 0, count: length)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position)) }
            guard n == length else { break }
            chunk += carry
            var lineEnd = chunk.count
            var i = chunk.count - 1
            while i >= 0 && lines.count < count {
                if chunk[i] == 10 {
                    if !skippingPartial, lineEnd > i + 1 { lines.append(Array(chunk[(i + 1)..<lineEnd])) }
                    skippingPartial = false
                    lineEnd = i
                }
                i -= 1
            }
            carry = Array(chunk[..<lineEnd])
        }
        if position == 0, lines.count < count, !skippingPartial, !carry.isEmpty { lines.append(carry) }
        return lines.reversed()
    }

    /// Just past the last newline before byte `end` (0 if none): where a follower starts so that
    /// a line still being written when it looked is read whole.
    public func lineBoundary(before end: Int64) -> Int64 {
        var position = end
        var chunk = [UInt8](repeating: 0, count: Self.block)
        while position > 0 {
            let length = Int(min(Int64(Self.block), position))
            position -= Int64(length)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position)) }
            guard n == length else { return 0 }
            if let i = chunk[..<length].lastIndex(of: 10) { return position + Int64(i) + 1 }
        }
        return 0
    }

    /// The complete lines written since the last call (a block's worth, or more to finish a long
    /// line), reading no further than byte `limit` when given; empty when nothing new ends in a
    /// newline.
    public func nextLines(upTo limit: Int64? = nil) -> [Substring] {
        var buffer = [UInt8](repeating: 0, count: Self.block)
        while true {
            let want = limit.map { Int(max(0, min(Int64(Self.block), $0 - offset))) } ?? Self.block
            if want == 0 { return [] }
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            if n <= 0 { return [] }
            offset += Int64(n)
            partial += buffer[0..<n]
            if let end = partial.lastIndex(of: 10) {
                let text = String(decoding: partial[...end], as: UTF8.self)
                partial.removeSubrange(...end)
                return text.split(separator: "\n")
            }
        }
    }

    public var replaced: Bool { file.replaced }

    public func reopen() { if file.reopen() { seek(to: 0) } }

    public func lastEntries(_ count: Int, before end: Int64) -> [JSONLogEntry] {
        lastLines(count, before: end).compactMap { JSONLogEntry(line: $0) }
    }

    public func entryBoundary(before end: Int64) -> Int64 { lineBoundary(before: end) }

    public func nextEntries(upTo limit: Int64? = nil) -> [JSONLogEntry] {
        while case let lines = nextLines(upTo: limit), !lines.isEmpty {
            let entries = lines.compactMap { JSONLogEntry(line: $0.utf8) }
            if !entries.isEmpty { return entries }
        }
        return []
    }
}
