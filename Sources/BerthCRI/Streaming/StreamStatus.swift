import FoundationEssentials

/// The end of an exec or attach as the kubelet reports it on the error channel: a
/// `metav1.Status`, from which kubectl takes the exit code (the `ExitCode` cause of a
/// `NonZeroExitCode` failure).
enum StreamStatus: Equatable {
    case success
    case exited(code: Int32, command: [String])
    case internalError(String)

    /// The v4/v5 error channel's JSON.
    var json: [UInt8] {
        struct Cause: Encodable { var reason: String?; var message: String }
        struct Details: Encodable { var causes: [Cause] }
        struct Metadata: Encodable {}
        struct Status: Encodable {
            var metadata = Metadata()
            var status: String
            var message: String?
            var reason: String?
            var details: Details?
            var code: Int?
        }
        let status: Status
        switch self {
        case .success:
            status = Status(status: "Success")
        case .exited(let code, let command):
            status = Status(status: "Failure",
                            message: "command terminated with non-zero exit code: error executing command [\(command.joined(separator: " "))], exit code \(code)",
                            reason: "NonZeroExitCode", details: Details(causes: [Cause(reason: "ExitCode", message: String(code))]))
        case .internalError(let message):
            status = Status(status: "Failure", message: "Internal error occurred: \(message)", reason: "InternalError",
                            details: Details(causes: [Cause(message: message)]), code: 500)
        }
        return (try? Array(JSONEncoder().encode(status))) ?? Array(#"{"metadata":{},"status":"Failure"}"#.utf8)  // plain strings always encode
    }

    /// What v1 writes on the error channel: an error's text, nothing for a success.
    var text: [UInt8]? {
        switch self {
        case .success: return nil
        case .exited(let code, let command): return Array("error executing command [\(command.joined(separator: " "))], exit code \(code)".utf8)
        case .internalError(let message): return Array(message.utf8)
        }
    }

    /// The farewell message on the error channel for `proto`, if any.
    func message(for proto: ChannelProtocol) -> [UInt8]? {
        if proto.writesStatus { return [ChannelProtocol.error] + json }
        return text.map { [ChannelProtocol.error] + $0 }
    }
}
