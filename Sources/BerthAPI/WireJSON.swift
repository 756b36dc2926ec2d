/// A parsed JSON document, as the wire decoder walks it. Numbers keep their text so that an
/// `Int64` field gets every digit (a `Double` would round past 2^53) and the decoder can say
/// exactly what it could not convert.
indirect enum WireJSON {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([WireJSON])
    /// Keys in document order; a repeated key keeps its last value when looked up, as Go does.
    case object(WireObject)

    /// Go's name for the JSON type, used in "cannot unmarshal X into …".
    var goKind: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// An object's members with Go's key matching: an exact key wins, otherwise the first key equal
/// under Unicode case folding (`encoding/json` matches field names case-insensitively).
struct WireObject {
    private(set) var keys: [String] = []
    private var values: [String: WireJSON] = [:]
    private var folded: [String: String] = [:]

    mutating func set(_ key: String, _ value: WireJSON) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
        let fold = key.lowercased()
        if folded[fold] == nil { folded[fold] = key }
    }

    subscript(key: String) -> WireJSON? {
        if let exact = values[key] { return exact }
        return folded[key.lowercased()].flatMap { values[$0] }
    }
}

/// A strict RFC 8259 parser with a nesting bound: a body of ten thousand `[` must get a 400,
/// not exhaust the stack of the thread serving it.
struct WireJSONParser {
    static let maxDepth = 256

    struct Failure: Error {
        let offset: Int
        let reason: String
    }

    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0

    static func parse(_ bytes: [UInt8]) throws(Failure) -> WireJSON {
        var parser = WireJSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.i == bytes.count else { throw Failure(offset: parser.i, reason: "invalid character after top-level value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
    }

    private mutating func fail(_ reason: String) -> Failure { Failure(offset: i, reason: reason) }

    private mutating func value() throws(Failure) -> WireJSON {
        guard let c = peek else { throw fail("unexpected end of JSON input") }
        switch c {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("invalid character '\(Character(Unicode.Scalar(c)))' looking for beginning of value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let text = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard i + text.count <= bytes.count, bytes[i..<i + text.count].elementsEqual(text) else { throw fail("invalid literal") }
        i += text.count
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("exceeded max depth of \(Self.maxDepth)") }
        i += 1
    }

    private mutating func object() throws(Failure) -> WireJSON {
        try enter()
        var members = WireObject()
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("looking for beginning of object key string") }
            let key = try string()
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw fail("after object key") }
            i += 1
            skipSpace()
            members.set(key, try value())
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"): i += 1; depth -= 1; return .object(members)
            default: throw fail("after object key:value pair")
            }
        }
    }

    private mutating func array() throws(Failure) -> WireJSON {
        try enter()
        var items: [WireJSON] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"): i += 1; depth -= 1; return .array(items)
            default: throw fail("after array element")
            }
        }
    }

    private mutating func number() throws(Failure) -> String {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, first >= 0x30, first <= 0x39 else { throw fail("in numeric literal") }
        i += 1
        if first != 0x30 { digits() }
        if peek == UInt8(ascii: ".") {
            i += 1
            guard let d = peek, d >= 0x30, d <= 0x39 else { throw fail("after decimal point in numeric literal") }
            digits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let d = peek, d >= 0x30, d <= 0x39 else { throw fail("in exponent of numeric literal") }
            digits()
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func digits() {
        while let d = peek, d >= 0x30, d <= 0x39 { i += 1 }
    }

    private mutating func string() throws(Failure) -> String {
        i += 1  // the opening quote
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw fail("unexpected end of JSON input") }
            i += 1
            switch c {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw fail("unexpected end of JSON input") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): appendScalar(try unicodeEscape(), to: &out)
                default: throw fail("invalid character in string escape code")
                }
            case 0..<0x20: throw fail("invalid character in string literal")
            default: out.append(c)
            }
        }
    }

    /// `\uXXXX`, joining a surrogate pair; a lone surrogate becomes U+FFFD, as in Go.
    private mutating func unicodeEscape() throws(Failure) -> Unicode.Scalar {
        let high = try hex4()
        if (0xD800..<0xDC00).contains(high), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
            let save = i
            i += 2
            let low = try hex4()
            if (0xDC00..<0xE000).contains(low) {
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) ?? "\u{FFFD}"
            }
            i = save
        }
        return Unicode.Scalar(high) ?? "\u{FFFD}"
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("unexpected end of JSON input") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw fail("invalid character in \\u hexadecimal character escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private func appendScalar(_ s: Unicode.Scalar, to out: inout [UInt8]) {
        out.append(contentsOf: Array(String(Character(s)).utf8))
    }
}
