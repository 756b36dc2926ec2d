import NIOCore
import Testing
@testable import BerthCRI

/// SPDY's pure parts: frames cut from a byte stream however it arrives, header blocks through
/// one zlib context per direction, and the refusals of input no client should send.
@Suite struct SPDYTests {
    @Test func theDictionaryIsTheSpecs() {
        #expect(SPDY.dictionary.count == 1423)
        #expect(Array(SPDY.dictionary.prefix(11)) == [0, 0, 0, 7] + Array("options".utf8))
        #expect(Array(SPDY.dictionary.suffix(6)) == Array("enq=0.".utf8))
    }

    @Test func framesArriveWholeWhateverTheReadsCutThem() throws {
        var wire = ByteBuffer()
        SPDY.control(.ping, [0, 0, 0, 1], into: &wire)
        SPDY.data(stream: 5, fin: true, ByteBuffer(string: "hello"), into: &wire)
        let bytes = Array(wire.readableBytesView)
        for cut in 0...bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<cut])
            var frames = try SPDY.frames(&buffer)
            buffer.writeBytes(bytes[cut...])
            frames += try SPDY.frames(&buffer)
            #expect(frames == [.control(type: 6, flags: 0, payload: ByteBuffer(bytes: [0, 0, 0, 1])),
                               .data(stream: 5, flags: SPDY.finFlag, payload: ByteBuffer(string: "hello"))], "cut at \(cut)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func anOversizedOrForeignFrameIsAnError() {
        var big = ByteBuffer(bytes: [0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff])
        #expect(throws: SPDY.ProtocolError.self) { try SPDY.frames(&big) }
        var v2 = ByteBuffer(bytes: [0x80, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00])
        #expect(throws: SPDY.ProtocolError.self) { try SPDY.frames(&v2) }
    }

    @Test func headerBlocksRoundTripThroughOneStreamPerDirection() throws {
        let sender = try SPDYHeaderCodec(), receiver = try SPDYHeaderCodec()
        for headers in [[("streamType", "error")], [("streamtype", "stdout"), ("port", "8080")], []] {
            let decoded = try receiver.decode(ByteBuffer(bytes: sender.encode(headers)))
            #expect(decoded.map(\.0) == headers.map { $0.0.lowercased() } && decoded.map(\.1) == headers.map(\.1))
        }
    }

    @Test func brokenHeaderBlocksAreRefused() throws {
        #expect(throws: SPDY.ProtocolError.self) { try SPDYHeaderCodec().decode(ByteBuffer(bytes: [0xde, 0xad, 0xbe, 0xef])) }
        // a count of pairs the block cannot hold, a length past its end, a block cut inside a length
        #expect(throws: SPDY.ProtocolError.self) { try SPDYHeaderCodec.pairs([0x7f, 0xff, 0xff, 0xff]) }
        #expect(throws: SPDY.ProtocolError.self) { try SPDYHeaderCodec.pairs([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]) }
        #expect(throws: SPDY.ProtocolError.self) { try SPDYHeaderCodec.pairs([0, 0, 0, 1, 0, 0]) }
        #expect(try SPDYHeaderCodec.pairs([0, 0, 0, 0]).isEmpty)
    }

    @Test func theClientsFirstServedProtocolIsChosen() {
        #expect(SPDYProtocol.negotiate(["v5.channel.k8s.io, v4.channel.k8s.io", "v3.channel.k8s.io"], kind: "exec") == "v4.channel.k8s.io")
        #expect(SPDYProtocol.negotiate(["channel.k8s.io", "v4.channel.k8s.io"], kind: "attach") == "channel.k8s.io")
        #expect(SPDYProtocol.negotiate(["v4.channel.k8s.io"], kind: "portforward") == nil)
        #expect(SPDYProtocol.negotiate(["portforward.k8s.io"], kind: "portforward") == "portforward.k8s.io")
    }

    @Test func resizesThatShareAFrameAreSplit() {
        let objects = SPDYRemoteCommand.objects(in: ByteBuffer(string: "{\"Width\":1,\"Height\":2}\n{\"Width\":3,\"Height\":4}{\"Wid"))
        #expect(objects.map { String(buffer: $0) } == ["{\"Width\":1,\"Height\":2}", "\n{\"Width\":3,\"Height\":4}"])
    }
}
