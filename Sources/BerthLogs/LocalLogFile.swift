/// One file of the `local` driver's log (what `LogFileWriter` writes in `.local` format):
/// length-framed entries, walked backwards by their trailing length for `--tail`.
public final class LocalLogFile: LogFileReader {
    private let file: OpenLogFile
    private var offset: Int64 = 0
    /// The start of a frame whose end has not been read yet.
    private var pending: [UInt8] = []
    static let block = 64 * 1024

    /// nil when there is no such file.
    public init?(path: String) {
        guard let file = OpenLogFile(path: path) else { return nil }
        self.file = file
    }

    public var size: Int64 { file.size }
    public var replaced: Bool { file.replaced }

    public func seek(to position: Int64) {
        offset = position
        pending = []
    }

    public func reopen() { if file.reopen() { seek(to: 0) } }

    /// The entry whose frame ends at `end`, and where its frame starts; nil when the bytes there
    /// are not a whole frame (a write in progress, or damage).
    private func entry(endingAt end: Int64) -> (LocalLogEntry, start: Int64)? {
        guard end >= 8 else { return nil }
        let length = LocalLogEntry.length(file.read(at: end - 4, count: 4))
        let start = end - 8 - Int64(length)
        guard length <= LocalLogEntry.maxSize, start >= 0 else { return nil }
        let frame = file.read(at: start, count: length + 4)
        guard frame.count == length + 4, LocalLogEntry.length(frame) == length,
              let entry = LocalLogEntry(protobuf: frame.dropFirst(4)) else { return nil }
        return (entry, start)
    }

    public func lastEntries(_ count: Int, before end: Int64) -> [JSONLogEntry] {
        var entries: [JSONLogEntry] = []
        var position = entryBoundary(before: end)
        while entries.count < count, let (entry, start) = entry(endingAt: position) {
            entries.append(entry.jsonEntry)
            position = start
        }
        return entries.reversed()
    }

    public func entryBoundary(before end: Int64) -> Int64 {
        if end == 0 || entry(endingAt: end) != nil { return end }
        // not at a frame's end: walk the frames from the start to the last one that fits
        var position: Int64 = 0
        while position + 8 <= end {
            let length = Int64(LocalLogEntry.length(file.read(at: position, count: 4)))
            guard length <= LocalLogEntry.maxSize, position + length + 8 <= end else { break }
            position += length + 8
        }
        return position
    }

    public func nextEntries(upTo limit: Int64? = nil) -> [JSONLogEntry] {
        var entries: [JSONLogEntry] = []
        while entries.isEmpty {
            let want = limit.map { Int(max(0, min(Int64(Self.block), $0 - offset))) } ?? Self.block
            if want == 0 { break }
            let bytes = file.read(at: offset, count: want)
            if bytes.isEmpty { break }
            offset += Int64(bytes.count)
            pending += bytes
            var start = 0
            while pending.count - start >= 8 {
                let length = LocalLogEntry.length(pending[start...])
                guard length <= LocalLogEntry.maxSize else {
                    // a damaged frame: nothing after it can be framed, so the rest is skipped
                    offset = size
                    pending = []
                    return entries
                }
                guard pending.count - start >= length + 8 else { break }
                if let entry = LocalLogEntry(protobuf: pending[(start + 4)..<(start + 4 + length)]) { entries.append(entry.jsonEntry) }
                start += length + 8
            }
            pending.removeFirst(start)
        }
        return entries
    }
}
