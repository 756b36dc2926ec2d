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
    public static func match(_ pattern: ArraySlice<Character>, _ name: ArraySlice<Character>) -> Bool {
        guard let p = pattern.first else { return name.isEmpty }
        switch p {
        case "*":
            if pattern.dropFirst().first == "*" {
                var rest = pattern.dropFirst(2)
                if rest.first == "/" { rest = rest.dropFirst() }  // `**/x` also matches `x`
                if rest.isEmpty { return true }
                var n = name
                while true {
                    if match(rest, n) { return true }
                    guard !n.isEmpty else { return false }
                    n = n.dropFirst()
                }
            }
            var n = name
            while true {
                if match(pattern.dropFirst(), n) { return true }
                guard let c = n.first, c != "/" else { return false }
                n = n.dropFirst()
            }
        case "?":
            guard let c = name.first, c != "/" else { return false }
            return match(pattern.dropFirst(), name.dropFirst())
        case "[":
            guard let c = name.first, c != "/", let close = pattern.dropFirst().firstIndex(of: "]") else { return false }
            var set = pattern[pattern.index(after: pattern.startIndex)..<close]
            let negate = set.first == "^" || set.first == "!"
            if negate { set = set.dropFirst() }
            var hit = false
            var i = set.startIndex
            while i < set.endIndex {
                let lo = set[i]
                if set.index(after: i) < set.endIndex, set[set.index(after: i)] == "-", set.index(i, offsetBy: 2) < set.endIndex {
                    let hi = set[set.index(i, offsetBy: 2)]
                    if lo <= c && c <= hi { hit = true }
                    i = set.index(i, offsetBy: 3)
                } else {
                    if lo == c { hit = true }
                    i = set.index(after: i)
                }
            }
            guard hit != negate else { return false }
            return match(pattern[pattern.index(after: close)...], name.dropFirst())
        case "\\":
            let rest = pattern.dropFirst()
            guard let literal = rest.first, name.first == literal else { return false }
            return match(rest.dropFirst(), name.dropFirst())
        default:
            guard name.first == p else { return false }
            return match(pattern.dropFirst(), name.dropFirst())
        }
    }
}
