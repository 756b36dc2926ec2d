/// docker's flag syntax: `-d`, `--name x`, `--name=x`, `-e A -e B`, grouped shorts (`-dit`,
/// `-p80:80`), `--` ends flags; for run/create/exec, parsing stops at the first positional (the
/// rest is the container's command, flags and all).
public struct Flags {
    public struct Spec: Sendable {
        let short: Character?
        let long: String
        let takesValue: Bool
        public init(_ short: Character?, _ long: String, value: Bool = false) {
            self.short = short; self.long = long; self.takesValue = value
        }
    }

    public struct UsageError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `--help` (or `-h` where no flag claims it) among the flags: the caller prints the help of
    /// the command with exactly these specs.
    public struct HelpRequested: Error {
        let specs: [Spec]
    }

    var values: [String: [String]] = [:]
    public var positionals: [String] = []
    /// Each flag's shorthand, for errors that name the flag as pflag does (`-c, --cpu-shares`).
    let shorthands: [String: Character]

    public init(_ args: [String], specs: [Spec], stopAtPositional: Bool = false) throws {
        let byLong = Dictionary(specs.map { ($0.long, $0) }, uniquingKeysWith: { a, _ in a })
        shorthands = byLong.compactMapValues(\.short)
        let byShort = Dictionary(specs.compactMap { s in s.short.map { ($0, s) } }, uniquingKeysWith: { a, _ in a })
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            if arg == "--" { positionals += args[i...]; break }
            if arg == "--help" && byLong["help"] == nil || arg == "-h" && byShort["h"] == nil { throw HelpRequested(specs: specs) }
            if arg.hasPrefix("--") {
                let body = arg.dropFirst(2)
                let name = String(body.split(separator: "=", maxSplits: 1).first ?? "")
                guard let spec = byLong[name] else { throw UsageError(description: "unknown flag: --\(name)") }
                if let eq = body.firstIndex(of: "=") {
                    let value = String(body[body.index(after: eq)...])
                    values[spec.long, default: []].append(spec.takesValue ? value : (value == "true" || value == "1" ? "true" : "false"))
                } else if spec.takesValue {
                    guard i < args.count else { throw UsageError(description: "flag needs an argument: --\(name)") }
                    values[spec.long, default: []].append(args[i])
                    i += 1
                } else {
                    values[spec.long, default: []].append("true")
                }
            } else if arg.hasPrefix("-") && arg.count > 1 {
                var chars = Substring(arg.dropFirst())
                while let c = chars.first {
                    chars = chars.dropFirst()
                    guard let spec = byShort[c] else { throw UsageError(description: "unknown shorthand flag: '\(c)' in \(arg)") }
                    if !spec.takesValue { values[spec.long, default: []].append("true"); continue }
                    if !chars.isEmpty {
                        values[spec.long, default: []].append(String(chars.hasPrefix("=") ? chars.dropFirst() : chars))
                    } else {
                        guard i < args.count else { throw UsageError(description: "flag needs an argument: '\(c)' in \(arg)") }
                        values[spec.long, default: []].append(args[i])
                        i += 1
                    }
                    break
                }
            } else {
                positionals.append(arg)
                if stopAtPositional { positionals += args[i...]; break }
            }
        }
    }

    public func bool(_ long: String) -> Bool { values[long]?.last == "true" }
    public func string(_ long: String) -> String? { values[long]?.last }
    public func all(_ long: String) -> [String] { values[long] ?? [] }
    /// An int flag as pflag parses it (Go's `strconv.ParseInt` with base prefixes): a value that
    /// is not a number is a usage error in docker's words, never silently unset.
    public func int(_ long: String) throws -> Int? {
        guard let text = string(long) else { return nil }
        return Int(try number(long, text, function: "ParseInt", range: Int64.min...Int64.max))
    }

    /// A uint16 flag (`--blkio-weight`), as pflag parses it.
    public func uint16(_ long: String) throws -> Int? {
        guard let text = string(long) else { return nil }
        return Int(try number(long, text, function: "ParseUint", range: 0...Int64(UInt16.max)))
    }

    private func number(_ long: String, _ text: String, function: String, range: ClosedRange<Int64>) throws -> Int64 {
        let problem: String
        switch Self.parseGoInteger(text, unsigned: range.lowerBound >= 0) {
        case .some(.some(let n)) where range.contains(n): return n
        case .some: problem = "value out of range"
        case .none: problem = "invalid syntax"
        }
        let name = shorthands[long].map { "-\($0), --\(long)" } ?? "--\(long)"
        throw UsageError(description: "invalid argument \"\(text)\" for \"\(name)\" flag: strconv.\(function): parsing \"\(text)\": \(problem)")
    }

    /// Go's integer syntax with base 0: an optional sign (not for unsigned), `0x`, `0o`, `0b` or a
    /// leading `0` (octal), underscores between digits only after a prefix. nil: not a number;
    /// `.some(nil)`: a number that does not fit 64 bits.
    static func parseGoInteger(_ text: String, unsigned: Bool) -> Int64?? {
        var digits = Substring(text)
        var negative = false
        if !unsigned, let sign = digits.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        var radix = 10
        let lower = digits.lowercased()
        if lower.hasPrefix("0x") { radix = 16; digits = digits.dropFirst(2) }
        else if lower.hasPrefix("0o") { radix = 8; digits = digits.dropFirst(2) }
        else if lower.hasPrefix("0b") { radix = 2; digits = digits.dropFirst(2) }
        else if lower.hasPrefix("0"), lower.count > 1 { radix = 8; digits = digits.dropFirst() }
        if radix != 10 {
            // underscores between digits, or between the prefix and a digit (Go's underscoreOK)
            if digits.hasSuffix("_") || digits.contains("__") { return nil }
            digits = Substring(digits.filter { $0 != "_" })
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isHexDigit && Int(String($0), radix: radix) != nil }) else { return nil }
        guard let magnitude = UInt64(digits, radix: radix) else { return .some(nil) }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? .some(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)) : .some(nil) }
        return magnitude <= UInt64(Int64.max) ? .some(Int64(magnitude)) : .some(nil)
    }
    public func has(_ long: String) -> Bool { values[long] != nil }
}
