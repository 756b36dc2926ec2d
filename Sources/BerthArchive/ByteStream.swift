import BerthContent
import BerthOCI
import BerthSystem
import CArchive
import Glibc

/// The decompressed bytes of a file that may be plain, gzip, zstd, xz or bzip2, hashed as they
/// pass: the digest of a layer's uncompressed tar is its diffID. Gzip, what nearly every layer
/// is, goes through ISA-L (`GzipInflater`) where it is installed; everything else through
/// libarchive's filters.
public final class DecompressedStream {
    private enum Decoder {
        case gzip(GzipInflater)
        case archive(OpaquePointer, PrefixedInput)
    }

    private let decoder: Decoder
    let hasher = SHA256()
    public private(set) var count: Int64 = 0
    /// Told how many bytes of the input (compressed, as stored) have been read, after each
    /// block: what `docker load`'s bars count.
    public var onRead: ((Int64) -> Void)?
    /// Set when a consumer's read failed inside a C callback, to be rethrown outside it.
    var failure: Error?
    private var exhausted = false

    /// Reads from `fd`, which stays owned by the caller. The first bytes say gzip or not; a pipe
    /// cannot give them back, so libarchive is handed them before the rest of `fd`.
    public init(fd: Int32) throws {
        let prefix = try Self.readPrefix(fd, count: 2)
        if prefix == [0x1f, 0x8b], let isal = GzipInflater.Library.shared {
            decoder = .gzip(GzipInflater(isal, fd: fd, prefix: prefix))
            return
        }
        let archive = archive_read_new()!
        let input = PrefixedInput(fd: fd, prefix: prefix)
        decoder = .archive(archive, input)
        archive_read_support_filter_all(archive)
        archive_read_support_format_raw(archive)
        archive_read_support_format_empty(archive)
        guard archive_read_open(archive, Unmanaged.passUnretained(input).toOpaque(), nil, PrefixedInput.read, nil) == ARCHIVE_OK else {
            throw input.failure ?? ArchiveError.malformed(Self.message(archive))  // deinit frees
        }
        var entry: OpaquePointer?
        let rc = archive_read_next_header(archive, &entry)
        if rc == ARCHIVE_EOF { exhausted = true }
        else if rc != ARCHIVE_OK {
            throw input.failure ?? ArchiveError.malformed(Self.message(archive))  // deinit frees
        }
    }

    deinit { if case .archive(let archive, _) = decoder { archive_read_free(archive) } }

    /// Up to `count` bytes from the start of `fd`: fewer only at its end.
    static func readPrefix(_ fd: Int32, count: Int) throws -> [UInt8] {
        var prefix = [UInt8](repeating: 0, count: count)
        var have = 0
        while have < count {
            let n = try prefix.withUnsafeMutableBytes { raw in
                try sys("read", "the layer stream") { Int32(truncatingIfNeeded: read(fd, raw.baseAddress! + have, count - have)) }
            }
            if n == 0 { break }
            have += Int(n)
        }
        return Array(prefix[0..<have])
    }

    /// The next block of decompressed bytes (valid until the next call), or nil at the end.
    public func nextBlock() throws -> UnsafeRawBufferPointer? {
        guard !exhausted else { return nil }
        let block: UnsafeRawBufferPointer
        let read: Int64
        switch decoder {
        case .gzip(let inflater):
            guard let next = try inflater.next() else { exhausted = true; return nil }
            block = next
            read = inflater.consumed
        case .archive(let archive, let input):
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: Int64 = 0
            let rc = archive_read_data_block(archive, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF { exhausted = true; return nil }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else { throw input.failure ?? ArchiveError.malformed(Self.message(archive)) }
            block = UnsafeRawBufferPointer(start: buffer, count: size)
            read = archive_filter_bytes(archive, -1)
        }
        hasher.update(block)
        count += Int64(block.count)
        onRead?(read)
        return block
    }

    /// Reads to the end (so the digest covers everything) and returns the digest.
    public func finish() throws -> Digest {
        while try nextBlock() != nil {}
        return hasher.finish()
    }

    static func message(_ a: OpaquePointer?) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unreadable data"
    }
}

/// libarchive's input: the bytes already read to sniff the format, then the rest of the descriptor.
final class PrefixedInput {
    let fd: Int32
    var prefix: [UInt8]
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
    /// A read that failed inside the callback, rethrown outside it.
    var failure: Error?

    init(fd: Int32, prefix: [UInt8]) {
        self.fd = fd
        self.prefix = prefix
    }

    deinit { buffer.deallocate() }

    static let read: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int = { _, client, out in
        let input = Unmanaged<PrefixedInput>.fromOpaque(client!).takeUnretainedValue()
        let base = input.buffer.baseAddress!
        var n: Int
        if !input.prefix.isEmpty {
            n = input.prefix.count
            _ = input.prefix.withUnsafeBytes { memcpy(base, $0.baseAddress!, n) }
            input.prefix = []
        } else {
            do {
                n = Int(try sys("read", "the layer stream") { Int32(truncatingIfNeeded: Glibc.read(input.fd, base, input.buffer.count)) })
            } catch {
                input.failure = error
                return -1
            }
        }
        out?.pointee = UnsafeRawPointer(base)
        return n
    }
}
