import BerthEngine
import BerthSystem
import BerthImage
import BerthOCI
import BerthRegistry
import GRPCCore
import GRPCProtobuf
import Logging
import SwiftProtobuf

extension RPCRouter {
    /// Registers a unary RPC. Every failure leaves through `CRIStatus.rpcError`, the one place
    /// where Berth's errors become gRPC statuses, and is logged with the method's name.
    mutating func unary<Input: SwiftProtobuf.Message, Output: SwiftProtobuf.Message>(
        _ method: MethodDescriptor, log: Logger, _ body: @escaping @Sendable (Input) async throws -> Output
    ) {
        registerHandler(forMethod: method, deserializer: ProtobufDeserializer<Input>(), serializer: ProtobufSerializer<Output>()) { request, _ in
            let single = try await ServerRequest(stream: request)
            do {
                return StreamingServerResponse(single: ServerResponse(message: try await body(single.message)))
            } catch {
                let status = CRIStatus.rpcError(error)
                if status.code == .notFound {
                    log.debug("CRI \(method.method): \(describeWithCauses(error))")
                } else {
                    log.warning("CRI \(method.method) failed: \(describeWithCauses(error))", metadata: ["code": "\(status.code)"])
                }
                throw status
            }
        }
    }
}

/// The statuses the CRI code raises itself, with containerd's codes for the same conditions.
enum RPCStatus {
    static func invalid(_ message: String) -> RPCError { RPCError(code: .invalidArgument, message: message) }
    static func notFound(_ message: String) -> RPCError { RPCError(code: .notFound, message: message) }
    static func exists(_ message: String) -> RPCError { RPCError(code: .alreadyExists, message: message) }
    static func unavailable(_ message: String) -> RPCError { RPCError(code: .unavailable, message: message) }
}

/// Berth's errors as gRPC statuses, with the codes containerd's CRI plugin answers for the same
/// conditions (its errdefs mapping: not found, invalid argument, failed precondition, …).
enum CRIStatus {
    static func rpcError(_ error: any Error) -> RPCError {
        if let rpc = error as? RPCError { return rpc }
        guard let coded = error as? CodedError else { return RPCError(code: .unknown, message: "\(error)") }
        let code: RPCError.Code
        switch coded.code {
        case .notFound: code = .notFound
        case .invalid, .tooLarge: code = .invalidArgument
        case .conflict, .notModified: code = .failedPrecondition
        case .forbidden, .unauthorized: code = .permissionDenied
        case .unavailable, .upstream: code = .unavailable
        case .notImplemented: code = .unimplemented
        case .internal: code = .internalError
        }
        return RPCError(code: code, message: coded.description)
    }
}
