/// Decodes request bodies the way dockerd does, with Go's `encoding/json` rules, for every
/// `Decodable` model unchanged:
///
/// - a missing key and `null` both give the zero value (`""`, `0`, `false`, an empty array or
///   map, a struct of zero values), so `var MacAddress: String = ""` is not a required key as it
///   is under Swift's synthesized `Codable` with `JSONDecoder`; an optional property stays `nil`;
/// - unknown keys are ignored, and keys match case-insensitively when no exact key exists;
/// - a value of the wrong JSON type is an error naming the field's path and Go's type, which the
///   server turns into a 400 — never a trap.
///
/// Clients (the docker CLI, docker-py, compose) send only what they set; this one mechanism is
/// what lets any subset of a body through.
public enum WireDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(WireDecodingError) -> T {
        let root: WireJSON
        do { root = try WireJSONParser.parse(bytes) } catch {
            throw WireDecodingError(message: "\(error.reason) (offset \(error.offset))")
        }
        return try decode(type, from: root)
    }

    /// The members of a top-level object, in document order: what a strict reader (daemon.json)
    /// checks against the keys it knows.
    public static func objectKeys(_ bytes: [UInt8]) throws(WireDecodingError) -> [String] {
        let root: WireJSON
        do { root = try WireJSONParser.parse(bytes) } catch {
            throw WireDecodingError(message: "\(error.reason) (offset \(error.offset))")
        }
        guard case .object(let members) = root else { throw WireDecodingError(message: "json: cannot unmarshal \(root.goKind) into Go value of type config") }
        return members.keys
    }

    static func decode<T: Decodable>(_ type: T.Type, from root: WireJSON) throws(WireDecodingError) -> T {
        do { return try T(from: GoDecoder(value: root, codingPath: [])) } catch let e as WireDecodingError {
            throw e
        } catch let e as DecodingError {
            throw WireDecodingError(e)
        } catch {
            throw WireDecodingError(message: "\(error)")
        }
    }
}

/// A body the wire decoder refused, worded as Go's decoder words it with the field's path
/// (`json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64`).
public struct WireDecodingError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }

    init(message: String) { self.message = message }

    init(_ error: DecodingError) {
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            // Our own conversions already name the field as Go does; a model's own init(from:) may not.
            message = path.isEmpty || c.debugDescription.hasPrefix("json: ") ? c.debugDescription : "\(c.debugDescription) (field \(path))"
        @unknown default:
            message = "\(error)"
        }
    }

    static func mismatch(_ found: WireJSON, _ goType: String, _ path: [CodingKey]) -> DecodingError {
        let field = path.map(\.stringValue).joined(separator: ".")
        let text = field.isEmpty
            ? "json: cannot unmarshal \(found.goKind) into Go value of type \(goType)"
            : "json: cannot unmarshal \(found.goKind) into Go struct field \(field) of type \(goType)"
        return .typeMismatch(Any.self, .init(codingPath: path, debugDescription: text))
    }
}

/// One position in the document: `value` nil means the key was absent.
private struct GoDecoder: Decoder {
    let value: WireJSON?
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch value {
        case .object(let members): return KeyedDecodingContainer(GoKeyedContainer(members: members, codingPath: codingPath))
        case nil, .null?: return KeyedDecodingContainer(GoKeyedContainer(members: WireObject(), codingPath: codingPath))
        case let other?: throw WireDecodingError.mismatch(other, "struct", codingPath)
        }
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        switch value {
        case .array(let items): return GoUnkeyedContainer(items: items, codingPath: codingPath)
        case nil, .null?: return GoUnkeyedContainer(items: [], codingPath: codingPath)
        case let other?: throw WireDecodingError.mismatch(other, "slice", codingPath)
        }
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { self }
}

extension GoDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool {
        if case .null? = value { return true }
        return value == nil
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch value {
        case .bool(let b)?: return b
        case nil, .null?: return false
        case let other?: throw WireDecodingError.mismatch(other, "bool", codingPath)
        }
    }

    func decode(_ type: String.Type) throws -> String {
        switch value {
        case .string(let s)?: return s
        case nil, .null?: return ""
        case let other?: throw WireDecodingError.mismatch(other, "string", codingPath)
        }
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .number(let text)?:
            guard let d = Double(text), d.isFinite else { throw outOfRange(text, "float64") }
            return d
        case nil, .null?: return 0
        case let other?: throw WireDecodingError.mismatch(other, "float64", codingPath)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    /// Integers as Go reads them: an integral literal in range; `1e3` or `2.0` are accepted when
    /// exactly integral (lenient where Go is strict, never lossy), anything else is an error.
    func integer<T: FixedWidthInteger>(_ type: T.Type, _ goType: String) throws -> T {
        switch value {
        case .number(let text)?:
            if let v = T(text) { return v }
            if let d = Double(text), d.rounded() == d, let v = T(exactly: d) { return v }
            throw outOfRange(text, goType)
        case nil, .null?: return 0
        case let other?: throw WireDecodingError.mismatch(other, goType, codingPath)
        }
    }

    private func outOfRange(_ text: String, _ goType: String) -> DecodingError {
        let field = codingPath.map(\.stringValue).joined(separator: ".")
        return .dataCorrupted(.init(codingPath: codingPath,
                                    debugDescription: "json: cannot unmarshal number \(text) into Go struct field \(field) of type \(goType)"))
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(Int.self, "int") }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self, "int8") }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self, "int16") }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self, "int32") }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self, "int64") }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self, "uint") }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self, "uint8") }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self, "uint16") }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self, "uint32") }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self, "uint64") }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

private struct GoKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: WireObject
    let codingPath: [CodingKey]

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    /// Every key "is there": a missing one decodes as its zero value.
    func contains(_ key: Key) -> Bool { true }

    private func child(_ key: Key) -> GoDecoder { GoDecoder(value: members[key.stringValue], codingPath: codingPath + [key]) }

    func decodeNil(forKey key: Key) throws -> Bool { child(key).decodeNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: child(key)) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let c = child(key)
        return c.decodeNil() ? nil : try T(from: c)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }

    func superDecoder() throws -> Decoder { GoDecoder(value: .object(members), codingPath: codingPath) }

    func superDecoder(forKey key: Key) throws -> Decoder { child(key) }
}

private struct GoUnkeyedContainer: UnkeyedDecodingContainer {
    let items: [WireJSON]
    let codingPath: [CodingKey]
    var currentIndex = 0

    init(items: [WireJSON], codingPath: [CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private struct Index: CodingKey {
        let intValue: Int?
        var stringValue: String { intValue.map { "[\($0)]" } ?? "" }
        init(_ i: Int) { intValue = i }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    private mutating func next() throws -> GoDecoder {
        guard currentIndex < items.count else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "unexpected end of array"))
        }
        defer { currentIndex += 1 }
        return GoDecoder(value: items[currentIndex], codingPath: codingPath + [Index(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < items.count, case .null = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: try next()) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> Decoder { try next() }
}
