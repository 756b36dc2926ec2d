import BerthAPI
import BerthEngine
import FoundationEssentials

/// JSON a client sends base64url-encoded in a header (`X-Registry-Auth`, a build's secrets and
/// agents); some clients send standard base64, which is accepted too.
enum HeaderJSON {
    /// nil when the header is absent or empty; a malformed one is the client's error.
    static func decode<T: Decodable>(_ type: T.Type, _ req: APIRequest, _ name: String) throws -> T? {
        guard let header = req.headers[name].first, !header.isEmpty else { return nil }
        var text = String(header.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while text.utf8.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { throw EngineError.invalid("\(name): not base64") }
        do { return try WireDecoder.decode(T.self, from: Array(data)) } catch { throw EngineError.invalid("\(name): \(error)") }
    }
}
