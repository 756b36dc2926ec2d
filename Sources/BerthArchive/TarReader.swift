import CArchive
import Glibc

/// Reads tar entries (ustar, pax, GNU) from a `DecompressedStream`, so the same pass yields the
/// entries and the diffID of the uncompressed tar.
public final class TarReader {
    let archive: OpaquePointer
    public let stream: DecompressedStream
    private var box: Unmanaged<DecompressedStream>

    public init(stream: DecompressedStream) throws {
        self.stream = stream
        archive = archive_read_new()
        archive_read_support_format_tar(archive)
        archive_read_support_format_empty(archive)
        box = Unmanaged.passRetained(stream)
        let read: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int = { a, client, out in
            let stream = Unmanaged<DecompressedStream>.fromOpaque(client!).takeUnretainedValue()
            do {
                guard let block = try stream.nextBlock() else { return 0 }
                out?.pointee = block.baseAddress
                return block.count
            } catch {
                stream.failure = error  // libarchive's own error setter is variadic, out of Swift's reach
                return -1
            }
        }
        guard archive_read_open(archive, box.toOpaque(), nil, read, nil) == ARCHIVE_OK else {
            throw ArchiveError.malformed(DecompressedStream.message(archive))  // deinit frees
        }
    }

    /// Opens `fd` (plain or compressed) for reading; the caller keeps ownership of `fd`.
    public convenience init(fd: Int32) throws {
        try self.init(stream: DecompressedStream(fd: fd))
    }

    deinit {
        archive_read_free(archive)
        box.release()
    }

    /// The next header, or nil at the end of the archive.
    public func next() throws -> TarEntry? {
        var entryPointer: OpaquePointer?
        let rc = archive_read_next_header(archive, &entryPointer)
        if rc == ARCHIVE_EOF { return nil }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let e = entryPointer else {
            throw failure()
        }
        let rawPath = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        let hardlink = archive_entry_hardlink(e).map { String(cString: $0) }
        let kind: TarEntry.Kind
        switch archive_entry_filetype(e) {
        case _ where hardlink != nil: kind = .hardlink
        case TarEntry.typeDirectory: kind = .directory
        case TarEntry.typeSymlink: kind = .symlink
        case TarEntry.typeCharacter: kind = .character
        case TarEntry.typeBlock: kind = .block
        case TarEntry.typeFIFO: kind = .fifo
        case TarEntry.typeFile: kind = .file
        default: throw ArchiveError.unsupported("\(rawPath): unknown file type")
        }
        var entry = TarEntry(path: rawPath, kind: kind, mode: UInt32(archive_entry_perm(e)) & 0o7777,
                             size: archive_entry_size_is_set(e) != 0 ? archive_entry_size(e) : 0)
        entry.uid = UInt32(truncatingIfNeeded: archive_entry_uid(e))
        entry.gid = UInt32(truncatingIfNeeded: archive_entry_gid(e))
        entry.mtime = timespec(tv_sec: archive_entry_mtime(e), tv_nsec: archive_entry_mtime_nsec(e))
        entry.linkTarget = hardlink ?? (kind == .symlink ? archive_entry_symlink(e).map { String(cString: $0) } : nil)
        entry.deviceMajor = UInt32(archive_entry_rdevmajor(e))
        entry.deviceMinor = UInt32(archive_entry_rdevminor(e))
        archive_entry_xattr_reset(e)
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
            guard let name else { continue }
            entry.xattrs[String(cString: name)] = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
        }
        return entry
    }

    /// The reason for a failed read: the stream's own error if it failed, else libarchive's.
    func failure() -> Error {
        stream.failure ?? ArchiveError.malformed(DecompressedStream.message(archive))
    }

    /// Calls `body` with each block of the current entry's data and its offset in the file.
    public func forEachBlock(_ body: (Int64, UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: Int64 = 0
        while true {
            let rc = archive_read_data_block(archive, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF { return }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else { throw failure() }
            try body(offset, UnsafeRawBufferPointer(start: buffer, count: size))
        }
    }

    /// Copies the current entry's data to `fd` (sparse holes stay holes); returns its end offset.
    @discardableResult
    public func copyData(to fd: Int32, path: String) throws -> Int64 {
        var end: Int64 = 0
        try forEachBlock { offset, block in
            var written = 0
            while written < block.count {
                let n = pwrite(fd, block.baseAddress! + written, block.count - written, off_t(offset) + written)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ArchiveError.malformed("write \(path): \(String(cString: strerror(errno)))")
                }
                written += n
            }
            end = offset + Int64(block.count)
        }
        return end
    }

    /// The current entry's data in memory (for small files such as manifest.json).
    public func readData(limit: Int = 64 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        try forEachBlock { offset, block in
            // Checked before growing: a sparse entry may place its first block 10 GB in.
            guard offset + Int64(block.count) <= Int64(limit) else { throw ArchiveError.malformed("entry larger than \(limit) bytes") }
            if Int(offset) > out.count { out += [UInt8](repeating: 0, count: Int(offset) - out.count) }
            out += block
        }
        return out
    }
}
