import BerthEngine
import BerthImage
import BerthOCI
import BerthRegistry
import GRPCCore
import Testing
@testable import BerthCRI

/// The pure mappings of the CRI server: how an image's USER and a kubelet's auth config are read,
/// and which gRPC status each of Berth's errors becomes.
@Suite struct CRIMappingTests {
    @Test(arguments: [("", nil, ""), ("1002", 1002, ""), ("1002:1002", 1002, ""), ("nobody", nil, "nobody"),
                      ("www-data:www-data", nil, "www-data"), ("0", 0, "")] as [(String, Int64?, String)])
    func imageUserAsUIDOrName(text: String, uid: Int64?, name: String) {
        let user = CRIImages.user(text)
        #expect(user.uid == uid && user.username == name)
    }

    @Test func authConfigs() {
        #expect(RegistryCredentials.given(username: "", password: "", auth: "", identityToken: "", registryToken: "") == nil)
        // `auth` is base64 of user:password and stands in for an empty username
        #expect(RegistryCredentials.given(username: "", password: "", auth: "YmVydGg6czNjcmV0", identityToken: "", registryToken: "")
                == RegistryCredentials(username: "berth", password: "s3cret"))
        #expect(RegistryCredentials.given(username: "a", password: "b", auth: "YmVydGg6czNjcmV0", identityToken: "", registryToken: "")
                == RegistryCredentials(username: "a", password: "b"))
        #expect(RegistryCredentials.given(username: "", password: "", auth: "", identityToken: "", registryToken: "t")
                == RegistryCredentials(registryToken: "t"))
    }

    @Test func errorsBecomeStatuses() throws {
        #expect(CRIStatus.rpcError(EngineError.notFound("No such container: x")).code == .notFound)
        #expect(CRIStatus.rpcError(EngineError.invalid("bad")).code == .invalidArgument)
        #expect(CRIStatus.rpcError(EngineError.conflict("busy")).code == .failedPrecondition)
        #expect(CRIStatus.rpcError(ImageError.notFound("busybox")).code == .notFound)
        #expect(CRIStatus.rpcError(ImageError.ambiguous("ab")).code == .invalidArgument)
        #expect(CRIStatus.rpcError(RegistryError.unauthorized("no")).code == .permissionDenied)
        let parse = try #require(throws: Reference.ParseError.self) { try Reference(parsing: "UPPERCASE") }
        #expect(CRIStatus.rpcError(parse).code == .invalidArgument)
        #expect(CRIStatus.rpcError(RPCError(code: .aborted, message: "kept")).code == .aborted)
    }
}
