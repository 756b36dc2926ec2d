import BerthOCI

/// Encodes responses the way dockerd's Go structs marshal: every field in declaration order, an
/// unset optional as `null` (Go's nil slice, map or pointer), maps with sorted keys, and only the
/// fields moby tags `omitempty` left out when empty. Clients test for keys (`'MemorySwappiness'
/// in HostConfig`), so a missing key is a different answer from `null`.
///
/// A model opts in by conforming to `GoEncodable`, listing its `omitempty` fields; the server
/// encodes those with this encoder and everything else with Foundation's.
public protocol GoEncodable: Encodable {
    /// The JSON keys moby's struct tags mark `omitempty`: left out when nil, zero or empty.
    static var omitEmptyKeys: Set<String> { get }
}

extension GoEncodable {
    public static var omitEmptyKeys: Set<String> { [] }
}

/// A list of Go-marshalled models (`GET /networks`) is marshalled the same way.
extension Array: GoEncodable where Element: GoEncodable {}

public enum WireEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = Node()
        try GoEncoder.encode(value, into: root)
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        root.write(into: &out)
        return out
    }
}

/// Dictionaries keyed by strings, whose keys Go sorts when it marshals a map.
private protocol SortedKeyMap {}
extension Dictionary: SortedKeyMap where Key == String {}

/// One container of the document being built (an object or an array; a scalar member is kept
/// inline, as most of an inspect's ~250 values are). Containers grow in place (members appended,
/// a key's place found through `positions`): the first encoder rebuilt an object's member list
/// for every key it set, which made a container's inspect slower than dockerd's.
private final class Node {
    enum Value {
        case unset, null, bool(Bool), number(String), string(String)
        case array, object
        /// A nested container.
        case node(Node)
    }
    var value: Value = .unset
    /// An array's elements.
    var items: [Value] = []
    /// An object's members in the order first set, and the index of each key once there are
    /// more than `indexedFrom` (a short object is searched: most are, and the index was a
    /// dictionary allocated for every one of them).
    var members: [(String, Value)] = []
    var positions: [String: Int]?
    static let indexedFrom = 16

    /// Go's omitempty: false, 0, "", null, and empty arrays and maps.
    static func isEmpty(_ value: Value) -> Bool {
        switch value {
        case .unset, .null: return true
        case .bool(let b): return !b
        case .number(let n): return Double(n) == 0
        case .string(let s): return s.isEmpty
        case .array, .object: return false
        case .node(let node):
            switch node.value {
            case .array: return node.items.isEmpty
            case .object: return node.members.isEmpty
            default: return isEmpty(node.value)
            }
        }
    }

    func becomeObject() {
        if case .object = value { return }
        value = .object
        members = []
        positions = nil
    }

    func becomeArray() {
        if case .array = value { return }
        value = .array
        items = []
    }

    func write(into out: inout [UInt8]) { Self.write(value, of: self, into: &out) }

    /// What a parent keeps of this node once encoded into: a container by reference, a scalar
    /// (a generic value that encoded itself as one) inline.
    var settled: Value {
        switch value {
        case .array, .object: return .node(self)
        default: return value
        }
    }

