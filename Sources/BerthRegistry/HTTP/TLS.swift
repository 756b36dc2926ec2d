import CCrypto
import Glibc

/// How to speak TLS to one registry host: Docker's rules (system CAs plus a host's `certs.d`
/// directory; verification off only for an insecure registry).
public struct TLSOptions: Sendable, Hashable {
    public var verify: Bool
    /// Extra trust anchors (`certs.d/<host>/*.crt`).
    public var caFiles: [String]
    /// Client certificate and key (`certs.d/<host>/*.cert` and the matching `.key`).
    public var clientCertificate: (cert: String, key: String)?
    /// Inode and modification time of each file: a replaced certificate gets a new context.
    let versions: [Int]

    public init(verify: Bool = true, caFiles: [String] = [], clientCertificate: (cert: String, key: String)? = nil) {
        self.verify = verify
        self.caFiles = caFiles
        self.clientCertificate = clientCertificate
        versions = (caFiles + [clientCertificate?.cert, clientCertificate?.key].compactMap { $0 }).flatMap { path -> [Int] in
            var st = stat()
            guard stat(path, &st) == 0 else { return [0] }
            return [Int(st.st_ino), st.st_mtim.tv_sec, st.st_mtim.tv_nsec]
        }
    }

    public static func == (a: TLSOptions, b: TLSOptions) -> Bool {
        a.verify == b.verify && a.caFiles == b.caFiles && a.clientCertificate?.cert == b.clientCertificate?.cert
            && a.clientCertificate?.key == b.clientCertificate?.key && a.versions == b.versions
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(verify)
        hasher.combine(caFiles)
        hasher.combine(clientCertificate?.cert)
        hasher.combine(clientCertificate?.key)
        hasher.combine(versions)
    }
}

/// OpenSSL's reason for the last failure on this thread, for messages that name the file or step.
public enum OpenSSLError {
    public static func last() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One OpenSSL context per option set: loading the system CA bundle costs milliseconds, a
/// handshake should not pay it again.
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    init(_ options: TLSOptions) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw RegistryError.tls("cannot create a TLS context: \(OpenSSLError.last())") }
        context = ctx
        SSL_CTX_set_verify(ctx, options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        SSL_CTX_set_default_verify_paths(ctx)
        for file in options.caFiles where SSL_CTX_load_verify_locations(ctx, file, nil) != 1 {
            throw RegistryError.tls("cannot load CA certificate \(file): \(OpenSSLError.last())")
        }
        if let (cert, key) = options.clientCertificate {
            guard SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 else { throw RegistryError.tls("cannot load client certificate \(cert): \(OpenSSLError.last())") }
            guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else { throw RegistryError.tls("cannot load client key \(key): \(OpenSSLError.last())") }
        }
    }

    deinit { SSL_CTX_free(context) }
}

/// A TLS session over a connected blocking socket.
final class TLSStream {
    let ssl: OpaquePointer
    let context: TLSContext  // kept alive as long as the session

    init(fd: Int32, host: String, context: TLSContext, verify: Bool) throws {
        guard let ssl = SSL_new(context.context) else { throw RegistryError.tls("cannot create a TLS session: \(OpenSSLError.last())") }
        self.ssl = ssl
        self.context = context
        SSL_set_fd(ssl, fd)
        let isAddress = host.contains(":") || host.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        if !isAddress { _ = berth_ssl_set_sni(ssl, host) }
        if verify {
            if isAddress { X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) } else { SSL_set1_host(ssl, host) }
        }
        guard SSL_connect(ssl) == 1 else {
            let result = SSL_get_verify_result(ssl)
            let reason = result != X509_V_OK ? "x509: " + String(cString: X509_verify_cert_error_string(result)) : OpenSSLError.last()
            throw RegistryError.tls("TLS handshake with \(host) failed: \(reason)")
        }
    }

    deinit { SSL_free(ssl) }

    func read(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 { return Int(n) }
        let error = SSL_get_error(ssl, n)
        if error == SSL_ERROR_ZERO_RETURN { return 0 }
        // A peer that closes without close_notify is common (and harmless for framed bodies).
        if error == SSL_ERROR_SYSCALL && errno == 0 { return 0 }
        throw RegistryError.connection("TLS read failed: \(error == SSL_ERROR_SYSCALL ? String(cString: strerror(errno)) : OpenSSLError.last())")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = SSL_write(ssl, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, 1 << 20)))
            guard n > 0 else { throw RegistryError.connection("TLS write failed: \(OpenSSLError.last())") }
            offset += Int(n)
        }
    }

    func shutdown() { SSL_shutdown(ssl) }
}
