import BerthOCI
import BerthSystem
import Glibc
import Testing
@testable import BerthContent

@Suite struct ContentStoreTests {
    func withStore(_ body: (ContentStore) throws -> Void) throws {
        let dir = try FileIO.makeTemporaryDirectory(prefix: "berth-content-")
        defer { try? FileIO.removeTree(dir) }
        try body(try ContentStore(root: dir))
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.digest([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.digest(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func putIsContentAddressedAndIdempotent() throws {
        try withStore { store in
            let (digest, size) = try store.put(Array("hello".utf8))
            #expect(size == 5)
            #expect(store.path(digest).hasSuffix("/blobs/sha256/" + digest.hex))
            #expect(try store.read(digest) == Array("hello".utf8))
            #expect(try store.put(Array("hello".utf8)).digest == digest)
            #expect(store.list() == [digest])
        }
    }

    @Test func aBlobIsInvisibleUntilItsDigestIsVerified() throws {
        try withStore { store in
            let expected = SHA256.digest(Array("right".utf8))
            let w = try store.writer(ref: "layer-1")
            try w.write(Array("wrong".utf8))
            #expect(store.list().isEmpty)
            #expect(throws: ContentError.digestMismatch(expected: expected, actual: SHA256.digest(Array("wrong".utf8)))) {
                try w.commit(expected: expected)
            }
            #expect(store.list().isEmpty)
            #expect(try FileIO.listDirectory(store.root + "/ingest").isEmpty)
        }
    }

    @Test func anInterruptedIngestResumes() throws {
        try withStore { store in
            let whole = Array(repeating: UInt8(7), count: 3_000_000)
            do {
                let first = try store.writer(ref: "big")
                try first.write(Array(whole[..<1_234_567]))
            }  // the writer is dropped without commit, as a killed process would leave it
            let second = try store.writer(ref: "big")
            #expect(second.offset == 1_234_567)
            try second.write(Array(whole[1_234_567...]))
            let digest = try second.commit(expected: SHA256.digest(whole), size: Int64(whole.count))
            #expect(store.size(digest) == 3_000_000)
        }
    }

    @Test func twoWritersOfOneRefDoNotInterleave() throws {
        try withStore { store in
            let first = try store.writer(ref: "same")
            #expect(throws: ContentError.self) { try store.writer(ref: "same") }
            first.abort()
            _ = try store.writer(ref: "same")
        }
    }

    @Test func garbageCollectionKeepsOnlyReferencedBlobs() throws {
        try withStore { store in
            let kept = try store.put(Array("keep".utf8)).digest
            let gone = try store.put(Array("gone!".utf8)).digest
            #expect(try store.garbageCollect(keep: [kept]) == 5)
            #expect(store.exists(kept) && !store.exists(gone))
            #expect(throws: ContentError.notFound(gone)) { try store.read(gone) }
        }
    }
}
