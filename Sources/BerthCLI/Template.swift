/// Go's text/template as `--format` strings use it over the daemon's JSON: fields (`{{.A.B}}`,
/// `{{.}}`), variables (`$`, `{{$x := .A}}`, `{{range $k, $v := .M}}`), pipelines (`{{.A | upper}}`),
/// parenthesized groups (`{{(index .M "k").IP}}`), the control structures `if`/`else if`/`else`,
/// `range` (maps in sorted key order, as Go) and `with`, comments, `{{-`/`-}}` trimming, the
/// functions of TemplateFunctions.swift, and a leading `table` for a header row with aligned
/// columns. Docker's own documentation reaches for `range` first
/// (`{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}`), so a formatter without it fails
/// the commands people copy.
public struct Template {
    indirect enum Node {
        case text(String)
        case action(Pipeline)
        case branch(Branch, Pipeline, body: [Node], otherwise: [Node])
    }

    enum Branch: String { case `if`, with, range }

    /// `$a, $b := cmd args | cmd args`: the variables it declares, then its commands' words.
    struct Pipeline {
        var variables: [String] = []
        var commands: [[String]] = []
    }

    let nodes: [Node]
    public let isTable: Bool
    /// Go field names whose JSON key differs (`TimeNano` is `timeNano` on the wire): a Go
    /// template sees the struct's fields, while `{{json .}}` prints the wire names.
    let jsonKeys: [String: String]

