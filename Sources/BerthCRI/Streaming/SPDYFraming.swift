import CZlib
import NIOCore

/// SPDY/3.1 framing, as the kubelet and kubectl speak it through moby/spdystream: control frames
/// (`SYN_STREAM`, `SYN_REPLY`, `RST_STREAM`, `PING`, `GOAWAY`, …) and data frames on streams the
/// client opens, with name/value header blocks compressed by zlib against the spec's dictionary
/// (one compression context per direction for the whole connection).
enum SPDY {
    static let version: UInt16 = 3
    static let finFlag: UInt8 = 0x01
    /// The largest frame accepted: kubectl sends at most 32 KiB of data per frame; a peer that
    /// announces more ends its session instead of growing berthd.
    static let maxFrame = 1 << 20

    enum Control: UInt16 {
        case synStream = 1, synReply = 2, rstStream = 3, settings = 4, ping = 6, goAway = 7, headers = 8, windowUpdate = 9
    }

    enum Frame: Equatable {
        case control(type: UInt16, flags: UInt8, payload: ByteBuffer)
        case data(stream: UInt32, flags: UInt8, payload: ByteBuffer)
    }

    struct ProtocolError: Error, CustomStringConvertible {
        let description: String
    }

    /// Takes the complete frames off the front of `buffer`.
    static func frames(_ buffer: inout ByteBuffer) throws(ProtocolError) -> [Frame] {
        var out: [Frame] = []
        while buffer.readableBytes >= 8 {
            let at = buffer.readerIndex
            guard let word = buffer.getInteger(at: at, as: UInt32.self), let flags = buffer.getInteger(at: at + 4, as: UInt8.self),
                  let high = buffer.getInteger(at: at + 5, as: UInt8.self), let low = buffer.getInteger(at: at + 6, as: UInt16.self)
            else { break }
            let length = Int(high) << 16 | Int(low)
            guard length <= maxFrame else { throw ProtocolError(description: "a frame of \(length) bytes is over the limit of \(maxFrame)") }
            guard buffer.readableBytes >= 8 + length, let payload = buffer.getSlice(at: at + 8, length: length) else { break }
            buffer.moveReaderIndex(forwardBy: 8 + length)
            if word & 0x8000_0000 != 0 {
                let frameVersion = UInt16(truncatingIfNeeded: word >> 16) & 0x7fff
                guard frameVersion == version else { throw ProtocolError(description: "SPDY version \(frameVersion) is not served (3 is)") }
                out.append(.control(type: UInt16(truncatingIfNeeded: word), flags: flags, payload: payload))
            } else {
                out.append(.data(stream: word, flags: flags, payload: payload))
            }
        }
        buffer.discardReadBytes()
        return out
    }

    static func control(_ type: Control, flags: UInt8 = 0, _ payload: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0x8000) | version)
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(UInt32(flags) << 24 | UInt32(payload.count))
        buffer.writeBytes(payload)
    }

    static func data(stream: UInt32, fin: Bool, _ payload: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeInteger(stream & 0x7fff_ffff)
        buffer.writeInteger(UInt32(fin ? finFlag : 0) << 24 | UInt32(payload.readableBytes))
        buffer.writeImmutableBuffer(payload)
    }

    /// The spec's header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): its
    /// length-prefixed words, then a raw tail; 1423 bytes in all.
    static let dictionary: [UInt8] = {
        let words = ["options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language",
                     "accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base", "content-encoding",
                     "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
                     "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
                     "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate",
                     "proxy-authorization", "range", "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
                     "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK", "version",
                     "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
        let tail = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            + "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden"
            + "404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            + "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            + "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
            + "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
        return words.flatMap { word in withUnsafeBytes(of: UInt32(word.utf8.count).bigEndian, Array.init) + Array(word.utf8) } + Array(tail.utf8)
    }()
}

/// One direction's header compression of a SPDY connection: every block continues the same zlib
/// stream, so blocks must be encoded (and decoded) in the order they go on the wire.
final class SPDYHeaderCodec {
    private var deflater = z_stream()
    private var inflater = z_stream()
    private var dictionaryGiven = false
    /// A header block that inflates past this is refused (a compressed bomb).
    static let maxHeaders = 64 << 10

