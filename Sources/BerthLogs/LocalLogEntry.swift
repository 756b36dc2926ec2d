import BerthSystem
import Glibc

/// One entry of dockerd's `local` log driver: the protobuf `LogEntry` of moby's logdriver API
/// (`source` = 1, `time_nano` = 2, `line` = 3, `partial` = 4) between two copies of its length
/// (big-endian 32 bits), so a reader walks the file forward by the head and backward, for
/// `--tail`, by the foot. The line is kept without its newline; `partial` marks one that had
/// none (cut at 16 KiB, or the last output before the exit).
public struct LocalLogEntry: Equatable, Sendable {
    public var source: String
    public var timeNano: Int64
    public var line: [UInt8]
    public var partial: Bool

    /// moby's cap on one entry (1 MiB): a length past it is a corrupt frame, not an allocation.
    public static let maxSize = 1 << 20

    public init(source: String, timeNano: Int64, line: [UInt8], partial: Bool) {
        self.source = source
        self.timeNano = timeNano
        self.line = line
        self.partial = partial
    }

    /// The entry with its two length frames.
    public func framed() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(line.count + source.utf8.count + 24)
        Self.field(1, bytes: Array(source.utf8), into: &body)
        if timeNano != 0 {
            body.append(2 << 3)
            Self.varint(UInt64(bitPattern: timeNano), into: &body)
        }
        Self.field(3, bytes: line, into: &body)
        if partial { body += [4 << 3, 1] }
        let length = Self.bigEndian(UInt32(body.count))
        return length + body + length
    }

    /// Decodes a protobuf `LogEntry`; fields it does not know are skipped, as protobuf readers do.
    public init?(protobuf bytes: ArraySlice<UInt8>) {
        var source = "", time: Int64 = 0, line: [UInt8] = [], partial = false
        var i = bytes.startIndex
        func varint() -> UInt64? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while i < bytes.endIndex, shift < 64 {
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while i < bytes.endIndex {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0:
                guard let value = varint() else { return nil }
                if key >> 3 == 2 { time = Int64(bitPattern: value) }
                if key >> 3 == 4 { partial = value != 0 }
            case 2:
                guard let length = varint(), length <= UInt64(bytes.endIndex - i) else { return nil }
                let field = bytes[i..<(i + Int(length))]
                i += Int(length)
                if key >> 3 == 1 { source = String(decoding: field, as: UTF8.self) }
                if key >> 3 == 3 { line = Array(field) }
            case 1: i += 8
            case 5: i += 4
            default: return nil
            }
            guard i <= bytes.endIndex else { return nil }
        }
        self.init(source: source, timeNano: time, line: line, partial: partial)
    }

    /// As `docker logs` shows it: the line, its newline back unless it was partial.
    public var jsonEntry: JSONLogEntry {
        var seconds = timespec(tv_sec: Int(timeNano / 1_000_000_000), tv_nsec: Int(timeNano % 1_000_000_000))
        if seconds.tv_nsec < 0 { seconds = timespec(tv_sec: seconds.tv_sec - 1, tv_nsec: seconds.tv_nsec + 1_000_000_000) }
        return JSONLogEntry(log: partial ? line : line + [10], stream: source, time: Timestamp.format(seconds))
    }

    static func field(_ number: UInt8, bytes: [UInt8], into out: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        out.append(number << 3 | 2)
        varint(UInt64(bytes.count), into: &out)
        out += bytes
    }

    static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }

    /// A frame's length field at `bytes[at...]`.
    static func length(_ bytes: some Collection<UInt8>) -> Int {
        bytes.prefix(4).reduce(0) { $0 << 8 | Int($1) }
    }
}
