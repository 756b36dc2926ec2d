/// A content digest, `algorithm:hex` (OCI image-spec descriptor.md "Digests"). Only sha256 and
/// sha512 are accepted; the hex is checked for length and lowercase so one blob has one name.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let algorithm: String
    public let hex: String

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case invalid(String)
        public var description: String {
            guard case .invalid(let s) = self else { return "" }
            return "invalid digest \"\(s)\": expected sha256:<64 lowercase hex digits>"
        }
    }

    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else { throw ParseError.invalid(text) }
        let algorithm = String(text[..<colon]), hex = String(text[text.index(after: colon)...])
        let length: Int
        switch algorithm {
        case "sha256": length = 64
        case "sha512": length = 128
        default: throw ParseError.invalid(text)
        }
        guard hex.utf8.count == length, hex.utf8.allSatisfy(Self.isLowerHex) else { throw ParseError.invalid(text) }
        self.algorithm = algorithm
        self.hex = hex
    }

    public init(sha256 hex: String) throws { try self.init(parsing: "sha256:" + hex) }

    public static func isLowerHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }

    public var description: String { algorithm + ":" + hex }
    /// Docker's 12-character short ID.
    public var shortID: String { String(hex.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { a.description < b.description }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