    init() throws(SPDY.ProtocolError) {
        guard deflateInit_(&deflater, Z_DEFAULT_COMPRESSION, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK,
              SPDY.dictionary.withUnsafeBufferPointer({ deflateSetDictionary(&deflater, $0.baseAddress, UInt32($0.count)) }) == Z_OK,
              inflateInit_(&inflater, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { throw SPDY.ProtocolError(description: "zlib could not be set up") }
    }

    deinit {
        deflateEnd(&deflater)
        inflateEnd(&inflater)
    }

    func encode(_ headers: [(String, String)]) -> [UInt8] {
        var raw: [UInt8] = []
        func put(_ bytes: [UInt8]) { raw += withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init) + bytes }
        raw += withUnsafeBytes(of: UInt32(headers.count).bigEndian, Array.init)
        for (name, value) in headers {
            put(Array(name.lowercased().utf8))
            put(Array(value.utf8))
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        raw.withUnsafeMutableBufferPointer { input in
            deflater.next_in = input.baseAddress
            deflater.avail_in = UInt32(input.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { output in
                    deflater.next_out = output.baseAddress
                    deflater.avail_out = UInt32(output.count)
                    _ = deflate(&deflater, Z_SYNC_FLUSH)
                    out += output.prefix(output.count - Int(deflater.avail_out))
                }
            } while deflater.avail_out == 0
        }
        return out
    }

    /// The name/value pairs of a header block; names as sent (SPDY's are lowercase).
    func decode(_ block: ByteBuffer) throws(SPDY.ProtocolError) -> [(String, String)] {
        var input = Array(block.readableBytesView)
        var raw: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var failure: SPDY.ProtocolError?
        input.withUnsafeMutableBufferPointer { input in
            inflater.next_in = input.baseAddress
            inflater.avail_in = UInt32(input.count)
            while failure == nil {
                let rc = chunk.withUnsafeMutableBufferPointer { output -> Int32 in
                    inflater.next_out = output.baseAddress
                    inflater.avail_out = UInt32(output.count)
                    var rc = inflate(&inflater, Z_SYNC_FLUSH)
                    if rc == Z_NEED_DICT && !dictionaryGiven {
                        dictionaryGiven = true
                        rc = SPDY.dictionary.withUnsafeBufferPointer { inflateSetDictionary(&inflater, $0.baseAddress, UInt32($0.count)) }
                        if rc == Z_OK { rc = inflate(&inflater, Z_SYNC_FLUSH) }
                    }
                    raw += output.prefix(output.count - Int(inflater.avail_out))
                    return rc
                }
                if raw.count > Self.maxHeaders { failure = SPDY.ProtocolError(description: "a header block inflates past \(Self.maxHeaders) bytes") }
                else if rc == Z_BUF_ERROR || inflater.avail_in == 0 && inflater.avail_out != 0 { break }  // all input taken
                else if rc != Z_OK { failure = SPDY.ProtocolError(description: "a header block does not inflate (zlib \(rc))") }
            }
            inflater.next_in = nil
        }
        if let failure { throw failure }
        return try Self.pairs(raw)
    }

    /// The name/value pairs of an inflated block: a count, then length-prefixed names and values.
    static func pairs(_ raw: [UInt8]) throws(SPDY.ProtocolError) -> [(String, String)] {
        var at = 0
        func number() throws(SPDY.ProtocolError) -> Int {
            guard raw.count - at >= 4 else { throw SPDY.ProtocolError(description: "a header block ends inside a length") }
            defer { at += 4 }
            return Int(raw[at]) << 24 | Int(raw[at + 1]) << 16 | Int(raw[at + 2]) << 8 | Int(raw[at + 3])
        }
        func text() throws(SPDY.ProtocolError) -> String {
            let length = try number()
            guard raw.count - at >= length else { throw SPDY.ProtocolError(description: "a header block ends inside a value") }
            defer { at += length }
            return String(decoding: raw[at..<(at + length)], as: UTF8.self)
        }
        let count = try number()
        guard count <= raw.count / 8 else { throw SPDY.ProtocolError(description: "a header block counts \(count) pairs it cannot hold") }
        var out: [(String, String)] = []
        for _ in 0..<count { out.append((try text(), try text())) }
        return out
    }
}
