import BerthOCI
import BerthSystem
import CCrypto
import Glibc

/// Streaming SHA-256 on OpenSSL's libcrypto (hardware-accelerated, no package to build).
public final class SHA256 {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest of everything so far; the hasher is spent afterwards.
    public func finish() -> Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        let table = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for b in out { hex.append(table[Int(b >> 4)]); hex.append(table[Int(b & 15)]) }
        // Always 64 lowercase hex digits, so this cannot fail.
        return try! Digest(sha256: String(decoding: hex, as: UTF8.self))
    }

    /// The digest of what `fd` holds from its offset to the end, read 1 MiB at a time.
    public static func digest(fd: Int32, path: String? = nil) throws -> Digest {
        let h = SHA256()
        try FileIO.forEachBlock(fd, path: path) { h.update($0) }
        return h.finish()
    }

    public static func digest(_ bytes: [UInt8]) -> Digest {
        let h = SHA256()
        h.update(bytes)
        return h.finish()
    }
}
