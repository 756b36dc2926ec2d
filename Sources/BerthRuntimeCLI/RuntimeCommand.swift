import BerthOCI
import BerthRuntimeCore
import BerthSystem
import FoundationEssentials
import Glibc

/// `berth-runtime`: the runc command line over `Runtime`. Returns the process exit status.
public enum RuntimeCommand {
    public static let version = BerthVersion.runtime

    static let globalFlags: [ArgumentList.Flag] = [
        .value("root"), .value("log"), .value("log-format"), .bool("debug"), .bool("systemd-cgroup"),
        .value("rootless"), .value("criu"), .bool("help", "h"), .bool("version", "v"),
    ]

    public static func main(_ argv: [String]) -> Int32 {
        do {
            return try dispatch(Array(argv.dropFirst()))
        } catch {
            let e = RuntimeError.wrap(error)
            RuntimeLog.error(e.description)
            return e.exitCode
        }
    }

    static func dispatch(_ args: [String]) throws -> Int32 {
        // Global flags come before the command name.
        let commandIndex = try firstCommandIndex(args)
        let globals = try ArgumentList(Array(args[..<commandIndex]), flags: globalFlags)
        RuntimeLog.path = globals.value("log")
        RuntimeLog.json = globals.value("log-format") == "json"
        if globals.bool("version") { print(versionText); return 0 }
        guard commandIndex < args.count else { print(usage); return globals.bool("help") ? 0 : 1 }
        if globals.bool("systemd-cgroup") {
            throw RuntimeError.other("--systemd-cgroup is not supported: berth-runtime manages cgroupfs directly")
        }
        let runtime = Runtime(root: globals.value("root") ?? "/run/berth-runtime")
        let command = args[commandIndex]
        let rest = Array(args[(commandIndex + 1)...])
        switch command {
        case "create": return try create(runtime, rest)
        case "run": return try run(runtime, rest)
        case "start": try runtime.start(id: try single(rest, "start")); return 0
        case "state": return try state(runtime, rest)
        case "kill": return try kill(runtime, rest)
        case "delete": return try delete(runtime, rest)
        case "exec": return try ExecCommand.run(runtime, rest)
        case "pause": try runtime.pause(id: try single(rest, "pause")); return 0
        case "resume": try runtime.resume(id: try single(rest, "resume")); return 0
        case "ps": return try ps(runtime, rest)
        case "list": return try list(runtime, rest)
        case "spec": return try spec(rest)
        case "version": print(versionText); return 0
        case "help": print(usage); return 0
        default: throw RuntimeError.other("No help topic for '\(command)'")
        }
    }

    static var versionText: String { "berth-runtime version \(version)\nspec: \(Spec.version)" }

    static let usage = """
        usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [ARGS…]

        commands: create, start, run, state, kill, delete, exec, pause, resume, ps, list, spec, version
        """

    static func firstCommandIndex(_ args: [String]) throws -> Int {
        var i = 0
        while i < args.count, args[i].hasPrefix("-") {
            let name = String(args[i].drop(while: { $0 == "-" }))
            let flag = globalFlags.first { $0.names.contains(name) }
            i += (flag?.takesValue == true) ? 2 : 1
        }
        return min(i, args.count)
    }

    static func single(_ args: [String], _ command: String) throws -> String {
        let parsed = try ArgumentList(args, flags: [])
        return try id(parsed, command)
    }

    static func id(_ parsed: ArgumentList, _ command: String) throws -> String {
        guard parsed.positionals.count == 1 else {
            throw RuntimeError.other("\"\(command)\" requires exactly 1 argument(s)")
        }
        return parsed.positionals[0]
    }

    static let createFlags: [ArgumentList.Flag] = [
        .value("bundle", "b"), .value("pid-file"), .value("console-socket"), .bool("no-pivot"),
        .bool("no-new-keyring"), .value("preserve-fds"), .bool("detach", "d"), .bool("keep"),
    ]

    static func createOptions(_ parsed: ArgumentList) -> Runtime.CreateOptions {
        Runtime.CreateOptions(bundle: parsed.value("bundle") ?? ".", pidFile: parsed.value("pid-file").map(absolute),
                              consoleSocket: parsed.value("console-socket"))
    }

    static func create(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: createFlags)
        try runtime.create(id: try id(parsed, "create"), options: createOptions(parsed))
        return 0
    }

    static func run(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: createFlags)
        return try runtime.run(id: try id(parsed, "run"), options: createOptions(parsed), detach: parsed.bool("detach"))
    }

    static func state(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        print(try runtime.state(id: try single(args, "state")).prettyJSON)
        return 0
    }

    static func kill(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: [.bool("all", "a")])
        guard (1...2).contains(parsed.positionals.count) else {
            throw RuntimeError.other("\"kill\" requires a minimum of 1 and a maximum of 2 argument(s)")
        }
        let signal = try Signal.parse(parsed.positionals.count == 2 ? parsed.positionals[1] : "SIGTERM")
        try runtime.kill(id: parsed.positionals[0], signal: signal, all: parsed.bool("all"))
        return 0
    }

    static func delete(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: [.bool("force", "f")])
        guard !parsed.positionals.isEmpty else { throw RuntimeError.other("\"delete\" requires a minimum of 1 argument(s)") }
        var failed = false
        for id in parsed.positionals {
            do {
                try runtime.delete(id: id, force: parsed.bool("force"))
            } catch RuntimeError.notFound(_) where parsed.bool("force") {
                continue
            } catch {
                RuntimeLog.error(RuntimeError.wrap(error).description)
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    static func ps(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: [.value("format", "f")], stopAtPositional: true)
        guard let id = parsed.positionals.first else { throw RuntimeError.other("\"ps\" requires a minimum of 1 argument(s)") }
        let pids = try runtime.processes(id: id)
        if parsed.value("format") == "json" {
            print("[" + pids.map(String.init).joined(separator: ",") + "]")
            return 0
        }
        let psArgs = parsed.positionals.count > 1 ? Array(parsed.positionals.dropFirst()) : ["-ef"]
        return try ProcessTable.print(pids: pids, psArgs: psArgs)
    }

    static func list(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: [.value("format", "f"), .bool("quiet", "q")])
        let states = runtime.list()
        if parsed.bool("quiet") {
            states.forEach { print($0.id) }
        } else if parsed.value("format") == "json" {
            print(String(decoding: try JSONEncoder().encode(states), as: UTF8.self))
        } else {
            let rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
                + states.map { [$0.id, String($0.pid), $0.status.rawValue, $0.bundle, $0.created, "root"] }
            print(TabWriter.render(rows, minWidth: 12), terminator: "")  // runc list's tabwriter
        }
        return 0
    }

    static func spec(_ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: [.value("bundle", "b"), .bool("rootless")])
        let path = (parsed.value("bundle") ?? ".") + "/config.json"
        if FileIO.exists(path) { throw RuntimeError.other("File \(path) exists. Remove it first") }
        try AtomicFile.write(path, Array(try prettyJSON(Spec.defaultSpec()).utf8) + [10])
        return 0
    }

    static func prettyJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + path
    }
}
