import FoundationEssentials

/// A Dockerfile error with the file and line, as the classic builder reports it.
public struct DockerfileError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One instruction: its keyword, its flags (`--from=x`), and its arguments, either the exec
/// (JSON) form or the raw text of the shell form (substitution happens when it is run, with the
/// variables of that moment).
public struct Instruction: Equatable, Sendable {
    public var keyword: String
    public var flags: [String: String]
    public var json: [String]?
    public var text: String
    public var line: Int
    /// The instruction as written (continuations joined), for `Step n/m :` and history.
    public var original: String
    /// The here-documents of a RUN, COPY or ADD, in the order their markers appear.
    public var heredocs: [Heredoc] = []
    /// A RUN's `--mount`s.
    public var mounts: [RunMount] = []
    /// A COPY's or ADD's `--exclude` patterns (.dockerignore syntax, relative to each source).
    public var excludes: [String] = []
}

/// A here-document (`<<EOF` … `EOF`), as BuildKit's Dockerfile frontend reads them: `<<-` strips
/// leading tabs, a quoted delimiter (`<<'EOF'`, `<<"EOF"`) turns variable expansion off.
public struct Heredoc: Equatable, Sendable {
    public var name: String
    /// The body, newline-terminated, tabs stripped for `<<-`.
    public var content: String
    /// The body lines and the terminator exactly as written, for a shell to read itself.
    public var raw: String
    public var expand: Bool
}

/// The classic builder's Dockerfile syntax: parser directives (`escape`, `syntax`), comments,
/// line continuations, JSON and shell forms. BuildKit-only syntax (heredocs, `RUN --mount`…)
/// is refused with a clear error rather than built wrong.
public struct Dockerfile: Sendable {
    public var instructions: [Instruction]
    public var escape: Character

    static let known: Set = ["FROM", "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "EXPOSE", "VOLUME",
                             "LABEL", "SHELL", "STOPSIGNAL", "HEALTHCHECK", "ONBUILD", "MAINTAINER"]
    /// Flags each instruction accepts here; BuildKit's others get "not supported".
    static let allowedFlags: [String: Set<String>] = [
        "FROM": ["platform"], "COPY": ["from", "chown", "chmod", "link", "exclude", "parents"], "ADD": ["chown", "chmod", "link", "exclude", "checksum"],
        "RUN": ["mount", "network"],
        "HEALTHCHECK": ["interval", "timeout", "start-period", "start-interval", "retries"],
    ]

