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
    /// The keys of the scalar fields Go holds by value (a bool, number or string, not a
    /// pointer): one the model leaves unset marshals as its zero, as dockerd shows a field no
    /// client set (`"Privileged": false`, not `null`). The models keep them optional because a
    /// request says only what it sets.
    static var valueKeys: Set<String> { get }
}

extension GoEncodable {
    public static var omitEmptyKeys: Set<String> { [] }
    public static var valueKeys: Set<String> { [] }
}

/// A list of Go-marshalled models (`GET /networks`) is marshalled the same way.
extension Array: GoEncodable where Element: GoEncodable {}

public enum WireEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let sink = JSONSink()
        try sink.encodeValue(value)
        return sink.out
    }
}

/// Go marshals a map with its keys sorted bytewise.
private protocol SortedKeyMap {
    func encodeSorted(to encoder: Encoder) throws
}

extension Dictionary: SortedKeyMap where Key == String, Value: Encodable {
    fileprivate func encodeSorted(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: MapKey.self)
        for (key, value) in sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            try container.encode(value, forKey: MapKey(stringValue: key))
        }
    }
}

private struct MapKey: CodingKey {
    let stringValue: String
    init(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// The document, written as the values encode themselves, and the containers open in it,
/// innermost last. A synthesized `encode(to:)` never says when its container ends: a value's
/// container ends when its `encode(to:)` returns, and one opened with `nestedContainer` when its
/// parent is written to again. The first encoder built a tree of the whole document (a node
/// allocated per value, an index hashed per key) and then wrote it; writing as it goes, with the
/// unchecked buffers below, took berthd's CPU per inspect from 167 to 137 µs (dockerd's: 200).
private final class JSONSink {
    enum Kind { case pending, object, array, written }

    struct Frame {
        var kind: Kind = .pending
        /// Members or elements written, for the commas.
        var count = 0
        /// The omitempty keys of the value's type.
        let omit: Set<String>
        /// The keys of its type whose unset values marshal as zero.
        let values: Set<String>
        /// Tells a container's frame from a later one at the same depth.
        let serial: Int
    }

    /// Unchecked: no access to these overlaps another (no access calls out to a value's
    /// `encode(to:)`), and the runtime's check of each one cost an eighth of an inspect's CPU.
    @exclusivity(unchecked) var out: [UInt8] = []
    @exclusivity(unchecked) var frames: [Frame] = []
    private var serials = 0

    init() { out.reserveCapacity(1024) }

    /// Encodes a value in a frame of its own, with the omitempty keys of its type.
    func encodeValue<T: Encodable>(_ value: T) throws {
        let level = frames.count
        let model = T.self as? GoEncodable.Type
        let serial = push(omit: model?.omitEmptyKeys ?? [], values: model?.valueKeys ?? [])
        let encoder = GoEncoder(sink: self, level: level, serial: serial)
        if let map = value as? SortedKeyMap { try map.encodeSorted(to: encoder) } else { try value.encode(to: encoder) }
        close(downTo: level)
    }

    func push(omit: Set<String> = [], values: Set<String> = []) -> Int {
        serials += 1
        frames.append(Frame(omit: omit, values: values, serial: serials))
        return serials
    }

    /// Ends the containers at `level` and deeper; a value that wrote nothing is Go's nil.
    func close(downTo level: Int) {
        while frames.count > level, let frame = frames.popLast() {
            switch frame.kind {
            case .pending: out.append(contentsOf: "null".utf8)
            case .object: out.append(UInt8(ascii: "}"))
            case .array: out.append(UInt8(ascii: "]"))
            case .written: break
            }
        }
    }

    /// Whether the frame a container holds is still open, ending any deeper ones first.
    func isCurrent(_ level: Int, _ serial: Int) -> Bool {
        guard level < frames.count, frames[level].serial == serial else { return false }
        close(downTo: level + 1)
        return true
    }

    /// Makes the container's frame the innermost one, of the kind the container writes.
    func enter(_ level: Int, _ serial: Int, _ kind: Kind) throws {
        guard isCurrent(level, serial), frames[level].kind == kind else {
            throw EncodingError.invalidValue(kind, .init(codingPath: [], debugDescription: "a value was written to a container that had ended"))
        }
    }

    /// Opens an object or array in a value's frame (a second call returns the same container).
    func open(_ kind: Kind, _ level: Int, _ serial: Int) {
        guard isCurrent(level, serial), frames[level].kind == .pending else { return }
        out.append(UInt8(ascii: kind == .object ? "{" : "["))
        frames[level].kind = kind
    }

    /// A single value's frame, once: its value written next.
    func enterScalar(_ level: Int, _ serial: Int) throws {
        guard isCurrent(level, serial), frames[level].kind == .pending else {
            throw EncodingError.invalidValue(level, .init(codingPath: [], debugDescription: "a single value was encoded twice, or after its container ended"))
        }
        frames[level].kind = .written
    }

    func omits(_ key: String, at level: Int) -> Bool { !frames[level].omit.isEmpty && frames[level].omit.contains(key) }

    /// Whether an unset `key` of the open object at `level` marshals as its zero.
    func holdsByValue(_ key: String, _ level: Int, _ serial: Int) -> Bool {
        level < frames.count && frames[level].serial == serial && !frames[level].values.isEmpty && frames[level].values.contains(key)
    }

    func beginMember(_ key: String, at level: Int) {
        beginElement(at: level)
        JSONText.appendQuoted(key, to: &out)
        out.append(UInt8(ascii: ":"))
    }

    func beginElement(at level: Int) {
        if frames[level].count > 0 { out.append(UInt8(ascii: ",")) }
        frames[level].count += 1
    }

    /// A member of the open object at `level`, in a frame of its own left pending (a nested
    /// container or a super encoder); a handle that is no longer current gives one whose writes throw.
    func nestedMember(_ key: String, _ level: Int, _ serial: Int) -> (level: Int, serial: Int) {
        guard isCurrent(level, serial), frames[level].kind == .object else { return (level + 1, 0) }
        beginMember(key, at: level)
        return (level + 1, push())
    }

    func nestedElement(_ level: Int, _ serial: Int) -> (level: Int, serial: Int) {
        guard isCurrent(level, serial), frames[level].kind == .array else { return (level + 1, 0) }
        beginElement(at: level)
        return (level + 1, push())
    }

    /// Takes back a member written from `mark`: an omitempty one whose value came out empty.
    func rollBack(to mark: Int, at level: Int) {
        out.removeSubrange(mark..<out.count)
        frames[level].count -= 1
    }

    /// Go's omitempty on a value already written: false, 0, "", null, and empty arrays and maps.
    func isEmpty(from start: Int) -> Bool {
        let value = out[start...]
        guard let first = value.first else { return true }
        switch first {
        case UInt8(ascii: "n"), UInt8(ascii: "f"): return true  // null, false
        case UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "{"): return value.count == 2
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return Double(String(decoding: value, as: UTF8.self)) == 0
        default: return false
        }
    }

    func write(_ b: Bool) { out.append(contentsOf: (b ? "true" : "false").utf8) }
    func writeNull() { out.append(contentsOf: "null".utf8) }
    func write(_ s: String) { JSONText.appendQuoted(s, to: &out) }

    func write<I: BinaryInteger>(_ v: I) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        var m = v.magnitude
        repeat {
            let (q, r) = m.quotientAndRemainder(dividingBy: 10)
            out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: r))
            m = q
        } while m != 0
        out[start..<out.count].reverse()
    }

    /// As Go prints a float64 that holds an integer: without a fraction; a NaN or infinity
    /// (which Go refuses to marshal) as null.
    func write(_ d: Double) {
        guard d.isFinite else { return writeNull() }
        if d == d.rounded(), abs(d) < 1e15 { return write(Int64(d)) }
        out.append(contentsOf: String(d).utf8)
    }
}

