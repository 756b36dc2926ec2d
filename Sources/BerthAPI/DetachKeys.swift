/// The key sequence that detaches a client from a tty container (`--detach-keys`,
/// `detachKeys` in config.json and the attach/exec APIs), parsed as moby/term's `ToBytes`:
/// comma-separated keys, each one character or `ctrl-a`…`ctrl-z`, `ctrl-@`, `ctrl-[`, `ctrl-\`,
/// `ctrl-]`, `ctrl-^`, `ctrl-_`. Docker's default is ctrl-p ctrl-q.
public struct DetachKeys: Sendable, Equatable {
    public let bytes: [UInt8]

    public static let standard = DetachKeys(checked: [0x10, 0x11])

    private init(checked: [UInt8]) { bytes = checked }

    /// nil or "" gives the default; anything moby refuses is an error with Docker's wording.
    public init(parsing spec: String?) throws(DetachKeysError) {
        guard let spec, !spec.isEmpty else { self = .standard; return }
        var codes: [UInt8] = []
        for key in spec.split(separator: ",", omittingEmptySubsequences: false) {
            if key.unicodeScalars.count == 1, let scalar = key.unicodeScalars.first {
                // moby appends the rune's low byte; non-ASCII is refused rather than truncated.
                guard scalar.isASCII else { throw DetachKeysError(spec: spec) }
                codes.append(UInt8(scalar.value))
                continue
            }
            let name = key.lowercased()
            guard name.hasPrefix("ctrl-"), name.unicodeScalars.count == 6, let c = name.unicodeScalars.last?.value else {
                throw DetachKeysError(spec: spec)
            }
            switch c {
            case 0x61...0x7A: codes.append(UInt8(c - 0x60))      // ctrl-a … ctrl-z
            case 0x40, 0x5B...0x5F: codes.append(UInt8(c & 0x1F)) // ctrl-@ ctrl-[ ctrl-\ ctrl-] ctrl-^ ctrl-_
            default: throw DetachKeysError(spec: spec)
            }
        }
        guard !codes.isEmpty else { throw DetachKeysError(spec: spec) }
        bytes = codes
    }
}

public struct DetachKeysError: Error, CustomStringConvertible, Equatable {
    public let spec: String
    public var description: String { "Invalid detach keys (\(spec)) provided" }
}

/// Watches a client's input for the detach sequence, as moby's escape proxy does: bytes that
/// may begin the sequence are held back; if the sequence breaks off they are passed on, so a
/// lone ctrl-p still reaches the program; the complete sequence is never passed on. Input may
/// arrive split anywhere across reads.
public struct DetachKeyScanner: Sendable {
    public let keys: DetachKeys
    private var matched = 0

    public init(_ keys: DetachKeys) { self.keys = keys }

    /// The bytes to forward, and whether the sequence completed (the rest of `input` is dropped).
    public mutating func scan(_ input: some Sequence<UInt8>) -> (forward: [UInt8], detached: Bool) {
        let seq = keys.bytes
        var out: [UInt8] = []
        for byte in input {
            if byte == seq[matched] {
                matched += 1
                if matched == seq.count {
                    matched = 0
                    return (out, true)
                }
                continue
            }
            if matched > 0 {
                out.append(contentsOf: seq[0..<matched])
                matched = 0
            }
            // A broken-off prefix can only happen with two or more keys, so one key restarts a match.
            if byte == seq[0] {
                matched = 1
            } else {
                out.append(byte)
            }
        }
        return (out, false)
    }
}
