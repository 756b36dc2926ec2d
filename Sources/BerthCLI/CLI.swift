import BerthSystem
import Glibc

/// `berth`: docker's command tree against berthd. Each command returns its exit code; errors
/// print as docker prints them (`Error response from daemon: …`).
public struct CLI: Sendable {
    public let client: APIClient
    let name = "berth"

    public init(client: APIClient) { self.client = client }

    public typealias Command = @Sendable (CLI, [String]) throws -> Int32

    /// docker's top-level and management-command names for every command Berth serves.
    static let commands: [String: Command] = [
        "run": { try $0.run($1, detachDefault: false, startAfter: true) },
        "create": { try $0.run($1, detachDefault: true, startAfter: false) },
        "start": { try $0.start($1) }, "stop": { try $0.stop($1) }, "restart": { try $0.restart($1) },
        "kill": { try $0.kill($1) }, "pause": { try $0.simple($1, "pause") }, "unpause": { try $0.simple($1, "unpause") },
        "rm": { try $0.rm($1) }, "ps": { try $0.ps($1) }, "logs": { try $0.logs($1) }, "exec": { try $0.exec($1) },
        "attach": { try $0.attach($1) }, "inspect": { try $0.inspect($1, kind: nil) }, "top": { try $0.top($1) },
        "stats": { try $0.stats($1) }, "port": { try $0.port($1) }, "rename": { try $0.rename($1) }, "wait": { try $0.wait($1) },
        "cp": { try $0.cp($1) }, "diff": { try $0.diff($1) }, "export": { try $0.export($1) }, "update": { try $0.update($1) },
        "images": { try $0.images($1) }, "rmi": { try $0.rmi($1) }, "tag": { try $0.tag($1) }, "history": { try $0.history($1) },
        "save": { try $0.save($1) }, "load": { try $0.load($1) }, "import": { try $0.importImage($1) }, "commit": { try $0.commit($1) },
        "info": { try $0.info($1) }, "version": { try $0.version($1) }, "events": { try $0.events($1) },
        "pull": { try $0.pull($1) }, "push": { try $0.push($1) }, "login": { try $0.login($1) }, "logout": { try $0.logout($1) },
        "search": { try $0.search($1) }, "build": { try $0.build($1) }, "completion": { try $0.completion($1) },
    ]

    /// The top-level commands docker also serves under `container`.
    static let containerCommands: Set = ["attach", "commit", "cp", "create", "diff", "exec", "export", "kill", "logs", "pause", "port",
                                         "rename", "restart", "rm", "run", "start", "stats", "stop", "top", "unpause", "update", "wait"]

    static let groups: [String: [String: Command]] = [
        "container": commands.filter { containerCommands.contains($0.key) }.merging([
            "ls": { try $0.ps($1) }, "list": { try $0.ps($1) }, "ps": { try $0.ps($1) }, "prune": { try $0.containerPrune($1) },
            "inspect": { try $0.inspect($1, kind: "container") },
        ]) { $1 },
        "image": [
            "ls": { try $0.images($1) }, "list": { try $0.images($1) }, "rm": { try $0.rmi($1) }, "prune": { try $0.imagePrune($1) },
            "tag": { try $0.tag($1) }, "history": { try $0.history($1) }, "inspect": { try $0.inspect($1, kind: "image") },
            "save": { try $0.save($1) }, "load": { try $0.load($1) }, "import": { try $0.importImage($1) },
            "pull": { try $0.pull($1) }, "push": { try $0.push($1) }, "build": { try $0.build($1) },
        ],
        "builder": ["prune": { try $0.builderPrune($1) }, "build": { try $0.build($1) }],
        "system": ["df": { try $0.df($1) }, "prune": { try $0.systemPrune($1) }, "check": { try $0.systemCheck($1) }, "info": { try $0.info($1) }, "events": { try $0.events($1) }],
        "network": [
            "create": { try $0.networkCreate($1) }, "ls": { try $0.networkList($1) }, "list": { try $0.networkList($1) },
            "rm": { try $0.networkRemove($1) }, "remove": { try $0.networkRemove($1) }, "inspect": { try $0.inspect($1, kind: "network") },
            "connect": { try $0.networkConnect($1, connect: true) }, "disconnect": { try $0.networkConnect($1, connect: false) },
            "prune": { try $0.networkPrune($1) },
        ],
        "volume": [
            "create": { try $0.volumeCreate($1) }, "ls": { try $0.volumeList($1) }, "list": { try $0.volumeList($1) },
            "rm": { try $0.volumeRemove($1) }, "remove": { try $0.volumeRemove($1) }, "inspect": { try $0.inspect($1, kind: "volume") },
            "prune": { try $0.volumePrune($1) },
        ],
    ]

