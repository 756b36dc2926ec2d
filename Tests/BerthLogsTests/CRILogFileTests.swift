import BerthLogs
import Foundation
import Testing

/// The kubelet's log format as the shim writes it: one record per line, the newline the record's,
/// a line longer than 16 KiB in `P` pieces ended by an `F`, and a reopen after the kubelet moved
/// the file aside.
struct CRILogFileTests {
    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func recordsPiecesAndReopen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cri-log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/0.log"
        let log = try CRILogFile(path: path)
        log.write(Array("one\ntw".utf8)[...], stream: "stdout")
        log.write(Array("o\n".utf8)[...], stream: "stdout")
        log.write(Array("err\n".utf8)[...], stream: "stderr")
        log.write(Array(repeating: UInt8(ascii: "x"), count: 16 * 1024 + 10)[...] + Array("\n".utf8), stream: "stdout")
        log.write(Array("tail".utf8)[...], stream: "stdout")
        log.flush()
        let written = try lines(path).map { $0.split(separator: " ", maxSplits: 3).dropFirst().map(String.init) }
        #expect(written.map { $0[0] + " " + $0[1] } == ["stdout F", "stdout F", "stderr F", "stdout P", "stdout F", "stdout F"])
        #expect(written[0][2] == "one" && written[1][2] == "two" && written[2][2] == "err" && written[5][2] == "tail")
        #expect(written[3][2].count == 16 * 1024 && written[4][2] == String(repeating: "x", count: 10))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try log.reopen()
        log.write(Array("after\n".utf8)[...], stream: "stdout")
        #expect(try lines(path).count == 1 && lines(path)[0].hasSuffix(" stdout F after"))
        #expect(try lines(path + ".1").count == 6)
    }
}
