/// `.dockerignore`: Go `filepath.Match` patterns (`*`, `?`, `[…]`) plus `**` across
/// directories, `!` exceptions, the last matching line deciding; a pattern matching a directory
/// excludes what is inside it.
public struct IgnoreRules: Sendable {
    struct Rule: Sendable { var pattern: [Character]; var exclude: Bool }
    var rules: [Rule] = []

    public init(_ text: String) {
        for line in text.split(separator: "\n") {
            var p = line.trimmingSpaces
            if p.isEmpty || p.hasPrefix("#") { continue }
            var exclude = true
            if p.hasPrefix("!") { exclude = false; p = String(p.dropFirst()).trimmingSpaces }
            p = Self.clean(p)
            if p.isEmpty || p == "." { continue }
            rules.append(Rule(pattern: Array(p), exclude: exclude))
        }
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// Lexical clean: no leading `/` or `./`, no `.` segments, `..` resolved.
    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for c in path.split(separator: "/") where c != "." && !c.isEmpty { if c == ".." { _ = parts.popLast() } else { parts.append(c) } }
        return parts.joined(separator: "/")
    }

    /// Whether a context-relative path is left out.
    public func excludes(_ path: String) -> Bool {
        let p = Self.clean(path)
        guard !p.isEmpty else { return false }
        var parents: [String] = []
        var prefix = ""
        for part in p.split(separator: "/") {
            prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
            parents.append(prefix)
        }
        var excluded = false
        for rule in rules where parents.contains(where: { Self.match(rule.pattern[...], Array($0)[...]) }) {
            excluded = rule.exclude
        }
        return excluded
    }

    /// Whether `name` matches `pattern` in full; `*` stays within a path segment, `**` does not.
    /// Dynamic programming over (token, name position), one row at a time: backtracking over
    /// stars is exponential, and a `.dockerignore` line is user input.
    public static func match(_ pattern: ArraySlice<Character>, _ name: ArraySlice<Character>) -> Bool {
        let tokens = GlobToken.parse(pattern)
        let name = Array(name)
        // next[n]: whether tokens after the current one match name[n...]
        var next = [Bool](repeating: false, count: name.count + 1)
        next[name.count] = true
        var row = next
        for token in tokens.reversed() {
            row[name.count] = token.matchesEmpty && next[name.count]
            for n in stride(from: name.count - 1, through: 0, by: -1) {
                let c = name[n]
                switch token {
                case .star: row[n] = next[n] || (c != "/" && row[n + 1])
                case .globstar: row[n] = next[n] || row[n + 1]
                case .one(let accepts): row[n] = accepts(c) && next[n + 1]
                case .never: row[n] = false
                }
            }
            swap(&row, &next)
        }
        return next[0]
    }
}

/// One unit of a `filepath.Match` pattern.
enum GlobToken {
    /// `*`: any run of characters within a segment.
    case star
    /// `**` (and `**/`, which also matches nothing): any run of characters, `/` included.
    case globstar
    /// A literal, `?` or a `[…]` class: exactly one character.
    case one((Character) -> Bool)
    /// A malformed class or a trailing `\`: matches nothing, as Go's `ErrBadPattern`.
    case never

    var matchesEmpty: Bool {
        switch self {
        case .star, .globstar: true
        case .one, .never: false
        }
    }

    static func parse(_ pattern: ArraySlice<Character>) -> [GlobToken] {
        var tokens: [GlobToken] = []
        var p = pattern
        while let first = p.first {
            p = p.dropFirst()
            switch first {
            case "*":
                guard p.first == "*" else {
                    if case .globstar = tokens.last {} else { tokens.append(.star) }
                    continue
                }
                p = p.dropFirst()
                if p.first == "/" { p = p.dropFirst() }  // `**/x` also matches `x`
                if case .star = tokens.last { tokens.removeLast() }
                if case .globstar = tokens.last {} else { tokens.append(.globstar) }
            case "?":
                tokens.append(.one { $0 != "/" })
            case "[":
                guard let close = p.firstIndex(of: "]") else { tokens.append(.never); p = []; continue }
                tokens.append(.one(classMatcher(p[..<close])))
                p = p[p.index(after: close)...]
            case "\\":
                guard let literal = p.first else { tokens.append(.never); continue }
                p = p.dropFirst()
                tokens.append(.one { $0 == literal })
            default:
                tokens.append(.one { $0 == first })
            }
        }
        return tokens
    }

    /// `[abc]`, `[a-z]`, `[^…]`/`[!…]`; never a `/`.
    static func classMatcher(_ body: ArraySlice<Character>) -> (Character) -> Bool {
        var set = body
        let negate = set.first == "^" || set.first == "!"
        if negate { set = set.dropFirst() }
        var ranges: [ClosedRange<Character>] = []
        var i = set.startIndex
        while i < set.endIndex {
            let lo = set[i]
            if set.index(after: i) < set.endIndex, set[set.index(after: i)] == "-", set.index(i, offsetBy: 2) < set.endIndex {
                let hi = set[set.index(i, offsetBy: 2)]
                if lo <= hi { ranges.append(lo...hi) }
                i = set.index(i, offsetBy: 3)
            } else {
                ranges.append(lo...lo)
                i = set.index(after: i)
            }
        }
        return { c in c != "/" && ranges.contains { $0.contains(c) } != negate }
    }
}
