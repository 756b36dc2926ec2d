import BerthLogs
import Foundation
import Testing

/// The json-file reader against files the logger wrote: tails across block boundaries and
/// rotations, partial last lines left for the follower, lines longer than a block.
struct JSONLogFileTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-logs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func write(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func tailTakesTheLastCompleteLinesAcrossBlocks() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 20,000 lines of varying length: many 64 KiB blocks, lines cut by every block edge
        let lines = (0..<20_000).map { "line \($0) " + String(repeating: "x", count: $0 % 97) }
        try write(dir + "/log", lines.joined(separator: "\n") + "\npartial")
        let file = try #require(JSONLogFile(path: dir + "/log"))
        for count in [0, 1, 2, 10, 1_000, 19_999, 20_000, 50_000] {
            let got = file.lastLines(count, before: file.size).map { String(decoding: $0, as: UTF8.self) }
            #expect(got == Array(lines.suffix(count)), "tail \(count)")
        }
        // the follower starts at the partial line, and reads it once it is complete
        let boundary = file.lineBoundary(before: file.size)
        #expect(boundary == file.size - Int64("partial".utf8.count))
        file.seek(to: boundary)
        #expect(file.nextLines().isEmpty)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/log"))
        handle.seekToEndOfFile()
        handle.write(Data(" now whole\nnext\n".utf8))
        try handle.close()
        #expect(file.nextLines() == ["partial now whole", "next"])
    }

    @Test func forwardReadingReturnsEveryLineOnceEvenLongerThanABlock() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = ["short", String(repeating: "L", count: 200_000), "after"]
        try write(dir + "/log", lines.joined(separator: "\n") + "\n")
        let file = try #require(JSONLogFile(path: dir + "/log"))
        var read: [String] = []
        while case let batch = file.nextLines(), !batch.isEmpty { read += batch.map(String.init) }
        #expect(read == lines)
        #expect(file.lastLines(2, before: file.size).map { $0.count } == [200_000, 5])
    }

    @Test func rotationsAreFoundOldestFirstAndAReplacedFileIsNoticed() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = dir + "/c-json.log"
        try write(base + ".2", "a\n")
        try write(base + ".1", "b\n")
        try write(base, "c\n")
        #expect(LogFiles.paths(base: base) == [base + ".2", base + ".1", base])
        let live = try #require(JSONLogFile(path: base))
        #expect(live.nextLines() == ["c"])
        #expect(!live.replaced)
        try FileManager.default.moveItem(atPath: base, toPath: base + ".0")
        try write(base, "d\n")
        #expect(live.replaced)
        live.reopen()
        #expect(live.nextLines() == ["d"])
    }
}