/// What omitempty leaves out of a scalar.
private func isEmpty(_ d: Double) -> Bool { !d.isFinite || d == 0 }

private struct GoEncoder: Encoder {
    let sink: JSONSink
    let level: Int
    let serial: Int
    /// Not tracked: nothing reads it while encoding, and building it allocated for every nested value.
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        sink.open(.object, level, serial)
        return KeyedEncodingContainer(GoKeyedEncoder<Key>(sink: sink, level: level, serial: serial))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        sink.open(.array, level, serial)
        return GoUnkeyedEncoder(sink: sink, level: level, serial: serial)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { GoSingleEncoder(sink: sink, level: level, serial: serial) }
}

private struct GoSingleEncoder: SingleValueEncodingContainer {
    let sink: JSONSink
    let level: Int
    let serial: Int
    var codingPath: [CodingKey] { [] }

    private func begin() throws { try sink.enterScalar(level, serial) }

    func encodeNil() throws { try begin(); sink.writeNull() }
    func encode(_ v: Bool) throws { try begin(); sink.write(v) }
    func encode(_ v: String) throws { try begin(); sink.write(v) }
    func encode(_ v: Double) throws { try begin(); sink.write(v) }
    func encode(_ v: Float) throws { try begin(); sink.write(Double(v)) }
    func encode(_ v: Int) throws { try begin(); sink.write(v) }
    func encode(_ v: Int8) throws { try begin(); sink.write(v) }
    func encode(_ v: Int16) throws { try begin(); sink.write(v) }
    func encode(_ v: Int32) throws { try begin(); sink.write(v) }
    func encode(_ v: Int64) throws { try begin(); sink.write(v) }
    func encode(_ v: UInt) throws { try begin(); sink.write(v) }
    func encode(_ v: UInt8) throws { try begin(); sink.write(v) }
    func encode(_ v: UInt16) throws { try begin(); sink.write(v) }
    func encode(_ v: UInt32) throws { try begin(); sink.write(v) }
    func encode(_ v: UInt64) throws { try begin(); sink.write(v) }
    func encode<T: Encodable>(_ v: T) throws { try begin(); try sink.encodeValue(v) }
}

