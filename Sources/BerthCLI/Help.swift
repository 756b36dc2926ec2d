/// `berth CMD --help`, in docker's layout. The flags listed are the ones the command's parser was
/// given (`Flags.HelpRequested` carries them), so help cannot drift from what is accepted; their
/// words come from `Help.text` (HelpText.swift, generated from the docker CLI's own help).
enum Help {
    struct Entry {
        let usage: String
        let description: String
        let flags: [String: (String, String)]
    }

    static let width = 80

    /// A command's help: usage, description, and every flag its parser accepts.
    static func command(_ path: String, specs: [Flags.Spec]) -> String {
        let entry = text[path]
        var out = "Usage:  \(entry?.usage ?? "berth \(path) [OPTIONS]")\n\n\(entry?.description ?? "")\n"
        // Where `-h` means something else (run, create: the hostname), docker lists `--help` itself.
        let listed = specs.contains { $0.short == "h" } ? specs + [Flags.Spec(nil, "help")] : specs
        let rows = listed.sorted { $0.long < $1.long }.map { spec -> (String, String) in
            let (kind, words) = entry?.flags[spec.long] ?? deprecated[spec.long] ?? (spec.takesValue ? "string" : "", "")
            let shown = spec.takesValue ? (kind.isEmpty ? "string" : kind) : ""
            let name = (spec.short.map { "  -\($0), " } ?? "      ") + "--\(spec.long)" + (shown.isEmpty ? "" : " \(shown)")
            return (name, words)
        }
        if !rows.isEmpty {
            out += "\nOptions:\n" + table(rows)
        }
        return out
    }

    /// A management command's help: its subcommands with their descriptions.
    static func group(_ name: String, subcommands: [String]) -> String {
        let entry = text[name]
        let rows = subcommands.sorted().map { ("  " + $0, text["\(name) \($0)"]?.description ?? "") }
        return "Usage:  berth \(name) COMMAND\n\n\(entry?.description ?? "")\n\nCommands:\n" + table(rows)
            + "\nRun 'berth \(name) COMMAND --help' for more information on a command.\n"
    }

    /// Two columns, the second wrapped to `width` and aligned, as cobra prints flags.
    static func table(_ rows: [(String, String)]) -> String {
        let column = (rows.map(\.0.count).max() ?? 0) + 3
        return rows.map { left, words in
            var lines: [String] = []
            var line = ""
            for word in words.split(separator: " ") {
                if !line.isEmpty, column + line.count + 1 + word.count > width {
                    lines.append(line)
                    line = ""
                }
                line += (line.isEmpty ? "" : " ") + word
            }
            lines.append(line)
            let pad = String(repeating: " ", count: column)
            let first = left + String(repeating: " ", count: column - left.count) + lines[0]
            return ([first] + lines.dropFirst().map { pad + $0 }).joined(separator: "\n") + "\n"
        }.joined()
    }
}
