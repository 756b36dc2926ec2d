/// JSON string quoting for the few outputs written by hand to keep a fixed key order
/// (Foundation's encoder orders keys by hash unless sorted).
public enum JSONText {
    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `s` as a JSON string, escaped as Go's encoding/json does without HTML escaping (moby's
    /// `WriteJSON`): `"`, `\`, the control characters (`\n`, `\r`, `\t`, else `\u00xx`) and
    /// U+2028/U+2029. Works on the UTF-8 bytes, copying unescaped runs whole: every API response
    /// goes through here.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var text = s
        text.withUTF8 { bytes in
            var run = 0
            var i = 0
            func flush(_ end: Int) {
                if end > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<end])) }
            }
            while i < bytes.count {
                let b = bytes[i]
                if b >= 0x20 && b != 0x22 && b != 0x5c {
                    // U+2028 and U+2029: E2 80 A8 / E2 80 A9
                    if b == 0xe2, i + 2 < bytes.count, bytes[i + 1] == 0x80, bytes[i + 2] == 0xa8 || bytes[i + 2] == 0xa9 {
                        flush(i)
                        out.append(contentsOf: "\\u202".utf8)
                        out.append(bytes[i + 2] == 0xa8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                        i += 3
                        run = i
                        continue
                    }
                    i += 1
                    continue
                }
                flush(i)
                out.append(0x5c)
                switch b {
                case 0x22, 0x5c: out.append(b)
                case 0x0a: out.append(UInt8(ascii: "n"))
                case 0x0d: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    // every byte here is below 0x20: 00 and two hex digits, the first 0 or 1
                    let low = b & 15
                    out.append(contentsOf: "u00".utf8)
                    out.append(0x30 + (b >> 4))
                    out.append(low < 10 ? 0x30 + low : UInt8(ascii: "a") + low - 10)
                }
                i += 1
                run = i
            }
            flush(bytes.count)
        }
        out.append(0x22)
    }
}

extension RuntimeState {
    /// runc's `state` output: its key order, two-space indent.
    public var prettyJSON: String {
        var fields: [(String, String)] = [
            ("ociVersion", JSONText.quote(ociVersion)), ("id", JSONText.quote(id)), ("pid", String(pid)),
            ("status", JSONText.quote(status.rawValue)), ("bundle", JSONText.quote(bundle)),
            ("rootfs", JSONText.quote(rootfs)), ("created", JSONText.quote(created)), ("owner", JSONText.quote(owner)),
        ]
        if let annotations, !annotations.isEmpty {
            let inner = annotations.sorted { $0.key < $1.key }
                .map { "    \(JSONText.quote($0.key)): \(JSONText.quote($0.value))" }.joined(separator: ",\n")
            fields.append(("annotations", "{\n" + inner + "\n  }"))
        }
        return "{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}"
    }
}
