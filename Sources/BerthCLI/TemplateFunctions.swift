/// The functions a `--format` template can call: Go's text/template builtins (`and`, `or`, `not`,
/// `eq`…`ge`, `len`, `index`, `slice`, `print`, `printf`, `println`) and the docker CLI's own
/// (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`, `truncate`), over the daemon's JSON.
enum TemplateFunctions {
    typealias Function = @Sendable ([JSONValue]) throws -> JSONValue

    static let table: [String: Function] = [
        "and": { args in try atLeast(1, args, "and"); return args.first { !Template.truth($0) } ?? args[args.count - 1] },
        "or": { args in try atLeast(1, args, "or"); return args.first { Template.truth($0) } ?? args[args.count - 1] },
        "not": { args in try exactly(1, args, "not"); return .bool(!Template.truth(args[0])) },
        "eq": { args in
            try atLeast(2, args, "eq")
            return .bool(try args.dropFirst().contains { try order(args[0], $0, "eq") == 0 })
        },
        "ne": { args in try exactly(2, args, "ne"); return .bool(try order(args[0], args[1], "ne") != 0) },
        "lt": { args in try exactly(2, args, "lt"); return .bool(try order(args[0], args[1], "lt") < 0) },
        "le": { args in try exactly(2, args, "le"); return .bool(try order(args[0], args[1], "le") <= 0) },
        "gt": { args in try exactly(2, args, "gt"); return .bool(try order(args[0], args[1], "gt") > 0) },
        "ge": { args in try exactly(2, args, "ge"); return .bool(try order(args[0], args[1], "ge") >= 0) },
        "len": { args in
            try exactly(1, args, "len")
            switch args[0] {
            case .array(let items): return .number(String(items.count))
            case .object(let fields): return .number(String(fields.count))
            case .string(let text): return .number(String(text.utf8.count))
            case .null: return .number("0")
            case let other: throw fail("len", "len of type \(Template.typeName(other))")
            }
        },
        "index": { args in
            try atLeast(1, args, "index")
            var value = args[0]
            for key in args.dropFirst() {
                switch (value, key) {
                case (.object, .string(let k)): value = value[k] ?? .null
                case (.array(let items), _):
                    guard let i = key.int, i >= 0, i < items.count else { throw fail("index", "index out of range: \(Template.goText(key))") }
                    value = items[Int(i)]
                case (.null, _): return .null
                default: throw fail("index", "can't index item of type \(Template.typeName(value))")
                }
            }
            return value
        },
        "slice": { args in
            try atLeast(1, args, "slice")
            let bounds = try args.dropFirst().map { v -> Int in
                guard let i = v.int, i >= 0, i <= Int64(Int32.max) else { throw fail("slice", "invalid slice index: \(Template.goText(v))") }
                return Int(i)
            }
            func cut<T>(_ items: [T]) throws -> [T] {
                let low = bounds.first ?? 0, high = bounds.count > 1 ? bounds[1] : items.count
                guard bounds.count <= 2, low <= high, high <= items.count else { throw fail("slice", "slice index out of range") }
                return Array(items[low..<high])
            }
            switch args[0] {
            case .array(let items): return .array(try cut(items))
            case .string(let s): return .string(String(decoding: try cut(Array(s.utf8)), as: UTF8.self))
            case let other: throw fail("slice", "can't slice item of type \(Template.typeName(other))")
            }
        },
        "print": { args in .string(sprint(args)) },
        "println": { args in .string(args.map(Template.goText).joined(separator: " ") + "\n") },
        "printf": { args in
            try atLeast(1, args, "printf")
            guard case .string(let format) = args[0] else { throw fail("printf", "wrong type for value; expected string") }
            return .string(Printf.format(format, Array(args.dropFirst())))
        },
        "json": { args in try exactly(1, args, "json"); return .string(args[0].compact) },
        "split": { args in
            try exactly(2, args, "split")
            let text = try string(args[0], "split"), separator = try string(args[1], "split")
            if separator.isEmpty { return .array(text.map { .string(String($0)) }) }
            return .array(text.split(separator: separator, omittingEmptySubsequences: false).map { .string(String($0)) })
        },
        "join": { args in
            try exactly(2, args, "join")
            return .string(args[0].array.map(Template.goText).joined(separator: try string(args[1], "join")))
        },
        "title": { args in
            try exactly(1, args, "title")
            var atStart = true
            return .string(String(try string(args[0], "title").map { c -> String in
                defer { atStart = !(c.isLetter || c.isNumber || c == "_" || c == "'") }
                return atStart ? c.uppercased() : String(c)
            }.joined()))
        },
        "lower": { args in try exactly(1, args, "lower"); return .string(Template.goText(args[0]).lowercased()) },
        "upper": { args in try exactly(1, args, "upper"); return .string(Template.goText(args[0]).uppercased()) },
        "pad": { args in
            try exactly(3, args, "pad")
            let text = Template.goText(args[0])
            guard !text.isEmpty else { return .string(text) }
            let before = max(0, Int(clamping: args[1].int ?? 0)), after = max(0, Int(clamping: args[2].int ?? 0))
            return .string(String(repeating: " ", count: min(before, 4096)) + text + String(repeating: " ", count: min(after, 4096)))
        },
        "truncate": { args in
            try exactly(2, args, "truncate")
            let text = Template.goText(args[0])
            let length = max(0, Int(clamping: args[1].int ?? 0))
            return .string(String(text.prefix(length)))
        },
    ]

    static func fail(_ name: String, _ why: String) -> Template.TemplateError {
        Template.TemplateError("error calling \(name): \(why)")
    }