private struct GoKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: JSONSink
    let level: Int
    let serial: Int
    var codingPath: [CodingKey] { [] }

    /// Starts a scalar member, or says to leave it out (omitempty, and empty). The omitempty
    /// set is empty for most types: no key is hashed for them.
    private func member(_ key: Key, empty: Bool) throws -> Bool {
        try sink.enter(level, serial, .object)
        let name = key.stringValue
        if empty && sink.omits(name, at: level) { return false }
        sink.beginMember(name, at: level)
        return true
    }

    func encodeNil(forKey key: Key) throws { if try member(key, empty: true) { sink.writeNull() } }
    func encode(_ v: Bool, forKey key: Key) throws { if try member(key, empty: !v) { sink.write(v) } }
    func encode(_ v: String, forKey key: Key) throws { if try member(key, empty: v.isEmpty) { sink.write(v) } }
    func encode(_ v: Double, forKey key: Key) throws { if try member(key, empty: isEmpty(v)) { sink.write(v) } }
    func encode(_ v: Float, forKey key: Key) throws { if try member(key, empty: isEmpty(Double(v))) { sink.write(Double(v)) } }
    func encode(_ v: Int, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: Int8, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: Int16, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: Int32, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: Int64, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: UInt, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: UInt8, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: UInt16, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: UInt32, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }
    func encode(_ v: UInt64, forKey key: Key) throws { if try member(key, empty: v == 0) { sink.write(v) } }

    /// A nested value is written in place; an omitempty one that came out empty is taken back.
    func encode<T: Encodable>(_ v: T, forKey key: Key) throws {
        try sink.enter(level, serial, .object)
        let name = key.stringValue
        let omittable = sink.omits(name, at: level)
        let mark = sink.out.count
        sink.beginMember(name, at: level)
        let start = sink.out.count
        try sink.encodeValue(v)
        if omittable && sink.isEmpty(from: start) { sink.rollBack(to: mark, at: level) }
    }

    /// An unset optional is Go's nil: `null`, unless the field is omitempty (the protocol's
    /// default would leave every unset one out) or a Go value (its zero). A scalar's overload
    /// keeps its type.
    func encodeIfPresent<T: Encodable>(_ v: T?, forKey key: Key) throws { if let v { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Bool?, forKey key: Key) throws { if let v = v ?? zero(key, false) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: String?, forKey key: Key) throws { if let v = v ?? zero(key, "") { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Double?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Float?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Int?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Int8?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Int16?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Int32?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: Int64?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: UInt?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: UInt8?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: UInt16?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: UInt32?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }
    func encodeIfPresent(_ v: UInt64?, forKey key: Key) throws { if let v = v ?? zero(key, 0) { try encode(v, forKey: key) } else { try encodeNil(forKey: key) } }

    /// A Go value field's zero, for an unset one.
    private func zero<T>(_ key: Key, _ value: T) -> T? { sink.holdsByValue(key.stringValue, level, serial) ? value : nil }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let frame = sink.nestedMember(key.stringValue, level, serial)
        return GoEncoder(sink: sink, level: frame.level, serial: frame.serial).container(keyedBy: keyType)
    }

    func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let frame = sink.nestedMember(key.stringValue, level, serial)
        return GoEncoder(sink: sink, level: frame.level, serial: frame.serial).unkeyedContainer()
    }

    /// The superclass's members join this object, as an embedded struct's do in Go.
    func superEncoder() -> Encoder { GoEncoder(sink: sink, level: level, serial: serial) }

    func superEncoder(forKey key: Key) -> Encoder {
        let frame = sink.nestedMember(key.stringValue, level, serial)
        return GoEncoder(sink: sink, level: frame.level, serial: frame.serial)
    }
}