    public init(parsing text: String, name: String = "Dockerfile") throws {
        var escape: Character = "\\"
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) }
        if let first = lines.first, first.hasPrefix("\u{FEFF}") { lines[0] = String(first.dropFirst()) }
        // Parser directives: `# key=value` lines at the very top.
        var index = 0
        var seen = Set<String>()
        while index < lines.count {
            let t = lines[index].trimmingSpaces
            guard t.hasPrefix("#"), let eq = t.firstIndex(of: "=") else { break }
            let key = t.dropFirst()[..<eq].trimmingSpaces.lowercased()
            guard ["escape", "syntax", "check"].contains(key), !key.contains(" ") else { break }
            guard seen.insert(key).inserted else { throw DockerfileError("\(name):\(index + 1): only one \(key) parser directive can be used") }
            let value = t[t.index(after: eq)...].trimmingSpaces
            if key == "escape" {
                guard value == "\\" || value == "`" else { throw DockerfileError("\(name):\(index + 1): invalid escape token '\(value)' does not match ` or \\") }
                escape = value.first!
            }
            index += 1
        }
        self.escape = escape
        var out: [Instruction] = []
        while index < lines.count {
            let start = index
            var current = lines[index]
            index += 1
            let trimmed = current.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            // Continuations: a line ending in the escape character joins the next; comment and
            // blank lines inside are skipped, as Docker does.
            var logical = ""
            while true {
                let t = current.trimmingTrailingSpaces
                if t.last == escape {
                    logical += String(t.dropLast())
                    while index < lines.count, lines[index].trimmingSpaces.hasPrefix("#") || lines[index].trimmingSpaces.isEmpty { index += 1 }
                    guard index < lines.count else { break }
                    current = lines[index]
                    index += 1
                } else {
                    logical += current
                    break
                }
            }
            var instruction = try Self.instruction(logical, line: start + 1, name: name)
            // The bodies follow the instruction's line, one per marker, each up to its delimiter.
            for marker in instruction.heredocMarkers {
                var body: [String] = [], raw = ""
                while true {
                    guard index < lines.count else {
                        throw DockerfileError("\(name):\(start + 1): unterminated heredoc \(marker.name): no line \"\(marker.name)\" after it")
                    }
                    let line = lines[index]
                    index += 1
                    raw += line + "\n"
                    let stripped = marker.chomp ? String(line.drop { $0 == "\t" }) : line
                    if stripped == marker.name { break }
                    body.append(stripped)
                }
                instruction.heredocs.append(Heredoc(name: marker.name, content: body.map { $0 + "\n" }.joined(), raw: raw, expand: !marker.quoted))
            }
            out.append(instruction)
        }
        instructions = out
        guard let first = out.first(where: { $0.keyword != "ARG" }) else {
            throw DockerfileError("\(name): the Dockerfile cannot be empty")
        }
        guard first.keyword == "FROM" else {
            throw DockerfileError("\(name):\(first.line): no build stage in current context: the first instruction must be FROM")
        }
    }

    static func instruction(_ text: String, line: Int, name: String) throws -> Instruction {
        let body = text.trimmingSpaces
        let keyword = String(body.prefix { !$0.isWhitespace }).uppercased()
        var rest = String(body.dropFirst(keyword.count)).trimmingSpaces
        guard known.contains(keyword) else { throw DockerfileError("\(name):\(line): unknown instruction: \(keyword)") }
        var flags: [String: String] = [:]
        var mounts: [RunMount] = []
        var excludes: [String] = []
        while rest.hasPrefix("--") {
            let word = String(rest.prefix { !$0.isWhitespace })
            rest = String(rest.dropFirst(word.count)).trimmingSpaces
            let kv = word.dropFirst(2).split(separator: "=", maxSplits: 1).map(String.init)
            let flag = kv.first ?? ""
            if keyword == "ADD" && flag == "keep-git-dir" {
                throw DockerfileError("\(name):\(line): ADD --keep-git-dir: git sources are not supported (Berth's builder fetches local files and http(s) URLs only)")
            }
            guard allowedFlags[keyword]?.contains(flag) == true else {
                throw DockerfileError("\(name):\(line): \(keyword) --\(flag) is not supported by the classic builder (it needs BuildKit)")
            }
            if flag == "mount" {
                do { mounts.append(try RunMount(parsing: kv.count > 1 ? kv[1] : "")) } catch {
                    throw DockerfileError("\(name):\(line): \(error.message)")
                }
                continue
            }
            if flag == "exclude" {
                guard kv.count > 1, !kv[1].isEmpty else { throw DockerfileError("\(name):\(line): \(keyword) --exclude needs a pattern") }
                excludes.append(kv[1])
                continue
            }
            flags[flag] = kv.count > 1 ? kv[1] : "true"
        }
        var json: [String]?
        if rest.hasPrefix("["), let parsed = try? JSONDecoder().decode([String].self, from: Data(rest.utf8)) { json = parsed }
        let needsArgs = !["HEALTHCHECK"].contains(keyword)
        if needsArgs && rest.isEmpty && json == nil {
            throw DockerfileError("\(name):\(line): \(keyword) requires at least one argument")
        }
        return Instruction(keyword: keyword, flags: flags, json: json, text: rest, line: line,
                           original: keyword + " " + String(body.dropFirst(keyword.count)).trimmingSpaces, mounts: mounts,
                           excludes: excludes)
    }

}

extension Instruction {
    struct HeredocMarker: Equatable {
        var name: String
        var chomp: Bool
        var quoted: Bool
    }

    /// `<<[-]["']WORD["']` in a RUN, COPY or ADD of the shell form, in order (`<<<` is a shell's
    /// here-string, not a heredoc).
    var heredocMarkers: [HeredocMarker] {
        guard ["RUN", "COPY", "ADD"].contains(keyword), json == nil else { return [] }
        var markers: [HeredocMarker] = []
        let chars = Array(text)
        var i = 0
        var quoting: Character?
        while i + 1 < chars.count {
            // as BuildKit, which looks at whole words: a marker starts a word outside quotes
            if let q = quoting {
                if chars[i] == q { quoting = nil }
                i += 1
                continue
            }
            if chars[i] == "'" || chars[i] == "\"" { quoting = chars[i]; i += 1; continue }
            let wordStart = i == 0 || chars[i - 1].isWhitespace || (chars[..<i].last?.isNumber == true && (chars[..<i].lastIndex { !$0.isNumber }.map { chars[$0].isWhitespace } ?? true))
            guard chars[i] == "<", chars[i + 1] == "<", wordStart, i + 2 >= chars.count || chars[i + 2] != "<" else { i += 1; continue }
            var j = i + 2
            let chomp = j < chars.count && chars[j] == "-"
            if chomp { j += 1 }
            var quote: Character?
            if j < chars.count, chars[j] == "'" || chars[j] == "\"" { quote = chars[j]; j += 1 }
            var name = ""
            while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || (quote == nil && (chars[j] == "." || chars[j] == "-")) || (quote != nil && chars[j] != quote) {
                name.append(chars[j]); j += 1
            }
            if let quote {
                guard j < chars.count, chars[j] == quote else { i += 1; continue }
                j += 1
            }
            if let first = name.first, first.isLetter || first == "_" {
                markers.append(HeredocMarker(name: name, chomp: chomp, quoted: quote != nil))
            }
            i = j
        }
        return markers
    }

    /// The command is a heredoc and nothing else (`RUN <<EOF`): its body is the script.
    public var isSoleHeredoc: Bool {
        heredocs.count == 1 && text.trimmingSpaces.hasPrefix("<<") && !text.trimmingSpaces.contains(where: \.isWhitespace)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }

    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