    static func exactly(_ n: Int, _ args: [JSONValue], _ name: String) throws {
        guard args.count == n else { throw Template.TemplateError("wrong number of args for \(name): want \(n) got \(args.count)") }
    }

    static func atLeast(_ n: Int, _ args: [JSONValue], _ name: String) throws {
        guard args.count >= n else { throw Template.TemplateError("wrong number of args for \(name): want at least \(n) got \(args.count)") }
    }

    static func string(_ value: JSONValue, _ name: String) throws -> String {
        guard case .string(let s) = value else { throw fail(name, "wrong type for value; expected string; got \(Template.typeName(value))") }
        return s
    }

    /// Go's comparison of basic values: numbers with numbers, strings with strings, bools only for
    /// equality; anything else is "incompatible types".
    static func order(_ a: JSONValue, _ b: JSONValue, _ name: String) throws -> Int {
        switch (a, b) {
        case (.number, .number):
            let x = a.double ?? 0, y = b.double ?? 0
            return x < y ? -1 : x > y ? 1 : 0
        case (.string(let x), .string(let y)): return x < y ? -1 : x > y ? 1 : 0
        case (.bool(let x), .bool(let y)) where name == "eq" || name == "ne": return x == y ? 0 : 1
        case (.null, .null) where name == "eq" || name == "ne": return 0
        default: throw fail(name, "incompatible types for comparison")
        }
    }

    /// fmt.Sprint: a space between operands when neither is a string.
    static func sprint(_ args: [JSONValue]) -> String {
        var out = ""
        for (i, arg) in args.enumerated() {
            if i > 0, args[i - 1].string == nil, arg.string == nil { out += " " }
            out += Template.goText(arg)
        }
        return out
    }
}

/// The verbs of Go's fmt that formats use: `%s %v %d %q %f %x %t %%`, with `-`, `0` and `+`
/// flags, a width and a precision; a missing operand prints `%!v(MISSING)`, extras
/// `%!(EXTRA type=value)`, as Go does.
enum Printf {
    static func format(_ format: String, _ args: [JSONValue]) -> String {
        var out = ""
        var next = 0
        var chars = format[...]
        while let c = chars.popFirst() {
            guard c == "%" else { out.append(c); continue }
            var left = false, zero = false, plus = false
            while let f = chars.first, "-0+ #".contains(f) {
                if f == "-" { left = true } else if f == "0" { zero = true } else if f == "+" { plus = true }
                chars.removeFirst()
            }
            let width = Int(String(chars.prefix { $0.isNumber }).prefix(6)) ?? 0
            chars = chars.drop { $0.isNumber }
            var precision: Int? = nil
            if chars.first == "." {
                chars.removeFirst()
                precision = Int(String(chars.prefix { $0.isNumber }).prefix(6)) ?? 0
                chars = chars.drop { $0.isNumber }
            }
            guard let verb = chars.popFirst() else { out += "%!(NOVERB)"; break }
            if verb == "%" { out += "%"; continue }
            guard next < args.count else { out += "%!\(verb)(MISSING)"; continue }
            let arg = args[next]
            next += 1
            var text: String
            switch verb {
            case "d":
                guard let n = arg.int else { text = "%!d(\(Template.typeName(arg))=\(Template.goText(arg)))"; break }
                text = (plus && n >= 0 ? "+" : "") + String(n)
            case "f", "F", "e", "g":
                guard let d = arg.double else { text = "%!\(verb)(\(Template.typeName(arg))=\(Template.goText(arg)))"; break }
                text = fixed(d, precision ?? 6, verb: verb)
                if plus && d >= 0 { text = "+" + text }
            case "x", "X":
                if let n = arg.int { text = String(n, radix: 16, uppercase: verb == "X") } else {
                    text = Template.goText(arg).utf8.map { String($0, radix: 16, uppercase: verb == "X").leftPadded(2, "0") }.joined()
                }
            case "q": text = quoted(Template.goText(arg))
            case "t": text = arg.bool.map { $0 ? "true" : "false" } ?? "%!t(\(Template.typeName(arg))=\(Template.goText(arg)))"
            default:
                text = Template.goText(arg)
                if let precision, verb == "s" || verb == "v" { text = String(text.prefix(precision)) }
            }
            if text.count < width {
                let pad = String(repeating: zero && !left ? "0" : " ", count: width - text.count)
                text = left ? text + pad : pad + text
            }
            out += text
        }
        if next < args.count {
            out += "%!(EXTRA " + args[next...].map { "\(Template.typeName($0))=\(Template.goText($0))" }.joined(separator: ", ") + ")"
        }
        return out
    }

    static func fixed(_ value: Double, _ digits: Int, verb: Character) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value < 0 ? "-Inf" : "+Inf" }
        if verb == "g" || verb == "e" { return Template.goText(.number(String(value))) }
        let negative = value < 0
        let scale = (0..<min(digits, 15)).reduce(1.0) { r, _ in r * 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return String(value) }
        let whole = UInt64(scaled)
        let integer = whole / UInt64(scale), fraction = whole % UInt64(scale)
        var text = String(integer)
        if digits > 0 { text += "." + String(fraction).leftPadded(min(digits, 15), "0") + String(repeating: "0", count: max(0, digits - 15)) }
        return (negative && scaled != 0 ? "-" : "") + text
    }

    /// strconv.Quote for the text formats print.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for c in text.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where c.value < 0x20 || c.value == 0x7f: out += "\\x" + String(c.value, radix: 16).leftPadded(2, "0")
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}

private extension String {
    func leftPadded(_ width: Int, _ fill: Character) -> String {
        count >= width ? self : String(repeating: fill, count: width - count) + self
    }
}
