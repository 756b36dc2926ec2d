import BerthLogs
import Foundation
import Testing

/// The byte-level entry coder against Foundation's JSON: what the shim writes is valid JSON that
/// any reader decodes to the same text, and the fast reader agrees with the generic one.
struct JSONLogEntryTests {
    @Test func randomOutputRoundTripsAndIsValidJSON() throws {
        var rng = SystemRandomNumberGenerator()
        struct Plain: Decodable { let log: String; let stream: String; let time: String }
        for round in 0..<2_000 {
            let length = Int.random(in: 0..<300, using: &rng)
            // bias toward what needs escaping: controls, quotes, backslashes, bytes past ASCII
            let alphabet: [UInt8] = [0, 1, 8, 9, 10, 13, 27, 31, 34, 47, 92, 97, 0x7F, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xFF]
            let log = (0..<length).map { _ in Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
            let entry = JSONLogEntry(log: log, stream: round % 2 == 0 ? "stdout" : "stderr", time: "2026-12-03T13:00:00.123456789Z")
            let line = entry.encoded()
            #expect(line.last == 10 && line.dropLast().firstIndex(of: 10) == nil)
            let generic = try JSONDecoder().decode(Plain.self, from: Data(line))
            let text = String(decoding: log, as: UTF8.self)
            #expect(generic.log == text)
            let parsed = try #require(JSONLogEntry(line: line.dropLast()))
            #expect(parsed.log == Array(text.utf8) && parsed.stream == entry.stream && parsed.time == entry.time)
        }
    }

    @Test func entriesInAnotherShapeStillDecode() throws {
        let dockerd = #"{"log":"hi \u00e9\ud83d\ude00\n","stream":"stderr","attrs":{"tag":"x"},"time":"2026-01-01T00:00:00Z"}"#
        let entry = try #require(JSONLogEntry(line: Array(dockerd.utf8)))
        #expect(entry == JSONLogEntry(log: Array("hi é😀\n".utf8), stream: "stderr", time: "2026-01-01T00:00:00Z", attrs: ["tag": "x"]))
        let escaped = #"{"log":"\u00e9\ud83d\ude00\/","stream":"stdout","time":"t"}"#
        #expect(JSONLogEntry(line: Array(escaped.utf8))?.log == Array("é😀/".utf8))
        #expect(JSONLogEntry(line: Array(#"{"log":"unterminated"#.utf8)) == nil)
        #expect(JSONLogEntry(line: Array("not json".utf8)) == nil)
    }

    @Test func attributesGoBetweenStreamAndTimeSortedAndComeBack() throws {
        let entry = JSONLogEntry(log: Array("hi\n".utf8), stream: "stdout", time: "t", attrs: ["team": "blue \"x\"", "STAGE": "prod"])
        let line = entry.encoded()
        #expect(String(decoding: line, as: UTF8.self) == #"{"log":"hi\n","stream":"stdout","attrs":{"STAGE":"prod","team":"blue \"x\""},"time":"t"}"# + "\n")
        #expect(JSONLogEntry(line: line.dropLast()) == entry)
    }
}