    /// Runs argv (without the program name).
    public func main(_ argv: [String]) -> Int32 {
        guard var first = argv.first, first != "--help", first != "-h" else {
            out(usage)
            return 0
        }
        if first == "--version" || first == "-v" {
            out("Berth version \(BerthVersion.release)\n")
            return 0
        }
        var args = Array(argv.dropFirst())
        if first == "help" {  // `berth help CMD [SUBCMD]` is `berth CMD [SUBCMD] --help`
            guard let named = args.first else { out(usage); return 0 }
            first = named
            args = Array(args.dropFirst()) + ["--help"]
        }
        var command = first
        var handler = Self.commands[first]
        if let group = Self.groups[first] {
            if args.isEmpty || args.first == "--help" || args.first == "-h" {
                out(Help.group(first, subcommands: Array(group.keys)))
                return 0
            }
            guard let sub = args.first, let h = group[sub] else {
                FileIO.stderr("\(name) \(first): unknown command \(args.first ?? "")\nSee '\(name) \(first) --help'.\n")
                return 1
            }
            command = first + " " + sub
            args.removeFirst()
            handler = h
        }
        guard let handler else {
            FileIO.stderr("\(name): '\(first)' is not a \(name) command.\nSee '\(name) --help'\n")
            return 1
        }
        do {
            return try handler(self, args)
        } catch let e as Flags.HelpRequested {
            out(Help.command(command, specs: e.specs))
            return 0
        } catch let e as Flags.UsageError {
            FileIO.stderr("\(e.description)\nSee '\(name) \(command) --help'.\n")
            return 125
        } catch let e as APIClient.Failure {
            FileIO.stderr((e.status == 0 ? "" : "Error response from daemon: ") + e.message + "\n")
            return 1
        } catch let e as Template.TemplateError {
            FileIO.stderr(e.description + "\n")
            return 1
        } catch {
            FileIO.stderr("\(error)\n")
            return 1
        }
    }

    /// docker's top-level help: common commands first, then management commands, then the rest.
    var usage: String {
        let common = ["run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info"]
        func rows(_ names: [String]) -> String { Help.table(names.map { ("  " + $0, Help.text[$0]?.description ?? "") }) }
        return "Usage:  berth [OPTIONS] COMMAND\n\nBerth: a Docker-compatible container engine (berthd serves the Docker Engine API).\n"
            + "\nCommon Commands:\n" + rows(common)
            + "\nManagement Commands:\n" + rows(Self.groups.keys.sorted())
            + "\nCommands:\n" + rows(Self.commands.keys.filter { !common.contains($0) }.sorted())
            + "\nGlobal Options:\n" + Help.table([("  -H, --host string", "Daemon socket to connect to (or BERTH_HOST / DOCKER_HOST)"),
                                                   ("  -v, --version", "Print version information and quit")])
            + "\nRun 'berth COMMAND --help' for more information on a command.\n"
    }

    // MARK: shared helpers

    func out(_ text: String) { _ = try? FileIO.writeAll(1, Array(text.utf8)) }

    /// Runs `body` for each name; errors print and make the exit code 1, the rest carry on (as docker).
    func each(_ names: [String], _ body: (String) throws -> Void) -> Int32 {
        var code: Int32 = 0
        for n in names {
            do { try body(n) } catch {
                FileIO.stderr((error is APIClient.Failure ? "Error response from daemon: " : "") + "\(error)\n")
                code = 1
            }
        }
        return code
    }

    func requireArgs(_ flags: Flags, _ min: Int, _ usage: String) throws {
        guard flags.positionals.count >= min else {
            throw Flags.UsageError(description: "\"\(usage)\" requires at least \(min) argument\(min == 1 ? "" : "s").")
        }
    }

    /// Prints rows through `--format` (a template, `table …`, or `json`) or docker's default table.
    func printRows(_ rows: [JSONValue], format: String?, defaultFormat: String, titles: [String: String]) throws {
        out(try renderRows(rows, format: format, defaultFormat: defaultFormat, titles: titles))
    }

    func renderRows(_ rows: [JSONValue], format: String?, defaultFormat: String, titles: [String: String]) throws -> String {
        let spec = format.flatMap { $0.isEmpty ? nil : $0 } ?? defaultFormat
        if spec == "json" { return rows.map { $0.compact + "\n" }.joined() }
        let template = try Template(spec)
        var lines: [String] = template.isTable ? [template.header(titles)] : []
        for row in rows { lines.append(try template.render(row)) }
        return template.isTable ? Table.fromTemplate(lines) : lines.map { $0 + "\n" }.joined()
    }
}
