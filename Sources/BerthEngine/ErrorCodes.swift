import BerthAPI
import BerthOCI
import BerthSystem

// The kinds of the errors of the modules below the system layer (OCI types, the wire models),
// which know nothing of `ErrorCode`: input that does not parse is the client's error.
extension Reference.ParseError: CodedError {
    public var code: ErrorCode { .invalid }
}

extension Digest.ParseError: CodedError {
    public var code: ErrorCode { .invalid }
}

extension WireDecodingError: CodedError {
    public var code: ErrorCode { .invalid }
}
