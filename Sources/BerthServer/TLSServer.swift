import BerthEngine
import BerthRegistry
import CCrypto
import Glibc
import NIOCore

/// dockerd's `--tls`/`--tlsverify` for TCP listeners: the daemon's certificate and key, and with
/// `verify` only clients holding a certificate signed by `caFile` get past the handshake. The API
/// is root on the host, so a listener off loopback must never be reachable without one.
public struct TLSServerOptions: Sendable {
    public var certFile: String
    public var keyFile: String
    public var caFile: String
    public var verify: Bool

    public init(certFile: String, keyFile: String, caFile: String, verify: Bool) {
        self.certFile = certFile; self.keyFile = keyFile; self.caFile = caFile; self.verify = verify
    }
}

/// One OpenSSL server context, loaded at start: a bad certificate stops the daemon with the
/// file's name rather than failing every handshake later.
final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer

    init(_ options: TLSServerOptions) throws {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw Self.error("cannot create a TLS context") }
        context = ctx
        // TLS 1.2 at least, as dockerd's default tls.Config.
        _ = SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        guard SSL_CTX_use_certificate_chain_file(ctx, options.certFile) == 1 else { throw Self.error("cannot load the server certificate \(options.certFile)") }
        guard SSL_CTX_use_PrivateKey_file(ctx, options.keyFile, SSL_FILETYPE_PEM) == 1 else { throw Self.error("cannot load the server key \(options.keyFile)") }
        guard SSL_CTX_check_private_key(ctx) == 1 else { throw Self.error("the key \(options.keyFile) does not match \(options.certFile)") }
        if options.verify {
            guard SSL_CTX_load_verify_locations(ctx, options.caFile, nil) == 1, let names = SSL_load_client_CA_file(options.caFile) else {
                throw Self.error("cannot load the CA certificate \(options.caFile)")
            }
            SSL_CTX_set_client_CA_list(ctx, names)
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
    }

    deinit { SSL_CTX_free(context) }

    static func error(_ what: String) -> EngineError { EngineError.invalid(what + ": " + OpenSSLError.last()) }
}

/// TLS for one connection, between the socket and the HTTP codec: ciphertext in and out through
/// memory BIOs, plaintext ByteBuffers to the handlers above (which, hijacked or not, never know).
final class TLSServerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = ByteBuffer

    let context: TLSServerContext  // kept alive as long as the session
    let ssl: OpaquePointer
    let network: OpaquePointer  // ciphertext written by OpenSSL, to send
    var established = false
    var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    var scratch = [UInt8](repeating: 0, count: 16384)

    init(context: TLSServerContext) {
        self.context = context
        ssl = SSL_new(context.context)
        let incoming = BIO_new(BIO_s_mem())!
        network = BIO_new(BIO_s_mem())!
        SSL_set_bio(ssl, incoming, network)  // the session owns both
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 { _ = BIO_write(SSL_get_rbio(ssl), base, Int32(raw.count)) }
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        if !established {
            let status = SSL_do_handshake(ssl)
            sendCiphertext(context, promise: nil)
            context.flush()
            guard status == 1 else {
                if SSL_get_error(ssl, status) != SSL_ERROR_WANT_READ { fail(context) }
                return
            }
            established = true
            for (plaintext, promise) in pending { encrypt(context, plaintext, promise: promise) }
            pending = []
            context.flush()
        }
        while true {
            let n = SSL_read(ssl, &scratch, Int32(scratch.count))
            if n > 0 {
                context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: scratch[..<Int(n)])))
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ: break
            case SSL_ERROR_ZERO_RETURN: context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)  // close_notify: a half-close
            default: fail(context)
            }
            break
        }
        sendCiphertext(context, promise: nil)
        context.flush()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(let plaintext) = unwrapOutboundIn(data) else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        guard established else { return pending.append((plaintext, promise)) }
        encrypt(context, plaintext, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if established && mode != .input {
            SSL_shutdown(ssl)  // close_notify, so the client tells a clean end from a cut
            sendCiphertext(context, promise: nil)
            context.flush()
        }
        for (_, waiting) in pending { waiting?.fail(ChannelError.ioOnClosedChannel) }
        pending = []
        context.close(mode: mode, promise: promise)
    }

    private func encrypt(_ context: ChannelHandlerContext, _ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?) {
        let written = plaintext.withUnsafeReadableBytes { raw -> Bool in
            guard let base = raw.baseAddress, raw.count > 0 else { return true }
            return SSL_write(ssl, base, Int32(raw.count)) == Int32(raw.count)  // memory BIOs take it all
        }
        guard written else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return fail(context)
        }
        sendCiphertext(context, promise: promise)
    }

    /// Everything OpenSSL has produced so far, as one write.
    private func sendCiphertext(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let bio = SSL_get_wbio(ssl)
        let available = Int(BIO_ctrl_pending(bio))
        guard available > 0 else {
            promise?.succeed(())
            return
        }
        var out = context.channel.allocator.buffer(capacity: available)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: available) { raw in Int(max(0, BIO_read(bio, raw.baseAddress, Int32(available)))) }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    /// A failed handshake or a corrupt record: the alert OpenSSL wrote goes out, then the connection closes.
    private func fail(_ context: ChannelHandlerContext) {
        ERR_clear_error()
        sendCiphertext(context, promise: nil)
        context.flush()
        established = false
        context.close(promise: nil)
    }
}
