import BerthSystem
import CIsal
import Glibc

/// Gunzip of a stream read from a descriptor, by ISA-L's inflate: about twice zlib's speed on a
/// layer's text, and a pull unpacks every layer while it downloads, on every core. Concatenated
/// members are read in turn, each one's CRC and length checked as ISA-L parses its trailer; bytes
/// after the last member that do not start another are ignored, as libarchive's gzip reader
/// ignores them: the layer's diffID covers only what was decompressed.
final class GzipInflater {
    /// ISA-L's entry points, opened at run time: Debian ships no static libisal for the static
    /// `berth` CLI (which never reads a layer), and without the library layers still unpack,
    /// through libarchive's zlib.
    struct Library: Sendable {
        typealias Call = @convention(c) (UnsafeMutablePointer<inflate_state>?) -> Void
        typealias Inflate = @convention(c) (UnsafeMutablePointer<inflate_state>?) -> Int32
        let initialize: Call
        let reset: Call
        let inflate: Inflate

        static let shared: Library? = {
            guard let handle = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL),
                  let initialize = dlsym(handle, "isal_inflate_init"), let reset = dlsym(handle, "isal_inflate_reset"),
                  let inflate = dlsym(handle, "isal_inflate") else { return nil }
            return Library(initialize: unsafeBitCast(initialize, to: Call.self), reset: unsafeBitCast(reset, to: Call.self),
                           inflate: unsafeBitCast(inflate, to: Inflate.self))
        }()
    }

    private let isal: Library
    private let fd: Int32
    private let state = UnsafeMutablePointer<inflate_state>.allocate(capacity: 1)
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 64)
    private var atEOF = false
    /// Between members: the last one's trailer was read and no other has begun.
    private var betweenMembers = false
    /// Compressed bytes read from `fd` so far.
    private(set) var consumed: Int64 = 0

    /// `prefix`: what the caller already read from `fd` to see that it is gzip.
    init(_ isal: Library, fd: Int32, prefix: [UInt8]) {
        self.isal = isal
        self.fd = fd
        isal.initialize(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
        _ = prefix.withUnsafeBytes { input.copyMemory(from: $0) }
        state.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_in = UInt32(prefix.count)
        consumed = Int64(prefix.count)
    }

    deinit {
        state.deallocate()
        input.deallocate()
        output.deallocate()
    }

    /// The next block of decompressed bytes (valid until the next call), or nil at the end.
    func next() throws -> UnsafeRawBufferPointer? {
        while true {
            if state.pointee.avail_in == 0 && !atEOF { try refill() }
            if betweenMembers {
                guard state.pointee.avail_in >= 2 || atEOF else { try refill(); continue }
                let next = state.pointee.next_in!
                guard state.pointee.avail_in >= 2, next[0] == 0x1f, next[1] == 0x8b else { return nil }
                isal.reset(state)
                state.pointee.crc_flag = UInt32(ISAL_GZIP)
                betweenMembers = false
            }
            let before = state.pointee.avail_in
            state.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = UInt32(output.count)
            let rc = isal.inflate(state)
            guard rc >= 0 else { throw ArchiveError.malformed("gzip: \(Self.describe(rc)) (isal_inflate \(rc))") }
            let produced = output.count - Int(state.pointee.avail_out)
            if state.pointee.block_state == ISAL_BLOCK_FINISH { betweenMembers = true }
            if produced > 0 { return UnsafeRawBufferPointer(rebasing: output[0..<produced]) }
            if betweenMembers { continue }
            if state.pointee.avail_in == 0 || state.pointee.avail_in == before {  // it needs more input
                if atEOF { throw ArchiveError.malformed("gzip: the stream ends inside a member") }
                try refill()
            }
        }
    }

    /// Moves what is left of the input to the buffer's start and reads more after it.
    private func refill() throws {
        let left = Int(state.pointee.avail_in)
        guard left < input.count else { throw ArchiveError.malformed("gzip: no progress decoding a full buffer") }
        let base = input.baseAddress!
        if left > 0 { memmove(base, state.pointee.next_in, left) }
        let n = Int(try sys("read", "the layer stream") { Int32(truncatingIfNeeded: read(fd, base + left, input.count - left)) })
        if n == 0 { atEOF = true }
        consumed += Int64(n)
        state.pointee.next_in = base.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_in = UInt32(left + n)
    }

    static func describe(_ rc: Int32) -> String {
        switch rc {
        case ISAL_INVALID_BLOCK: "invalid deflate block"
        case ISAL_INVALID_SYMBOL: "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: "invalid back-reference distance"
        case ISAL_INVALID_WRAPPER: "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: "unsupported compression method"
        case ISAL_INCORRECT_CHECKSUM: "checksum mismatch (CRC-32 or length in the trailer)"
        default: "inflate error"
        }
    }
}