    static func write(_ value: Value, of node: Node?, into out: inout [UInt8]) {
        switch value {
        case .unset, .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .string(let s): JSONText.appendQuoted(s, to: &out)
        case .node(let child): child.write(into: &out)
        case .array:
            out.append(UInt8(ascii: "["))
            for (i, item) in (node?.items ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, of: nil, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object:
            out.append(UInt8(ascii: "{"))
            for (i, (key, member)) in (node?.members ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(member, of: nil, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A key set again keeps its first place and takes the new value.
    func set(_ key: String, _ child: Value) {
        becomeObject()
        if let i = index(of: key) { members[i].1 = child; return }
        positions?[key] = members.count
        members.append((key, child))
        if positions == nil && members.count > Self.indexedFrom {
            positions = Dictionary(members.enumerated().map { ($1.0, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    func index(of key: String) -> Int? {
        if let positions { return positions[key] }
        return members.firstIndex { $0.0 == key }
    }

    func append(_ child: Value) {
        becomeArray()
        items.append(child)
    }

    /// Go marshals a map's keys sorted.
    func sortMembers() {
        members.sort { $0.0 < $1.0 }
        if positions != nil { positions = Dictionary(members.enumerated().map { ($1.0, $0) }, uniquingKeysWith: { first, _ in first }) }
    }
}

private struct GoEncoder: Encoder {
    let node: Node
    let omit: Set<String>
    /// Not tracked: nothing reads it while encoding, and building it allocated for every nested value.
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.becomeObject()
        return KeyedEncodingContainer(GoKeyedEncoder<Key>(node: node, omit: omit))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        node.becomeArray()
        return GoUnkeyedEncoder(node: node)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { GoSingleEncoder(node: node) }

    /// Encodes any value into `node`, with the omitempty keys of its own type.
    static func encode<T: Encodable>(_ value: T, into node: Node) throws {
        try value.encode(to: GoEncoder(node: node, omit: (T.self as? GoEncodable.Type)?.omitEmptyKeys ?? []))
        if T.self is SortedKeyMap.Type, case .object = node.value { node.sortMembers() }
    }
}

private func number<T: BinaryInteger>(_ v: T) -> Node.Value { .number(String(v)) }

private func number(_ d: Double) -> Node.Value {
    guard d.isFinite else { return .null }
    if d == d.rounded(), abs(d) < 1e15 { return .number(String(Int64(d))) }
    return .number(String(d))
}

private struct GoSingleEncoder: SingleValueEncodingContainer {
    let node: Node
    var codingPath: [CodingKey] { [] }
    func encodeNil() { node.value = .null }
    func encode(_ v: Bool) { node.value = .bool(v) }
    func encode(_ v: String) { node.value = .string(v) }
    func encode(_ v: Double) { node.value = number(v) }
    func encode(_ v: Float) { node.value = number(Double(v)) }
    func encode(_ v: Int) { node.value = number(v) }
    func encode(_ v: Int8) { node.value = number(v) }
    func encode(_ v: Int16) { node.value = number(v) }
    func encode(_ v: Int32) { node.value = number(v) }
    func encode(_ v: Int64) { node.value = number(v) }
    func encode(_ v: UInt) { node.value = number(v) }
    func encode(_ v: UInt8) { node.value = number(v) }
    func encode(_ v: UInt16) { node.value = number(v) }
    func encode(_ v: UInt32) { node.value = number(v) }
    func encode(_ v: UInt64) { node.value = number(v) }
    func encode<T: Encodable>(_ v: T) throws { try GoEncoder.encode(v, into: node) }
}

private struct GoKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let omit: Set<String>
    var codingPath: [CodingKey] { [] }

    /// The omitempty set is empty for most types: no key is hashed for them.
    private func put(_ key: Key, _ value: Node.Value) {
        if !omit.isEmpty && Node.isEmpty(value) && omit.contains(key.stringValue) { return }
        node.set(key.stringValue, value)
    }

    func encodeNil(forKey key: Key) { put(key, .null) }
    func encode(_ v: Bool, forKey key: Key) { put(key, .bool(v)) }
    func encode(_ v: String, forKey key: Key) { put(key, .string(v)) }
    func encode(_ v: Double, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: Float, forKey key: Key) { put(key, number(Double(v))) }
    func encode(_ v: Int, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: Int8, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: Int16, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: Int32, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: Int64, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: UInt, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: UInt8, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: UInt16, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: UInt32, forKey key: Key) { put(key, number(v)) }
    func encode(_ v: UInt64, forKey key: Key) { put(key, number(v)) }

    func encode<T: Encodable>(_ v: T, forKey key: Key) throws {
        let child = Node()
        try GoEncoder.encode(v, into: child)
        put(key, child.settled)
    }

    /// An unset optional is Go's nil: `null`, unless the field is omitempty. A scalar's
    /// overload keeps its type (the generic path went through a nested encoder for each).
    func encodeIfPresent<T: Encodable>(_ v: T?, forKey key: Key) throws { if let v { try encode(v, forKey: key) } else { put(key, .null) } }
    func encodeIfPresent(_ v: Bool?, forKey key: Key) { put(key, v.map { .bool($0) } ?? .null) }
    func encodeIfPresent(_ v: String?, forKey key: Key) { put(key, v.map { .string($0) } ?? .null) }
    func encodeIfPresent(_ v: Double?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: Float?, forKey key: Key) { put(key, v.map { number(Double($0)) } ?? .null) }
    func encodeIfPresent(_ v: Int?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: Int8?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: Int16?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: Int32?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: Int64?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: UInt?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: UInt8?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: UInt16?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: UInt32?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }
    func encodeIfPresent(_ v: UInt64?, forKey key: Key) { put(key, v.map { number($0) } ?? .null) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = Node()
        node.set(key.stringValue, .node(child))
        return GoEncoder(node: child, omit: []).container(keyedBy: keyType)
    }

    func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let child = Node()
        node.set(key.stringValue, .node(child))
        return GoEncoder(node: child, omit: []).unkeyedContainer()
    }

    func superEncoder() -> Encoder { GoEncoder(node: node, omit: omit) }

    func superEncoder(forKey key: Key) -> Encoder {
        let child = Node()
        node.set(key.stringValue, .node(child))
        return GoEncoder(node: child, omit: [])
    }
}

private struct GoUnkeyedEncoder: UnkeyedEncodingContainer {
    let node: Node
    var codingPath: [CodingKey] { [] }
    var count: Int {
        if case .array = node.value { return node.items.count }
        return 0
    }

    private func add(_ value: Node.Value) { node.append(value) }

    mutating func encodeNil() { add(.null) }
    mutating func encode(_ v: Bool) { add(.bool(v)) }
    mutating func encode(_ v: String) { add(.string(v)) }
    mutating func encode(_ v: Double) { add(number(v)) }
    mutating func encode(_ v: Float) { add(number(Double(v))) }
    mutating func encode(_ v: Int) { add(number(v)) }
    mutating func encode(_ v: Int8) { add(number(v)) }
    mutating func encode(_ v: Int16) { add(number(v)) }
    mutating func encode(_ v: Int32) { add(number(v)) }
    mutating func encode(_ v: Int64) { add(number(v)) }
    mutating func encode(_ v: UInt) { add(number(v)) }
    mutating func encode(_ v: UInt8) { add(number(v)) }
    mutating func encode(_ v: UInt16) { add(number(v)) }
    mutating func encode(_ v: UInt32) { add(number(v)) }
    mutating func encode(_ v: UInt64) { add(number(v)) }

    mutating func encode<T: Encodable>(_ v: T) throws {
        let child = Node()
        try GoEncoder.encode(v, into: child)
        node.append(child.settled)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = Node()
        node.append(.node(child))
        return GoEncoder(node: child, omit: []).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let child = Node()
        node.append(.node(child))
        return GoEncoder(node: child, omit: []).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        let child = Node()
        node.append(.node(child))
        return GoEncoder(node: child, omit: [])
    }
}
