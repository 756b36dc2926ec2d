/// A small parser for runc's command line: Go-style flags (`-f`, `--flag`, `-flag`, `--flag=v`),
/// repeatable values, and positionals. Hand-written so the runtime stays free of dependencies
/// and starts fast; behaviour mirrors urfave/cli as runc uses it.
struct ArgumentList {
    struct Flag {
        let names: [String]
        let takesValue: Bool
    }

    enum ParseError: Error, CustomStringConvertible {
        case unknown(String)
        case missingValue(String)
        var description: String {
            switch self {
            case .unknown(let f): return "flag provided but not defined: -\(f)"
            case .missingValue(let f): return "flag needs an argument: -\(f)"
            }
        }
    }

    private(set) var values: [String: [String]] = [:]
    private(set) var positionals: [String] = []

    /// Parses `args` against `flags`; with `stopAtPositional`, everything from the first
    /// positional on is taken verbatim (`exec <id> <command…>`).
    init(_ args: [String], flags: [Flag], stopAtPositional: Bool = false) throws {
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            if arg == "--" { positionals += args[i...]; break }
            guard arg.hasPrefix("-"), arg.count > 1 else {
                positionals.append(arg)
                if stopAtPositional { positionals += args[i...]; break }
                continue
            }
            var name = String(arg.drop(while: { $0 == "-" }))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let flag = flags.first(where: { $0.names.contains(name) }) else { throw ParseError.unknown(name) }
            let key = flag.names[0]
            if flag.takesValue {
                if let inline {
                    values[key, default: []].append(inline)
                } else {
                    guard i < args.count else { throw ParseError.missingValue(name) }
                    values[key, default: []].append(args[i])
                    i += 1
                }
            } else {
                values[key, default: []].append(inline ?? "true")
            }
        }
    }

    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
    func bool(_ name: String) -> Bool { value(name).map { $0 != "false" } ?? false }
}

extension ArgumentList.Flag {
    static func value(_ names: String...) -> Self { .init(names: names, takesValue: true) }
    static func bool(_ names: String...) -> Self { .init(names: names, takesValue: false) }
}
