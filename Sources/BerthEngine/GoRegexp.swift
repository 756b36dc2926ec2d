/// Go's `regexp` (RE2 syntax) for the patterns clients send, matched in linear time: the pattern
/// compiles to a small program run by a Pike VM, one pass over the input with a set of threads,
/// so no pattern can make a match take exponential time (Swift's `Regex` backtracks: a client's
/// `(a+)+$` could hold a container's start for ever). `MatchString` semantics: unanchored search,
/// `^`/`$` at the text's ends (`(?m)` for lines), `(?i)`, `(?s)`, classes, `\d \w \s \b`, counted
/// repetition up to 1000, as RE2 limits it.
public struct GoRegexp: Sendable {
    /// A set of scalars: ranges, possibly negated.
    struct CharClass: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var negated = false

        func contains(_ c: Unicode.Scalar, foldCase: Bool) -> Bool {
            func within(_ v: UInt32) -> Bool { ranges.contains { $0.contains(v) } }
            var hit = within(c.value)
            if !hit && foldCase {
                for other in [c.properties.lowercaseMapping, c.properties.uppercaseMapping] {
                    if let s = other.unicodeScalars.first, other.unicodeScalars.count == 1, within(s.value) { hit = true }
                }
            }
            return hit != negated
        }

        static let digit = CharClass(ranges: [48...57])
        static let word = CharClass(ranges: [48...57, 65...90, 95...95, 97...122])
        static let space = CharClass(ranges: [9...10, 12...13, 32...32])
    }

    enum Assertion: Sendable { case textStart, textEnd, lineStart, lineEnd, wordBoundary, notWordBoundary }

    enum Instruction: Sendable {
        case scalar(CharClass, foldCase: Bool)
        case any(newline: Bool)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    let program: [Instruction]

    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// RE2's bound on a program: a client's `((a{1000}){1000}){1000}` is refused, not compiled.
    static let maxInstructions = 20_000

    public init(_ pattern: String) throws {
        // Before any parsing: a 16 MiB pattern (what a request body may hold) would be a node per
        // character before the program's bound could refuse it.
        guard pattern.utf8.count <= 64 << 10 else { throw SyntaxError(description: "error parsing regexp: expression too large") }
        var parser = Parser(pattern: Array(pattern.unicodeScalars))
        let node = try parser.parseAlternation()
        guard parser.index == parser.pattern.count else { throw SyntaxError(description: "error parsing regexp: unexpected ): `\(pattern)`") }
        var compiler = Compiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        guard compiler.program.count <= Self.maxInstructions else { throw SyntaxError(description: "error parsing regexp: expression too large") }
        program = compiler.program
    }

    // MARK: syntax

    indirect enum Node {
        case empty
        case scalar(CharClass, foldCase: Bool)
        case any(newline: Bool)
        case assert(Assertion)
        case concat([Node])
        case alternate([Node])
        case repeated(Node, min: Int, max: Int?)
    }

    struct Parser {
        let pattern: [Unicode.Scalar]
        var index = 0
        var foldCase = false, dotNewline = false, multiLine = false
        /// Groups open now: bounded, as RE2 bounds them, so no pattern can exhaust the stack.
        var depth = 0

        func error(_ what: String) -> SyntaxError {
            SyntaxError(description: "error parsing regexp: \(what): `\(String(String.UnicodeScalarView(pattern)))`")
        }

        var peek: Unicode.Scalar? { index < pattern.count ? pattern[index] : nil }

        mutating func parseAlternation() throws -> Node {
            var branches = [try parseConcatenation()]
            while peek == "|" {
                index += 1
                branches.append(try parseConcatenation())
            }
            return branches.count == 1 ? branches[0] : .alternate(branches)
        }

        mutating func parseConcatenation() throws -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try parseAtom()
                var repeated = false
                while let q = peek, q == "*" || q == "+" || q == "?" || q == "{" {
                    guard let (min, max) = try parseRepeat() else { break }
                    if case .empty = atom { throw error("missing argument to repetition operator") }
                    if repeated { throw error("invalid nested repetition operator") }  // a** (a group may repeat: (a*)*)
                    atom = .repeated(atom, min: min, max: max)
                    repeated = true
                    if peek == "?" { index += 1 }  // a lazy quantifier matches the same texts
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : .concat(items)
        }

        /// `*`, `+`, `?` or `{n}`, `{n,}`, `{n,m}`; nil when `{` does not start a count (then a literal).
        mutating func parseRepeat() throws -> (Int, Int?)? {
            guard let c = peek else { return nil }
            switch c {
            case "*": index += 1; return (0, nil)
            case "+": index += 1; return (1, nil)
            case "?": index += 1; return (0, 1)
            default:
                let start = index
                index += 1
                func number() -> Int? {
                    var n: Int?
                    while let d = peek, d.isASCII, let v = Int(String(d)) {
                        n = min((n ?? 0) * 10 + v, 100_000)
                        index += 1
                    }
                    return n
                }
                guard let low = number() else { index = start; return nil }
                var high: Int? = low
                if peek == "," {
                    index += 1
                    high = number()
                }
                guard peek == "}" else { index = start; return nil }
                index += 1
                guard low <= 1000, (high ?? low) <= 1000, (high ?? low) >= low else { throw error("invalid repeat count") }
                return (low, high)
            }
        }

        mutating func parseAtom() throws -> Node {
            guard let c = peek else { return .empty }
            index += 1
            switch c {
            case "(":
                depth += 1
                defer { depth -= 1 }
                guard depth <= 200 else { throw error("expression nests too deeply") }
                // flags set inside a group end with it; `(?i)` alone sets them for the rest of the enclosing one
                let saved = (foldCase, dotNewline, multiLine)
                if peek == "?" {
                    index += 1
                    if peek == ":" {
                        index += 1
                    } else if peek == "P" || peek == "<" {
                        // a named group: its name skipped, its body kept
                        while let n = peek, n != ">" { index += 1 }
                        guard peek == ">" else { throw error("invalid named capture") }
                        index += 1
                    } else {
                        // flags: (?i) (?s) (?m), or (?i:...)
                        var on = true
                        while let f = peek, f != ")" && f != ":" {
                            index += 1
                            switch f {
                            case "-": on = false
                            case "i": foldCase = on
                            case "s": dotNewline = on
                            case "m": multiLine = on
                            case "U": break
                            default: throw error("invalid or unsupported Perl syntax")
                            }
                        }
                        guard let end = peek else { throw error("missing closing )") }
                        index += 1
                        if end == ")" { return .empty }
                    }
                }
                let inner = try parseAlternation()
                guard peek == ")" else { throw error("missing closing )") }
                index += 1
                (foldCase, dotNewline, multiLine) = saved
                return inner
            case ")": throw error("unexpected )")
            case ".": return .any(newline: dotNewline)
            case "^": return .assert(multiLine ? .lineStart : .textStart)
            case "$": return .assert(multiLine ? .lineEnd : .textEnd)
            case "[": return .scalar(try parseClass(), foldCase: foldCase)
            case "*", "+", "?": throw error("missing argument to repetition operator")
            case "\\": return try parseEscape(inClass: false)
            default: return .scalar(CharClass(ranges: [c.value...c.value]), foldCase: foldCase)
            }
        }

        mutating func parseEscape(inClass: Bool) throws -> Node {
            guard let e = peek else { throw error("trailing backslash at end of expression") }
            index += 1
            switch e {
            case "d": return .scalar(.digit, foldCase: false)
            case "D": return .scalar(CharClass(ranges: CharClass.digit.ranges, negated: true), foldCase: false)
            case "w": return .scalar(.word, foldCase: false)
            case "W": return .scalar(CharClass(ranges: CharClass.word.ranges, negated: true), foldCase: false)
            case "s": return .scalar(.space, foldCase: false)
            case "S": return .scalar(CharClass(ranges: CharClass.space.ranges, negated: true), foldCase: false)
            case "b" where !inClass: return .assert(.wordBoundary)
            case "B" where !inClass: return .assert(.notWordBoundary)
            case "A" where !inClass: return .assert(.textStart)
            case "z" where !inClass: return .assert(.textEnd)
            case "n": return literal("\n")
            case "t": return literal("\t")
            case "r": return literal("\r")
            case "f": return literal("\u{0C}")
            case "v": return literal("\u{0B}")
            case "a": return literal("\u{07}")
            default:
                guard !e.properties.isAlphabetic && !("0"..."9").contains(e) else { throw error("invalid escape sequence: `\\\(e)`") }
                return literal(e)
            }
        }

        func literal(_ c: Unicode.Scalar) -> Node { .scalar(CharClass(ranges: [c.value...c.value]), foldCase: foldCase) }

        static let posix: [String: [ClosedRange<UInt32>]] = [
            "alpha": [65...90, 97...122], "digit": [48...57], "alnum": [48...57, 65...90, 97...122], "upper": [65...90],
            "lower": [97...122], "space": [9...13, 32...32], "xdigit": [48...57, 65...70, 97...102], "word": [48...57, 65...90, 95...95, 97...122],
            "punct": [33...47, 58...64, 91...96, 123...126], "blank": [9...9, 32...32], "cntrl": [0...31, 127...127],
            "print": [32...126], "graph": [33...126], "ascii": [0...127],
        ]

        mutating func parseClass() throws -> CharClass {
            var set = CharClass()
            if peek == "^" { set.negated = true; index += 1 }
            var first = true
            while true {
                guard let c = peek else { throw error("missing closing ]") }
                if c == "]" && !first { index += 1; break }
                first = false
                if c == "[" && index + 1 < pattern.count && pattern[index + 1] == ":" {
                    guard let close = (index + 2..<pattern.count).first(where: { pattern[$0] == ":" && $0 + 1 < pattern.count && pattern[$0 + 1] == "]" }) else {
                        throw error("missing closing ]")
                    }
                    var name = String(String.UnicodeScalarView(pattern[(index + 2)..<close]))
                    let negate = name.hasPrefix("^")
                    if negate { name.removeFirst() }
                    guard let ranges = Self.posix[name] else { throw error("invalid character class range") }
                    set.ranges += negate ? Self.complement(ranges) : ranges
                    index = close + 2
                    continue
                }
                index += 1
                var low = c.value
                if c == "\\" {
                    switch try parseEscape(inClass: true) {
                    case .scalar(let cls, _):
                        if cls.ranges.count == 1, let r = cls.ranges.first, r.lowerBound == r.upperBound, !cls.negated {
                            low = r.lowerBound
                        } else {
                            set.ranges += cls.negated ? Self.complement(cls.ranges) : cls.ranges
                            continue
                        }
                    default: throw error("invalid escape sequence")
                    }
                }
                if peek == "-", index + 1 < pattern.count, pattern[index + 1] != "]" {
                    index += 1
                    guard var high = peek?.value else { throw error("missing closing ]") }
                    index += 1
                    if high == 92 /* \ */ {
                        guard case .scalar(let cls, _) = try parseEscape(inClass: true), cls.ranges.count == 1,
                              let r = cls.ranges.first, r.lowerBound == r.upperBound else { throw error("invalid character class range") }
                        high = r.lowerBound
                    }
                    guard low <= high else { throw error("invalid character class range") }
                    set.ranges.append(low...high)
                } else {
                    set.ranges.append(low...low)
                }
            }
            return set
        }

        static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
            var out: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
                next = max(next, r.upperBound + 1)
            }
            if next <= 0x10FFFF { out.append(next...0x10FFFF) }
            return out
        }
    }

    // MARK: compiling

    struct Compiler {
        var program: [Instruction] = []

        mutating func emit(_ node: Node) throws {
            guard program.count <= GoRegexp.maxInstructions else { throw SyntaxError(description: "error parsing regexp: expression too large") }
            switch node {
            case .empty: break
            case .scalar(let cls, let fold): program.append(.scalar(cls, foldCase: fold))
            case .any(let newline): program.append(.any(newline: newline))
            case .assert(let a): program.append(.assert(a))
            case .concat(let items): for item in items { try emit(item) }
            case .alternate(let branches):
                var jumps: [Int] = []
                for (i, branch) in branches.enumerated() {
                    if i < branches.count - 1 {
                        let split = program.count
                        program.append(.split(split + 1, 0))
                        try emit(branch)
                        jumps.append(program.count)
                        program.append(.jump(0))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case .repeated(let inner, let min, let max):
                for _ in 0..<min { try emit(inner) }
                if let max {
                    // each optional copy may be skipped to the end
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(program.count)
                        program.append(.split(program.count + 1, 0))
                        try emit(inner)
                    }
                    for s in splits { program[s] = .split(s + 1, program.count) }
                } else {
                    let loop = program.count
                    program.append(.split(loop + 1, 0))
                    try emit(inner)
                    program.append(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }

    // MARK: matching

    /// Go's `MatchString`: whether the pattern matches anywhere in `text`.
    public func matches(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current: [Int] = [], next: [Int] = []
        var onList = [Int](repeating: -1, count: program.count)
        func isWord(_ i: Int) -> Bool { i >= 0 && i < input.count && CharClass.word.contains(input[i], foldCase: false) }
        /// Follows jumps, splits and assertions at position `at` without consuming input.
        func add(_ pc: Int, _ at: Int, _ list: inout [Int]) -> Bool {
            var stack = [pc]
            while let pc = stack.popLast() {
                guard onList[pc] != at else { continue }
                onList[pc] = at
                switch program[pc] {
                case .match: return true
                case .jump(let to): stack.append(to)
                case .split(let a, let b): stack.append(b); stack.append(a)
                case .assert(let kind):
                    let holds: Bool
                    switch kind {
                    case .textStart: holds = at == 0
                    case .textEnd: holds = at == input.count
                    case .lineStart: holds = at == 0 || input[at - 1] == "\n"
                    case .lineEnd: holds = at == input.count || input[at] == "\n"
                    case .wordBoundary: holds = isWord(at - 1) != isWord(at)
                    case .notWordBoundary: holds = isWord(at - 1) == isWord(at)
                    }
                    if holds { stack.append(pc + 1) }
                default: list.append(pc)
                }
            }
            return false
        }
        for at in 0...input.count {
            // unanchored: a new thread starts at every position
            if add(0, at, &current) { return true }
            guard at < input.count else { break }
            let c = input[at]
            next.removeAll(keepingCapacity: true)
            for pc in current {
                let advances: Bool
                switch program[pc] {
                case .scalar(let cls, let fold): advances = cls.contains(c, foldCase: fold)
                case .any(let newline): advances = newline || c != "\n"
                default: advances = false
                }
                if advances && add(pc + 1, at + 1, &next) { return true }
            }
            swap(&current, &next)
        }
        return false
    }
}