private struct GoUnkeyedEncoder: UnkeyedEncodingContainer {
    let sink: JSONSink
    let level: Int
    let serial: Int
    var codingPath: [CodingKey] { [] }
    var count: Int { level < sink.frames.count && sink.frames[level].serial == serial ? sink.frames[level].count : 0 }

    private func next() throws {
        try sink.enter(level, serial, .array)
        sink.beginElement(at: level)
    }

    mutating func encodeNil() throws { try next(); sink.writeNull() }
    mutating func encode(_ v: Bool) throws { try next(); sink.write(v) }
    mutating func encode(_ v: String) throws { try next(); sink.write(v) }
    mutating func encode(_ v: Double) throws { try next(); sink.write(v) }
    mutating func encode(_ v: Float) throws { try next(); sink.write(Double(v)) }
    mutating func encode(_ v: Int) throws { try next(); sink.write(v) }
    mutating func encode(_ v: Int8) throws { try next(); sink.write(v) }
    mutating func encode(_ v: Int16) throws { try next(); sink.write(v) }
    mutating func encode(_ v: Int32) throws { try next(); sink.write(v) }
    mutating func encode(_ v: Int64) throws { try next(); sink.write(v) }
    mutating func encode(_ v: UInt) throws { try next(); sink.write(v) }
    mutating func encode(_ v: UInt8) throws { try next(); sink.write(v) }
    mutating func encode(_ v: UInt16) throws { try next(); sink.write(v) }
    mutating func encode(_ v: UInt32) throws { try next(); sink.write(v) }
    mutating func encode(_ v: UInt64) throws { try next(); sink.write(v) }
    mutating func encode<T: Encodable>(_ v: T) throws { try next(); try sink.encodeValue(v) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let frame = sink.nestedElement(level, serial)
        return GoEncoder(sink: sink, level: frame.level, serial: frame.serial).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let frame = sink.nestedElement(level, serial)
        return GoEncoder(sink: sink, level: frame.level, serial: frame.serial).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        let frame = sink.nestedElement(level, serial)
        return GoEncoder(sink: sink, level: frame.level, serial: frame.serial)
    }
}
