import BerthContent
import BerthOCI
import CArchive
import Glibc

/// The decompressed bytes of a file that may be plain, gzip, zstd, xz or bzip2 (detected by
/// libarchive), hashed as they pass: the digest of a layer's uncompressed tar is its diffID.
public final class DecompressedStream {
    let archive: OpaquePointer
    let hasher = SHA256()
    public private(set) var count: Int64 = 0
    /// Told how many bytes of the input (compressed, as stored) have been read, after each
    /// block: what `docker load`'s bars count.
    public var onRead: ((Int64) -> Void)?
    /// Set when a consumer's read failed inside a C callback, to be rethrown outside it.
    var failure: Error?
    private var exhausted = false

    /// Reads from `fd`, which stays owned by the caller.
    public init(fd: Int32) throws {
        archive = archive_read_new()
        archive_read_support_filter_all(archive)
        archive_read_support_format_raw(archive)
        archive_read_support_format_empty(archive)
        guard archive_read_open_fd(archive, fd, 1 << 20) == ARCHIVE_OK else {
            throw ArchiveError.malformed(Self.message(archive))  // deinit frees
        }
        var entry: OpaquePointer?
        let rc = archive_read_next_header(archive, &entry)
        if rc == ARCHIVE_EOF { exhausted = true }
        else if rc != ARCHIVE_OK {
            throw ArchiveError.malformed(Self.message(archive))  // deinit frees
        }
    }

    deinit { archive_read_free(archive) }

    /// The next block of decompressed bytes (valid until the next call), or nil at the end.
    public func nextBlock() throws -> UnsafeRawBufferPointer? {
        guard !exhausted else { return nil }
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: Int64 = 0
        let rc = archive_read_data_block(archive, &buffer, &size, &offset)
        if rc == ARCHIVE_EOF { exhausted = true; return nil }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else { throw ArchiveError.malformed(Self.message(archive)) }
        let block = UnsafeRawBufferPointer(start: buffer, count: size)
        hasher.update(block)
        count += Int64(size)
        onRead?(archive_filter_bytes(archive, -1))
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
