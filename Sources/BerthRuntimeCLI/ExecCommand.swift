import BerthOCI
import BerthRuntimeCore
import BerthSystem
import FoundationEssentials

/// `berth-runtime exec`: builds the process from `--process` or the arguments, starting from the
/// container's own process settings, as runc does.
enum ExecCommand {
    static let flags: [ArgumentList.Flag] = [
        .value("process", "p"), .bool("tty", "t"), .value("console-socket"), .bool("detach", "d"),
        .value("pid-file"), .value("env", "e"), .value("cwd"), .value("user", "u"), .value("additional-gids", "g"),
        .value("cap", "c"), .bool("no-new-privs"), .value("preserve-fds"), .value("process-label"), .value("apparmor"),
    ]

    static func run(_ runtime: Runtime, _ args: [String]) throws -> Int32 {
        let parsed = try ArgumentList(args, flags: flags, stopAtPositional: true)
        guard let id = parsed.positionals.first else { throw RuntimeError.other("\"exec\" requires a minimum of 1 argument(s)") }
        let process = try buildProcess(parsed, base: try runtime.baseProcess(id: id))
        let options = Runtime.ExecOptions(consoleSocket: parsed.value("console-socket"), detach: parsed.bool("detach"),
                                          pidFile: parsed.value("pid-file").map(RuntimeCommand.absolute))
        return try runtime.exec(id: id, process: process, options: options)
    }

    static func buildProcess(_ parsed: ArgumentList, base: Spec.Process) throws -> Spec.Process {
        if let path = parsed.value("process") {
            guard let bytes = try? FileIO.read(path) else { throw RuntimeError.other("open \(path): no such file or directory") }
            do {
                return try JSONDecoder().decode(Spec.Process.self, from: Data(bytes))
            } catch {
                throw RuntimeError.invalidConfig("\(path): invalid process JSON: \(error)")
            }
        }
        let command = Array(parsed.positionals.dropFirst())
        guard !command.isEmpty else { throw RuntimeError.other("exec: no command given (use ARGS… or --process)") }
        var process = base
        process.args = command
        process.terminal = parsed.bool("tty")
        process.consoleSize = nil
        process.env = mergeEnv(base.env ?? [], parsed.all("env"))
        if let cwd = parsed.value("cwd") { process.cwd = cwd }
        if let user = parsed.value("user") {
            let parts = user.split(separator: ":")
            guard let uid = UInt32(parts[0]), parts.count <= 2, let gid = parts.count == 2 ? UInt32(parts[1]) : 0 else {
                throw RuntimeError.other("parsing \(user) as UID[:GID]: invalid user")
            }
            process.user.uid = uid
            process.user.gid = gid
        }
        let gids = try parsed.all("additional-gids").map { g -> UInt32 in
            guard let n = UInt32(g) else { throw RuntimeError.other("parsing additional-gids \(g): invalid syntax") }
            return n
        }
        if !gids.isEmpty { process.user.additionalGids = gids }
        let caps = parsed.all("cap")
        if !caps.isEmpty {
            var c = process.capabilities ?? Spec.Capabilities()
            func add(_ list: [String]?) -> [String] { (list ?? []) + caps.filter { !(list ?? []).contains($0) } }
            c.bounding = add(c.bounding); c.effective = add(c.effective); c.permitted = add(c.permitted)
            process.capabilities = c
        }
        if parsed.bool("no-new-privs") { process.noNewPrivileges = true }
        return process
    }

    /// `-e K=V` replaces an existing K, otherwise appends.
    static func mergeEnv(_ base: [String], _ extra: [String]) -> [String] {
        var env = base
        for entry in extra {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if let i = env.firstIndex(where: { $0.hasPrefix(key + "=") || $0 == key }) { env[i] = entry } else { env.append(entry) }
        }
        return env
    }
}
