/// The part of Go's text/template that `--format` strings use: `{{.Field.Sub}}`, `{{.}}`,
/// `{{json .X}}`, `{{index .Map "key"}}`, `{{join .List ","}}`, `{{lower .X}}`, `{{upper .X}}`,
/// `{{println .X}}`, and a leading `table` for a header row with aligned columns.
public struct Template {
    enum Piece: Equatable {
        case text(String)
        case action([String])
    }

    let pieces: [Piece]
    public let isTable: Bool
    /// Go field names whose JSON key differs (`TimeNano` is `timeNano` on the wire): a Go
    /// template sees the struct's fields, while `{{json .}}` prints the wire names.
    let jsonKeys: [String: String]

    public struct TemplateError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(_ source: String, jsonKeys: [String: String] = [:]) throws {
        self.jsonKeys = jsonKeys
        var text = source
        isTable = text.hasPrefix("table")
        if isTable { text = String(text.dropFirst(5)).drop(while: { $0 == " " }).description }
        text = text.replacingEscapes()
        var pieces: [Piece] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { pieces.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw TemplateError(description: "template: unclosed action in \(source)")
            }
            var inner = rest[open.upperBound..<close.lowerBound]
            if inner.hasPrefix("-") { inner = inner.dropFirst() }
            if inner.hasSuffix("-") { inner = inner.dropLast() }
            pieces.append(.action(try Self.words(String(inner))))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        self.pieces = pieces
    }

    /// Splits an action into words; quoted strings and parenthesized pipelines (`(index .A "k").B`)
    /// stay one word (quotes and parentheses kept, to tell them apart).
    static func words(_ text: String) throws -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var depth = 0
        for c in text {
            if c == "\"" { quoted.toggle(); current.append(c); continue }
            if !quoted && c == "(" { depth += 1 }
            if !quoted && c == ")" { depth -= 1 }
            if c == " " && !quoted && depth == 0 {
                if !current.isEmpty { out.append(current); current = "" }
                continue
            }
            current.append(c)
        }
        if quoted { throw TemplateError(description: "template: unterminated quoted string") }
        if depth != 0 { throw TemplateError(description: "template: unbalanced parentheses") }
        if !current.isEmpty { out.append(current) }
        return out
    }

    public func render(_ data: JSONValue) throws -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let t): out += t
            case .action(let words): out += try Self.text(try evaluate(words, data))
            }
        }
        return out
    }

    /// The header row of a `table` template: each `{{.Field}}` becomes its column title.
    public func header(_ titles: [String: String]) -> String {
        pieces.map { piece -> String in
            switch piece {
            case .text(let t): return t
            case .action(let words):
                let field = words.last.map { String($0.drop(while: { $0 == "." })) } ?? ""
                return titles[field] ?? field.uppercased()
            }
        }.joined()
    }

    enum Value {
        case json(JSONValue)
        case text(String)
    }

    func evaluate(_ words: [String], _ data: JSONValue) throws -> Value {
        guard let first = words.first else { throw TemplateError(description: "template: empty action") }
        func argument(_ i: Int) throws -> JSONValue {
            guard i < words.count else { throw TemplateError(description: "template: \(first): missing argument") }
            let word = words[i]
            if word.hasPrefix("\"") { return .string(String(word.dropFirst().dropLast())) }
            if word.hasPrefix("(") { return try group(word, data) }
            if !word.isEmpty && word.allSatisfy(\.isNumber) { return .number(word) }
            return try lookup(word, data)
        }
        if first.hasPrefix("(") { return .json(try group(first, data)) }
        switch first {
        case "json": return .text(try argument(1).compact)
        case "index":
            let container = try argument(1), key = try argument(2)
            if let k = key.string { return .json(container[k] ?? .null) }
            if let i = key.int, i >= 0, Int(i) < container.array.count { return .json(container.array[Int(i)]) }
            return .json(.null)
        case "join":
            let separator = try argument(2).string ?? ""
            return .text(try argument(1).array.map { try Self.text(.json($0)) }.joined(separator: separator))
        case "len":
            // Go's len: of a slice, a map or a string; anything else is an error, as in Go
            switch try argument(1) {
            case .array(let items): return .json(.number(String(items.count)))
            case .object(let fields): return .json(.number(String(fields.count)))
            case .string(let text): return .json(.number(String(text.utf8.count)))
            case .null: return .json(.number("0"))
            case let other: throw TemplateError(description: "template: error calling len: len of type \(other.typeName)")
            }
        case "lower": return .text(try Self.text(.json(try argument(1))).lowercased())
        case "upper": return .text(try Self.text(.json(try argument(1))).uppercased())
        case "println": return .text(try Self.text(.json(try argument(1))) + "\n")
        default:
            guard first.hasPrefix(".") else { throw TemplateError(description: "template: function \"\(first)\" not defined") }
            return .json(try lookup(first, data))
        }
    }

    /// `(pipeline).Field…`: the pipeline's value, then the fields after it.
    func group(_ word: String, _ data: JSONValue) throws -> JSONValue {
        guard let close = word.lastIndex(of: ")") else { throw TemplateError(description: "template: unbalanced parentheses") }
        let inner = String(word[word.index(after: word.startIndex)..<close])
        var value: JSONValue
        switch try evaluate(try Self.words(inner), data) {
        case .json(let j): value = j
        case .text(let t): value = .string(t)
        }
        let rest = word[word.index(after: close)...]
        if !rest.isEmpty { value = try lookup(String(rest), value) }
        return value
    }

    /// A missing top-level field is an error (the docker CLI formats typed structs); a missing key
    /// deeper down is a map's (labels, attributes, options), which Go prints as `<no value>`.
    func lookup(_ path: String, _ data: JSONValue) throws -> JSONValue {
        var value = data
        for (depth, part) in path.split(separator: ".").enumerated() {
            guard case .object = value else {
                throw TemplateError(description: "template: can't evaluate field \(part) in type \(Self.typeName(value))")
            }
            guard let next = value[depth == 0 ? jsonKeys[String(part)] ?? String(part) : String(part)] else {
                if depth > 0 { return .null }
                throw TemplateError(description: "template: can't evaluate field \(part)")
            }
            value = next
        }
        return value
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
    static func text(_ value: Value) throws -> String {
        switch value {
        case .text(let t): return t
        case .json(let j): return goText(j)
        }
    }

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
