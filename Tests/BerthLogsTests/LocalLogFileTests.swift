import BerthLogs
import Foundation
import Testing

/// The local driver's format, both sides: what `LogFileWriter` writes (framed protobuf entries,
/// rotations gzipped) read back by `LocalLogFile` forward, backward for a tail, and across a
/// half-written last frame.
struct LocalLogFileTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-local-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func entriesRoundTripThroughProtobuf() throws {
        let entry = LocalLogEntry(source: "stderr", timeNano: 1_700_000_000_123_456_789, line: Array("héllo".utf8), partial: true)
        let framed = entry.framed()
        #expect(Array(framed.prefix(4)) == Array(framed.suffix(4)))
        #expect(LocalLogEntry(protobuf: framed.dropFirst(4).dropLast(4)) == entry)
        #expect(entry.jsonEntry.time == "2023-11-14T22:13:20.123456789Z" && entry.jsonEntry.log == Array("héllo".utf8))
        // unknown fields are skipped; a truncated length is refused, not trusted
        #expect(LocalLogEntry(protobuf: [0x2a, 0x01, 0x78, 0x1a, 0x01, 0x61][...])?.line == [0x61])
        #expect(LocalLogEntry(protobuf: [0x1a, 0x09, 0x61][...]) == nil)
    }

    @Test func writerRotatesCompressedAndReaderTailsAcrossEverything() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/container.log"
        let writer = try LogFileWriter(path: path, format: .local(compress: true), maxSize: 4096, maxFiles: 3)
        let lines = (0..<400).map { "line \($0) " + String(repeating: "x", count: $0 % 13) }
        func stream(_ line: String) -> String { line.hasSuffix("x") ? "stdout" : "stderr" }
        for line in lines { writer.write(Array((line + "\n").utf8)[...], stream: stream(line)) }
        writer.write(Array("no newline".utf8)[...], stream: "stdout")
        writer.flush()
        let paths = LogFiles.paths(base: path)
        #expect(paths == [path + ".2.gz", path + ".1.gz", path])
        let files = paths.compactMap(LocalLogFile.init)
        var all: [String] = []
        for file in files { while case let batch = file.nextEntries(upTo: nil), !batch.isEmpty { all += batch.map { String(decoding: $0.log, as: UTF8.self) } } }
        #expect(all.last == "no newline")
        #expect(Array(all.dropLast()) == lines.suffix(all.count - 1).map { $0 + "\n" })
        let live = try #require(LocalLogFile(path: path))
        let tail = live.lastEntries(3, before: live.size).map { String(decoding: $0.log, as: UTF8.self) }
        #expect(tail == [lines[398] + "\n", lines[399] + "\n", "no newline"])
        #expect(live.lastEntries(2, before: live.size).map(\.stream) == [stream(lines[399]), "stdout"])
    }

    /// Any number of rotations is found (not only nine), a rotation left both plain and gzipped
    /// by a crash counts once, and other files beside the log are not rotations.
    @Test func rotationsAreListedFromTheDirectory() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = dir + "/container.log"
        for name in ["container.log", "container.log.1", "container.log.1.gz", "container.log.12.gz", "container.log.2.gz",
                     "container.log.x", "container.log.0", ".inflated-abc123", "other.log.1"] {
            try Data().write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        #expect(LogFiles.paths(base: base) == [base + ".12.gz", base + ".2.gz", base + ".1.gz", base])
        #expect(LogFiles.paths(base: dir + "/absent.log") == [dir + "/absent.log"])
    }

    @Test func aHalfWrittenFrameIsLeftForTheFollower() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/container.log"
        let first = LocalLogEntry(source: "stdout", timeNano: 1, line: Array("one".utf8), partial: false).framed()
        let second = LocalLogEntry(source: "stdout", timeNano: 2, line: Array("two".utf8), partial: false).framed()
        try Data(first + second.prefix(5)).write(to: URL(fileURLWithPath: path))
        let file = try #require(LocalLogFile(path: path))
        #expect(file.entryBoundary(before: file.size) == Int64(first.count))
        #expect(file.lastEntries(5, before: file.size).map(\.log) == [Array("one\n".utf8)])
        #expect(file.nextEntries(upTo: nil).map(\.log) == [Array("one\n".utf8)])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(second.dropFirst(5)))
        try handle.close()
        #expect(file.nextEntries(upTo: nil).map(\.log) == [Array("two\n".utf8)])
    }
}
