import BerthSystem
import CArchive
import Glibc

/// Writes a PAX tar (what Docker and BuildKit write) to a file descriptor or any output,
/// uncompressed or gzip. Whoever needs the digest hashes where the bytes land (a content ingest),
/// so the tar is hashed once, or not at all for a build context or an export.
public final class TarWriter: TreeSink {
    public enum Compression: Sendable { case none, gzip }

    let archive: OpaquePointer
    let sink: Sink
    private var box: Unmanaged<Sink>
    private var closed = false

    /// Where libarchive's output goes: the output and a byte count.
    final class Sink {
        let output: (UnsafeRawBufferPointer) throws -> Void
        var count: Int64 = 0
        var error: Int32 = 0
        init(output: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.output = output }
    }

    public convenience init(fd: Int32, compression: Compression = .none) throws {
        try self.init(compression: compression) { try FileIO.writeAll(fd, $0) }
    }

    /// Writes through `output` (a content-store ingest, for a layer that is hashed as it is made).
    public init(compression: Compression = .none, output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        archive = archive_write_new()
        archive_write_set_format_pax_restricted(archive)
        // 64 KiB per write of the output (tar's 10 KiB records cost a syscall each); the last
        // block unpadded, so the bytes are the same whatever the block size
        archive_write_set_bytes_per_block(archive, 1 << 16)
        archive_write_set_bytes_in_last_block(archive, 1)
        if compression == .gzip { archive_write_add_filter_gzip(archive) }
        sink = Sink(output: output)
        box = Unmanaged.passRetained(sink)
        let write: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeRawPointer?, Int) -> Int = { a, client, buffer, length in
            let sink = Unmanaged<Sink>.fromOpaque(client!).takeUnretainedValue()
            let raw = UnsafeRawBufferPointer(start: buffer, count: length)
            do {
                try sink.output(raw)
            } catch {
                sink.error = errno
                return -1
            }
            sink.count += Int64(length)
            return length
        }
        guard archive_write_open(archive, box.toOpaque(), nil, write, nil) == ARCHIVE_OK else {
            throw ArchiveError.malformed(DecompressedStream.message(archive))  // deinit frees
        }
    }

    deinit {
        if !closed { archive_write_close(archive) }
        archive_write_free(archive)
        box.release()
    }

    /// Writes a header; for files, then exactly `entry.size` bytes follow through `write`.
    public func add(_ entry: TarEntry) throws {
        let e = archive_entry_new()
        defer { archive_entry_free(e) }
        archive_entry_set_pathname_utf8(e, entry.kind == .directory && !entry.path.hasSuffix("/") ? entry.path + "/" : entry.path)
        archive_entry_set_perm(e, mode_t(entry.mode))
        archive_entry_set_uid(e, Int64(entry.uid))
        archive_entry_set_gid(e, Int64(entry.gid))
        archive_entry_set_mtime(e, entry.mtime.tv_sec, entry.mtime.tv_nsec)
        switch entry.kind {
        case .file: archive_entry_set_filetype(e, TarEntry.typeFile); archive_entry_set_size(e, entry.size)
        case .directory: archive_entry_set_filetype(e, TarEntry.typeDirectory)
        case .symlink: archive_entry_set_filetype(e, TarEntry.typeSymlink); archive_entry_set_symlink_utf8(e, entry.linkTarget ?? "")
        case .hardlink: archive_entry_set_filetype(e, TarEntry.typeFile); archive_entry_set_hardlink_utf8(e, entry.linkTarget ?? "")
        case .character: archive_entry_set_filetype(e, TarEntry.typeCharacter)
        case .block: archive_entry_set_filetype(e, TarEntry.typeBlock)
        case .fifo: archive_entry_set_filetype(e, TarEntry.typeFIFO)
        }
        if entry.kind == .character || entry.kind == .block {
            archive_entry_set_rdevmajor(e, dev_t(entry.deviceMajor))
            archive_entry_set_rdevminor(e, dev_t(entry.deviceMinor))
        }
        for (name, value) in entry.xattrs.sorted(by: { $0.key < $1.key }) {
            value.withUnsafeBytes { archive_entry_xattr_add_entry(e, name, $0.baseAddress, $0.count) }
        }
        guard archive_write_header(archive, e) == ARCHIVE_OK else { throw error() }
    }

    /// A header and, for a file, its data from `source`.
    public func add(_ entry: TarEntry, source: Int32?) throws {
        try add(entry)
        if let source { try copy(from: source, size: entry.size, path: entry.path) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        guard archive_write_data(archive, bytes.baseAddress, bytes.count) == bytes.count else { throw error() }
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Copies a file's contents from `fd` (exactly `size` bytes, as its header promised).
    public func copy(from fd: Int32, size: Int64, path: String) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var remaining = size
        while remaining > 0 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, Int(remaining))) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ArchiveError.malformed("\(path) changed size while being archived") }
            try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            remaining -= Int64(n)
        }
    }

    /// Ends the archive and returns the number of bytes written.
    @discardableResult
    public func finish() throws -> Int64 {
        closed = true
        guard archive_write_close(archive) == ARCHIVE_OK else { throw error() }
        return sink.count
    }

    func error() -> ArchiveError {
        if sink.error != 0 { return .malformed("write: \(String(cString: strerror(sink.error)))") }
        return .malformed(DecompressedStream.message(archive))
    }
}
