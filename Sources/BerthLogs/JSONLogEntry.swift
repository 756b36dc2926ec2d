import FoundationEssentials

/// One json-file entry, `{"log":"…","stream":"stdout","time":"…"}`, encoded and decoded at the
/// byte level: a chatty container's every line goes through here twice (the shim writes it,
/// `docker logs` reads it), and a generic JSON coder per line made reading a 1 GiB log take
/// a minute. Entries in another shape (another writer's fields or order) still decode, through
/// the generic decoder.
public struct JSONLogEntry: Equatable, Sendable {
    public var log: [UInt8]
    public var stream: String
    public var time: String
    /// The extra attributes the `labels`/`env` log options pick (`docker logs --details`).
    public var attrs: [String: String]

    public init(log: [UInt8], stream: String, time: String, attrs: [String: String] = [:]) {
        self.log = log
        self.stream = stream
        self.time = time
        self.attrs = attrs
    }

    /// The entry's line, newline included. Output that is not UTF-8 is logged with U+FFFD in place
    /// of the bad bytes, as Go's encoder does.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(log.count + 64)
        out += Array(#"{"log":""#.utf8)
        Self.escape(log, into: &out)
        out += Array(#"","stream":""#.utf8) + Array(stream.utf8) + [0x22]
        if !attrs.isEmpty {  // moby's order: log, stream, attrs (keys sorted, as Go writes a map), time
            out += Array(#","attrs":{"#.utf8)
            for (n, key) in attrs.keys.sorted().enumerated() {
                if n > 0 { out.append(0x2C) }
                out.append(0x22)
                Self.escape(Array(key.utf8), into: &out)
                out += [0x22, 0x3A, 0x22]
                Self.escape(Array((attrs[key] ?? "").utf8), into: &out)
                out.append(0x22)
            }
            out.append(0x7D)
        }
        out += Array(#","time":""#.utf8) + Array(time.utf8) + Array("\"}\n".utf8)
        return out
    }

    /// A JSON string's content, as Go's encoder writes it for these fields.
    static func escape(_ bytes: [UInt8], into out: inout [UInt8]) {
        for byte in String(decoding: bytes, as: UTF8.self).utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case ..<0x20: out += Array(#"\u00"#.utf8) + [Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
    }

    static let hex = Array("0123456789abcdef".utf8)

    private struct Generic: Decodable { let log: String; let stream: String; let time: String; let attrs: [String: String]? }

    /// One line of a json-file log (without its newline); nil when it is not an entry.
    public init?(line: some Collection<UInt8>) {
        let bytes = Array(line)
        if let fast = Self.parseOwnShape(bytes) { self = fast; return }
        guard let generic = try? JSONDecoder().decode(Generic.self, from: Data(bytes)) else { return nil }
        self.init(log: Array(generic.log.utf8), stream: generic.stream, time: generic.time, attrs: generic.attrs ?? [:])
    }

    /// The shape `encoded()` writes, field by field; nil at the first surprise.
    static func parseOwnShape(_ bytes: [UInt8]) -> JSONLogEntry? {
        var i = 0
        func literal(_ text: String) -> Bool {
            let expected = Array(text.utf8)
            guard bytes.count - i >= expected.count, bytes[i..<(i + expected.count)].elementsEqual(expected) else { return false }
            i += expected.count
            return true
        }
        /// A string's content up to its closing quote (the opening one already read), unescaped.
        func string() -> [UInt8]? {
            var out: [UInt8] = []
            while i < bytes.count {
                let c = bytes[i]
                i += 1
                if c == 0x22 { return out }
                guard c == 0x5C else { out.append(c); continue }
                guard i < bytes.count else { return nil }
                let e = bytes[i]
                i += 1
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x75:
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar), literal("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out += Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
                default: return nil
                }
            }
            return nil
        }
        func hex4() -> UInt32? {
            guard bytes.count - i >= 4, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
            i += 4
            return v
        }
        guard literal(#"{"log":""#), let log = string(), literal(#","stream":""#), let stream = string(),
              literal(#","time":""#), let time = string(), literal("}"), i == bytes.count else { return nil }
        return JSONLogEntry(log: log, stream: String(decoding: stream, as: UTF8.self), time: String(decoding: time, as: UTF8.self))
    }
}
