import BerthSystem
import CArchive
import Glibc

/// Gzip of a whole blob, as `docker push` sends a layer that is stored uncompressed. The header
/// carries no timestamp or name, so one layer always compresses to the same bytes: a second
/// push finds the blob already in the registry, and a re-push of a pulled image keeps its digest.
public enum Gzip {
    /// Reads `fd` to its end and writes the gzip stream through `output`.
    public static func compress(fd: Int32, into output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        var st = stat()
        fstat(fd, &st)
        try compress(size: Int64(st.st_size), into: output) { write in try FileIO.forEachBlock(fd, path: "layer", write) }
    }

    /// The gzip stream of `bytes` (a build context read from stdin) through `output`.
    public static func compress(_ bytes: [UInt8], into output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        try compress(size: Int64(bytes.count), into: output) { write in try bytes.withUnsafeBytes { try write($0) } }
    }

    /// `size` bytes, handed over by `produce` in pieces, compressed through `output`.
    static func compress(size: Int64, into output: @escaping (UnsafeRawBufferPointer) throws -> Void,
                         produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let archive = archive_write_new()
        defer { archive_write_free(archive) }
        archive_write_set_format_raw(archive)
        archive_write_add_filter_gzip(archive)
        archive_write_set_bytes_per_block(archive, 0)
        archive_write_set_bytes_in_last_block(archive, 1)
        guard archive_write_set_options(archive, "gzip:!timestamp") == ARCHIVE_OK else {
            throw ArchiveError.malformed(DecompressedStream.message(archive))
        }
        final class Sink {
            let output: (UnsafeRawBufferPointer) throws -> Void
            var failure: Error?
            init(_ output: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.output = output }
        }
        let sink = Sink(output)
        let box = Unmanaged.passRetained(sink)
        defer { box.release() }
        let write: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeRawPointer?, Int) -> Int = { _, client, buffer, length in
            let sink = Unmanaged<Sink>.fromOpaque(client!).takeUnretainedValue()
            do { try sink.output(UnsafeRawBufferPointer(start: buffer, count: length)) } catch {
                sink.failure = error
                return -1
            }
            return length
        }
        func check(_ rc: Int32) throws {
            if rc < ARCHIVE_WARN { throw sink.failure ?? ArchiveError.malformed(DecompressedStream.message(archive)) }
        }
        try check(archive_write_open(archive, box.toOpaque(), nil, write, nil))
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, TarEntry.typeFile)
        archive_entry_set_size(entry, size)
        archive_entry_set_pathname_utf8(entry, "layer.tar")
        try check(archive_write_header(archive, entry))
        try produce { piece in
            guard piece.count > 0 else { return }
            if archive_write_data(archive, piece.baseAddress, piece.count) < 0 {
                throw sink.failure ?? ArchiveError.malformed(DecompressedStream.message(archive))
            }
        }
        try check(archive_write_close(archive))
    }
}
