/// The builder's variable substitution and word splitting (Docker's `shell.Lex`): `$VAR`,
/// `${VAR}`, `${VAR:-default}`, `${VAR:+alternative}` (and `-`/`+` without the colon), single
/// quotes literal, double quotes expanding, the escape character quoting the next one.
public struct ShellLexer: Sendable {
    public var escape: Character
    public init(escape: Character = "\\") { self.escape = escape }

    /// One string: variables expanded, quotes removed, no splitting (WORKDIR, USER, …).
    public func process(_ text: String, _ env: [String: String]) throws -> String {
        try words(text, env, split: false).first ?? ""
    }

    /// Variables only, as in a heredoc's body: quotes and escapes stay as written, except that an
    /// escaped `$` is a literal one.
    public func expand(_ text: String, _ env: [String: String]) throws -> String {
        var out = ""
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if c == escape, chars.first == "$" {
                out.append(chars.removeFirst())
            } else if c == "$" {
                out += try variable(&chars, env)
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Words split on unquoted whitespace, each expanded (COPY sources, EXPOSE, ENV pairs…).
    public func words(_ text: String, _ env: [String: String], split: Bool = true) throws -> [String] {
        var out: [String] = []
        var word = ""
        var inWord = false
        var chars = Array(text)[...]
        func flush() { if inWord { out.append(word) }; word = ""; inWord = false }
        while let c = chars.popFirst() {
            if c == escape {
                if let n = chars.popFirst() { word.append(n) } else { word.append(c) }
                inWord = true
            } else if c == "'" {
                while let n = chars.popFirst(), n != "'" { word.append(n) }
                inWord = true
            } else if c == "\"" {
                while let n = chars.popFirst(), n != "\"" {
                    if n == escape, let next = chars.first, ["\"", "$", escape].contains(next) || (escape == "\\" && next == "\\") {
                        word.append(chars.removeFirst())
                    } else if n == "$" {
                        word += try variable(&chars, env)
                    } else {
                        word.append(n)
                    }
                }
                inWord = true
            } else if c == "$" {
                word += try variable(&chars, env)
                inWord = true
            } else if split && c.isWhitespace {
                flush()
            } else {
                word.append(c)
                inWord = true
            }
        }
        flush()
        return out
    }

    func variable(_ chars: inout ArraySlice<Character>, _ env: [String: String]) throws -> String {
        guard let first = chars.first else { return "$" }
        if first == "{" {
            chars.removeFirst()
            var name = ""
            while let c = chars.first, c.isLetter || c.isNumber || c == "_" { name.append(chars.removeFirst()) }
            guard !name.isEmpty else { throw DockerfileError("bad substitution: missing variable name") }
            var op = ""
            if chars.first == ":" { op.append(chars.removeFirst()) }
            if let c = chars.first, c == "-" || c == "+" { op.append(chars.removeFirst()) }
            if op == ":" { throw DockerfileError("unsupported modifier (:) in substitution") }
            var wordText = ""
            var depth = 0
            while let c = chars.first {
                if c == "}" && depth == 0 { break }
                if c == "{" { depth += 1 }
                if c == "}" { depth -= 1 }
                wordText.append(chars.removeFirst())
            }
            guard chars.first == "}" else { throw DockerfileError("missing '}' in substitution") }
            chars.removeFirst()
            let value = env[name]
            switch op {
            case "": return value ?? ""
            case ":-": return (value ?? "").isEmpty ? try process(wordText, env) : value!
            case "-":
                if let value { return value }
                return try process(wordText, env)
            case ":+": return (value ?? "").isEmpty ? "" : try process(wordText, env)
            case "+": return value == nil ? "" : try process(wordText, env)
            default: throw DockerfileError("unsupported modifier (\(op)) in substitution")
            }
        }
        guard first.isLetter || first == "_" else { return "$" }
        var name = ""
        while let c = chars.first, c.isLetter || c.isNumber || c == "_" { name.append(chars.removeFirst()) }
        return env[name] ?? ""
    }

    /// `ENV`/`LABEL`/`ARG` pairs: `k=v k2="v 2"`, or the legacy `ENV key the rest`.
    public func pairs(_ text: String, _ env: [String: String], legacy: Bool) throws -> [(String, String?)] {
        let raw = try words(text, [:].merging(env) { $1 }, split: true)
        if legacy, let first = raw.first, !first.contains("=") {
            // `ENV key value with spaces`: everything after the key, as written.
            let rest = text.trimmingSpaces.drop { !$0.isWhitespace }.trimmingSpaces
            guard !rest.isEmpty else { return [(first, nil)] }
            return [(first, try process(String(rest), env))]
        }
        return try raw.map { word in
            guard let eq = word.firstIndex(of: "=") else { return (word, nil) }
            let key = String(word[..<eq])
            guard !key.isEmpty else { throw DockerfileError("invalid key/value: \(word)") }
            return (key, String(word[word.index(after: eq)...]))
        }
    }
}
