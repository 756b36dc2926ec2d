import BerthFuzz
import Foundation
import XCTest

/// The fuzzers' corpus — seeds plus every input that once found a bug — replayed on each run, so
/// a fixed finding stays fixed without a fuzzer build.
final class CorpusReplayTests: XCTestCase {
    func testCorpusReplays() throws {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Corpus", withExtension: nil))
        var replayed = 0
        for target in FuzzTarget.allCases {
            let directory = root.appendingPathComponent(target.rawValue)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                let bytes = try Data(contentsOf: directory.appendingPathComponent(name))
                bytes.withUnsafeBytes { target.run($0) }
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 20)
    }
}