    public struct TemplateError: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = "template: " + description }
        public init(description: String) { self.description = description }
    }

    public init(_ source: String, jsonKeys: [String: String] = [:]) throws {
        self.jsonKeys = jsonKeys
        var text = source
        isTable = text.hasPrefix("table")
        if isTable { text = String(text.dropFirst(5)).drop(while: { $0 == " " }).description }
        var parser = Parser(items: try Self.lex(text.replacingEscapes(), source: source))
        let (nodes, stop) = try parser.list()
        if let stop { throw TemplateError("unexpected {{\(stop.joined(separator: " "))}}") }
        self.nodes = nodes
    }

    // MARK: lexing

    enum Item {
        case text(String)
        case action([String])
    }

    /// Text and actions, with `{{- ` and ` -}}` trimming the whitespace beside them and comments gone.
    static func lex(_ text: String, source: String) throws -> [Item] {
        var items: [Item] = []
        var rest = Substring(text)
        var trimNext = false
        func addText(_ t: Substring) {
            let t = trimNext ? t.drop(while: \.isWhitespace) : t
            if !t.isEmpty { items.append(.text(String(t))) }
        }
        while let open = rest.firstRange(of: "{{") {
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { throw TemplateError("unclosed action in \(source)") }
            var inner = rest[open.upperBound..<close.lowerBound]
            var before = rest[..<open.lowerBound]
            if inner.hasPrefix("-"), inner.dropFirst().first?.isWhitespace ?? false {
                inner = inner.dropFirst()
                while before.last?.isWhitespace ?? false { before = before.dropLast() }
            }
            addText(before)
            trimNext = false
            if inner.hasSuffix("-"), inner.dropLast().last?.isWhitespace ?? false {
                inner = inner.dropLast()
                trimNext = true
            }
            let trimmed = inner.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            if !(trimmed.starts(with: "/*") && String(trimmed).hasSuffix("*/")) {
                let words = try words(String(inner))
                guard !words.isEmpty else { throw TemplateError("missing value for command") }
                items.append(.action(words))
            }
            rest = rest[close.upperBound...]
        }
        addText(rest)
        return items
    }

    /// Splits an action into words: quoted strings, raw strings and parenthesized groups
    /// (`(index .A "k").B`) stay one word with their quotes and parentheses, `|` is a word of
    /// its own, and the commas between declared variables are dropped.
    static func words(_ text: String) throws -> [String] {
        var out: [String] = []
        var current = ""
        var quote: Character? = nil
        var escaped = false
        var depth = 0
        func flush() { if !current.isEmpty { out.append(current); current = "" } }
        for c in text {
            if let q = quote {
                current.append(c)
                if escaped { escaped = false } else if c == "\\" && q == "\"" { escaped = true } else if c == q { quote = nil }
                continue
            }
            switch c {
            case "\"", "`": quote = c; current.append(c)
            case "(": depth += 1; current.append(c)
            case ")": depth -= 1; current.append(c)
            case _ where depth > 0: current.append(c)
            case "|": flush(); out.append("|")
            case ",": flush()
            case _ where c.isWhitespace: flush()
            default: current.append(c)
            }
        }
        if quote != nil { throw TemplateError("unterminated quoted string") }
        if depth != 0 { throw TemplateError("unbalanced parentheses") }
        flush()
        return out
    }

    // MARK: parsing

    struct Parser {
        let items: [Item]
        var index = 0

        /// Nodes up to an `{{end}}` or `{{else …}}`, which it returns (nil at the end of the text).
        mutating func list() throws -> ([Node], [String]?) {
            var nodes: [Node] = []
            while index < items.count {
                let item = items[index]
                index += 1
                switch item {
                case .text(let t): nodes.append(.text(t))
                case .action(let words):
                    if let kind = Branch(rawValue: words[0]) {
                        nodes.append(try branch(kind, Array(words.dropFirst())))
                        continue
                    }
                    switch words[0] {
                    case "end", "else": return (nodes, words)
                    case "define", "template", "block", "break", "continue":
                        throw TemplateError("\(words[0]) is not supported in a format")
                    default: nodes.append(.action(try Parser.pipeline(words)))
                    }
                }
            }
            return (nodes, nil)
        }

        /// `if`/`with`/`range` up to its `{{end}}`; `{{else if …}}` nests another branch that takes that end.
        mutating func branch(_ kind: Branch, _ words: [String]) throws -> Node {
            guard !words.isEmpty else { throw TemplateError("missing value for \(kind.rawValue)") }
            let pipeline = try Parser.pipeline(words)
            let (body, stop) = try list()
            guard let stop else { throw TemplateError("unexpected EOF: \(kind.rawValue) without end") }
            if stop == ["end"] { return .branch(kind, pipeline, body: body, otherwise: []) }
            guard stop[0] == "else" else { throw TemplateError("unexpected {{\(stop.joined(separator: " "))}}") }
            if stop.count > 1, let nested = Branch(rawValue: stop[1]), nested != .range {
                return .branch(kind, pipeline, body: body, otherwise: [try branch(nested, Array(stop.dropFirst(2)))])
            }
            guard stop.count == 1 else { throw TemplateError("unexpected {{\(stop.joined(separator: " "))}}") }
            let (otherwise, end) = try list()
            guard end == ["end"] else { throw TemplateError("expected end; found \(end.map { "{{\($0.joined(separator: " "))}}" } ?? "EOF")") }
            return .branch(kind, pipeline, body: body, otherwise: otherwise)
        }

        static func pipeline(_ words: [String]) throws -> Pipeline {
            var pipeline = Pipeline()
            var rest = words[...]
            if let assign = words.firstIndex(where: { $0 == ":=" || $0 == "=" }) {
                pipeline.variables = Array(words[..<assign])
                guard !pipeline.variables.isEmpty, pipeline.variables.count <= 2, pipeline.variables.allSatisfy({ $0.hasPrefix("$") }) else {
                    throw TemplateError("bad declaration \(words.joined(separator: " "))")
                }
                rest = words[(assign + 1)...]
            }
            pipeline.commands = rest.split(separator: "|", omittingEmptySubsequences: false).map(Array.init)
            guard pipeline.commands.allSatisfy({ !$0.isEmpty }) else { throw TemplateError("missing command in \(words.joined(separator: " "))") }
            return pipeline
        }
    }

    // MARK: rendering

    public func render(_ data: JSONValue) throws -> String {
        var state = State(variables: [("$", data)])
        try state.run(nodes, dot: data, template: self)
        return state.out
    }

    /// One execution: the output so far and the variables in scope (innermost last).
    struct State {
        var variables: [(String, JSONValue)]
        var out = ""

        mutating func run(_ nodes: [Node], dot: JSONValue, template: Template) throws {
            let scope = variables.count
            defer { variables.removeSubrange(scope...) }
            for node in nodes {
                switch node {
                case .text(let t): out += t
                case .action(let pipeline):
                    let value = try evaluate(pipeline, dot: dot, template: template)
                    if pipeline.variables.isEmpty { out += Template.goText(value) } else { declare(pipeline.variables, [value]) }
                case .branch(.range, let pipeline, let body, let otherwise):
                    try range(pipeline, body: body, otherwise: otherwise, dot: dot, template: template)
                case .branch(let kind, let pipeline, let body, let otherwise):
                    let scope = variables.count
                    defer { variables.removeSubrange(scope...) }
                    let value = try evaluate(pipeline, dot: dot, template: template)
                    if !pipeline.variables.isEmpty { declare(pipeline.variables, [value]) }
                    if Template.truth(value) {
                        try run(body, dot: kind == .with ? value : dot, template: template)
                    } else {
                        try run(otherwise, dot: dot, template: template)
                    }
                }
            }
        }

        /// Go's range: a slice in order, a map by sorted key, nil as empty; `$i, $e :=` or `$e :=`.
        mutating func range(_ pipeline: Pipeline, body: [Node], otherwise: [Node], dot: JSONValue, template: Template) throws {
            var bare = pipeline
            bare.variables = []
            let entries: [(JSONValue, JSONValue)]
            switch try evaluate(bare, dot: dot, template: template) {
            case .array(let items): entries = items.enumerated().map { (.number(String($0.offset)), $0.element) }
            case .object(let fields): entries = fields.sorted { $0.0 < $1.0 }.map { (.string($0.0), $0.1) }
            case .null: entries = []
            case let other: throw TemplateError("range can't iterate over \(Template.goText(other))")
            }
            guard !entries.isEmpty else { return try run(otherwise, dot: dot, template: template) }
            for (key, element) in entries {
                let scope = variables.count
                declare(pipeline.variables, pipeline.variables.count == 2 ? [key, element] : [element])
                try run(body, dot: element, template: template)
                variables.removeSubrange(scope...)
            }
        }

        mutating func declare(_ names: [String], _ values: [JSONValue]) {
            for (name, value) in zip(names, values) { variables.append((name, value)) }
        }

        /// Each command's value goes on as the next command's last argument.
        func evaluate(_ pipeline: Pipeline, dot: JSONValue, template: Template) throws -> JSONValue {
            var piped: JSONValue? = nil
            for command in pipeline.commands {
                piped = try call(command, piped: piped, dot: dot, template: template)
            }
            return piped ?? .null
        }

        func call(_ words: [String], piped: JSONValue?, dot: JSONValue, template: Template) throws -> JSONValue {
            let name = words[0]
            if let function = TemplateFunctions.table[name] {
                var args = try words.dropFirst().map { try operand($0, dot: dot, template: template) }
                if let piped { args.append(piped) }
                return try function(args)
            }
            guard words.count == 1, piped == nil else { throw TemplateError("can't give argument to non-function \(name)") }
            return try operand(name, dot: dot, template: template)
        }

        func operand(_ word: String, dot: JSONValue, template: Template) throws -> JSONValue {
            switch word.first {
            case "\"": return .string(try Template.unquote(word))
            case "`": return .string(String(word.dropFirst().dropLast()))
            case "(":
                guard let close = word.lastIndex(of: ")") else { throw TemplateError("unbalanced parentheses") }
                let inner = try Template.words(String(word[word.index(after: word.startIndex)..<close]))
                guard !inner.isEmpty else { throw TemplateError("missing value for command") }
                let value = try evaluate(try Parser.pipeline(inner), dot: dot, template: template)
                let fields = word[word.index(after: close)...]
                return fields.isEmpty ? value : try template.lookup(String(fields), value)
            case ".":
                return word == "." ? dot : try template.lookup(word, dot)
            case "$":
                let name = String(word.prefix { $0 != "." })
                guard let value = variables.last(where: { $0.0 == name })?.1 else { throw TemplateError("undefined variable \"\(name)\"") }
                return name.count == word.count ? value : try template.lookup(String(word.dropFirst(name.count)), value)
            default:
                if word == "true" || word == "false" { return .bool(word == "true") }
                if word == "nil" { return .null }
                if let c = word.first, c.isNumber || c == "-" || c == "+", Double(word) != nil { return .number(word) }
                if let function = TemplateFunctions.table[word] { return try function([]) }
                throw TemplateError("function \"\(word)\" not defined")
            }
        }
    }

    /// A missing top-level field is an error (the docker CLI formats typed structs); a missing key
    /// deeper down is a map's (labels, attributes, options), which Go prints as `<no value>`.
    func lookup(_ path: String, _ data: JSONValue) throws -> JSONValue {
        var value = data
        for (depth, part) in path.split(separator: ".").enumerated() {
            guard case .object = value else {
                throw TemplateError("can't evaluate field \(part) in type \(Self.typeName(value))")
            }
            let key = depth == 0 ? jsonKeys[String(part)] ?? String(part) : String(part)
            guard let next = value[key] else {
                if depth > 0 { return .null }
                throw TemplateError("can't evaluate field \(part)")
            }
            value = next
        }
        return value
    }

    /// The header row of a `table` template: each `{{.Field}}` becomes its column title.
    public func header(_ titles: [String: String]) -> String {
        func walk(_ nodes: [Node]) -> String {
            nodes.map { node -> String in
                switch node {
                case .text(let t): return t
                case .action(let pipeline):
                    let field = pipeline.commands.last?.last.map { String($0.drop(while: { $0 == "." })) } ?? ""
                    return titles[field] ?? field.uppercased()
                case .branch(_, _, let body, _): return walk(body)
                }
            }.joined()
        }
        return walk(nodes)
    }

    /// Go's truth: false, 0, nil and empty strings, slices and maps are false.
    static func truth(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return false
        case .bool(let b): return b
        case .number(let n): return (Double(n) ?? 0) != 0
        case .string(let s): return !s.isEmpty
        case .array(let items): return !items.isEmpty
        case .object(let fields): return !fields.isEmpty
        }
    }

    /// A Go interpreted string literal's escapes.
    static func unquote(_ word: String) throws -> String {
        var out = ""
        var escaped = false
        for c in word.dropFirst().dropLast() {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\", "\"": out.append(c)
                default: throw TemplateError("invalid syntax: \(word)")
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .string: return "string"
        case .number: return "float64"
        case .bool: return "bool"
        case .array: return "[]interface {}"
        default: return "interface {}"
        }
    }

    /// How Go prints a value with `{{.X}}`.
    static func goText(_ j: JSONValue) -> String {
        switch j {
        case .null: return "<no value>"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if let d = Double(n), d == d.rounded(), abs(d) < 1e15, !n.contains("e") && !n.contains("E") { return String(Int64(d)) }
            return n
        case .string(let s): return s
        case .array(let items): return "[" + items.map(goText).joined(separator: " ") + "]"
        case .object(let fields):
            return "map[" + fields.sorted { $0.0 < $1.0 }.map { $0.0 + ":" + goText($0.1) }.joined(separator: " ") + "]"
        }
    }
}

extension String {
    /// `\t` and `\n` typed literally in a shell argument, as docker's formatter reads them.
    func replacingEscapes() -> String {
        var out = ""
        var escaped = false
        for c in self {
            if escaped {
                switch c {
                case "t": out.append("\t")
                case "n": out.append("\n")
                default: out.append("\\"); out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        return out
    }
}
