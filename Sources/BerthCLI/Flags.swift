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

    public init(_ args: [String], specs: [Spec], stopAtPositional: Bool = false) throws {
        let byLong = Dictionary(specs.map { ($0.long, $0) }, uniquingKeysWith: { a, _ in a })
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
    public func int(_ long: String) -> Int? { string(long).flatMap { Int($0) } }
    public func has(_ long: String) -> Bool { values[long] != nil }
}
