import BerthDiagnostics
import BerthEngine
import BerthSystem
import Glibc

/// An upload's body (a tar for load, import, build or cp) on its way to a file in the daemon's
/// spool directory. A failed write (that file system full) is kept rather than thrown: the body
/// must still be read to its end, and the request is then refused with the failure instead of
/// reaching its route with a truncated file, which `import` would have taken as a smaller tar.
struct UploadSpool {
    private(set) var path = ""
    private var fd: Int32 = -1
    private(set) var failure: (any Error)?

    init(in directory: String) {
        do {
            path = try FileIO.makeTemporaryDirectory(in: directory, prefix: "upload-") + "/body"
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            if fd < 0 { failure = SystemError("open", path) }
        } catch {
            failure = error
        }
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        do { try FileIO.writeAll(fd, bytes, path: path) } catch { failure = error }
    }

    /// The file holding the whole body, or the failure that cut it (its directory removed then).
    mutating func finish() -> Result<String, EngineError> {
        if fd >= 0 { close(fd); fd = -1 }
        guard let failure else { return .success(path) }
        discard()
        return .failure(.internalError("the request body could not be stored: \(failure)", cause: failure))
    }

    /// Removes an upload its route is done with.
    static func remove(_ bodyFile: String) {
        Router.log.attempt("removing the upload \(bodyFile)") { try FileIO.removeTree(AtomicFile.parentDirectory(of: bodyFile)) }
    }

    /// Drops a body that will not be used: the client left before its end, or it failed.
    mutating func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        if !path.isEmpty { try? FileIO.removeTree(AtomicFile.parentDirectory(of: path)) }  // else swept at the daemon's start
        path = ""
    }
}
