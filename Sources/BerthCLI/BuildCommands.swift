import BerthAPI
import BerthArchive
import BerthBuild
import BerthSystem
import FoundationEssentials
import Glibc

/// `berth build`: sends the context (a directory minus `.dockerignore`, or `-` on stdin: a tar
/// or a lone Dockerfile) to `POST /build` and shows the builder's stream, as docker's classic
/// builder client does.
extension CLI {
    func build(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("t", "tag", value: true), .init("f", "file", value: true), .init(nil, "build-arg", value: true),
                                        .init(nil, "target", value: true), .init(nil, "no-cache"), .init(nil, "pull"), .init(nil, "label", value: true),
                                        .init("q", "quiet"), .init(nil, "rm"), .init(nil, "force-rm"), .init(nil, "network", value: true),
                                        .init(nil, "platform", value: true), .init(nil, "secret", value: true), .init(nil, "ssh", value: true),
                                        .init(nil, "progress", value: true), .init(nil, "add-host", value: true), .init(nil, "cache-from", value: true), .init(nil, "no-cache-filter", value: true),
                                        .init(nil, "iidfile", value: true), .init("m", "memory", value: true), .init(nil, "memory-swap", value: true),
                                        .init("c", "cpu-shares", value: true), .init(nil, "cpu-period", value: true), .init(nil, "cpu-quota", value: true),
                                        .init(nil, "cpuset-cpus", value: true), .init(nil, "cpuset-mems", value: true), .init(nil, "cgroup-parent", value: true),
                                        .init(nil, "shm-size", value: true), .init(nil, "ulimit", value: true), .init(nil, "security-opt", value: true),
                                        .init(nil, "isolation", value: true), .init(nil, "squash"), .init(nil, "compress"), .init(nil, "disable-content-trust")])
        guard f.positionals.count == 1 else { throw Flags.UsageError(description: "\"\(name) build\" requires exactly 1 argument.") }
        let session = try Self.buildSession(secrets: f.all("secret"), agents: f.all("ssh"))
        if let path = f.string("iidfile") { unlink(path) }  // as docker: never a stale ID after a failed build
        let progress = f.string("progress") ?? "auto"
        guard ["auto", "plain", "tty"].contains(progress) else { throw Flags.UsageError(description: "invalid progress mode \"\(progress)\": use auto, plain or tty") }
        let wantsView = !f.bool("quiet") && (progress == "tty" || progress == "auto" && isatty(1) == 1)
        var dockerfile = f.string("file") ?? "Dockerfile"
        let source = f.positionals[0]
        let compression: TarWriter.Compression = f.bool("compress") ? .gzip : .none
        // The context is archived straight into the request (as docker's --compress: gzipped on
        // the way; the daemon reads either).
        let produce: (APIClient.ChunkedBody) throws -> Void
        if source == "-" {
            let input = try FileIO.readAll(0)
            if Self.looksLikeTar(input) {
                produce = { body in
                    if compression == .gzip {
                        try Gzip.compress(input) { try body.write($0) }
                    } else {
                        try input.withUnsafeBytes { try body.write($0) }
                    }
                }
            } else {
                produce = { body in try Self.sendContext(body, compression) { tar in try Self.addFile(tar, name: "Dockerfile", bytes: input) } }
                dockerfile = "Dockerfile"
            }
        } else {
            guard FileIO.isDirectory(source) else { throw APIClient.Failure(status: 0, message: "unable to prepare context: path \"\(source)\" not found") }
            let ignore = IgnoreRules((try? FileIO.readString(source + "/.dockerignore")) ?? "")
            // A Dockerfile outside the context travels inside it under a private name.
            var outside: [UInt8]?
            if let file = f.string("file"), file != "-", !FileIO.exists(source + "/" + file) || file.hasPrefix("/") {
                guard let bytes = try? FileIO.read(file) else { throw APIClient.Failure(status: 0, message: "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat \(file): no such file or directory") }
                outside = bytes
                dockerfile = ".dockerfile.\(UInt32.random(in: 0...UInt32.max))"
            }
            let name = dockerfile
            produce = { body in
                try Self.sendContext(body, compression) { tar in
                    let filter = IgnoreFilter(rules: ignore, keep: [name, ".dockerignore"], output: tar)
                    try TreeArchiver(mode: .plain).archive(source, to: filter)
                    if let outside { try Self.addFile(tar, name: name, bytes: outside) }
                }
            }
        }
        let announce = !f.bool("quiet") && !wantsView
        var query: [(String, String)] = [("dockerfile", dockerfile)]
        for t in f.all("tag") { query.append(("t", t)) }
        if f.has("build-arg") {
            let args = f.all("build-arg").map { a -> (String, JSONValue) in
                let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let key = kv.first ?? ""
                return (key, kv.count > 1 ? .string(kv[1]) : getenv(key).map { .string(String(cString: $0)) } ?? .null)
            }
            query.append(("buildargs", JSONValue.object(args).compact))
        }
        if f.has("label") { query.append(("labels", JSONValue.object(Self.keyValues(f.all("label")).sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).compact)) }
        if let target = f.string("target") { query.append(("target", target)) }
        if f.bool("no-cache") { query.append(("nocache", "1")) }
        if f.bool("pull") { query.append(("pull", "1")) }
        if f.bool("quiet") { query.append(("q", "1")) }
        if f.has("rm") && !f.bool("rm") { query.append(("rm", "0")) }
        if f.bool("force-rm") { query.append(("forcerm", "1")) }
        if let platform = f.string("platform") { query.append(("platform", platform)) }
        if let network = f.string("network") { query.append(("networkmode", network)) }
        for host in f.all("add-host") { query.append(("extrahosts", host)) }
        if f.has("cache-from") { query.append(("cachefrom", JSONValue.array(f.all("cache-from").map { .string($0) }).compact)) }
        if f.has("no-cache-filter") {
            // buildx's: repeatable, each a comma-separated list of stage names
            let stages = f.all("no-cache-filter").flatMap { $0.split(separator: ",").map { JSONValue.string(String($0)) } }
            query.append(("nocachefilter", JSONValue.array(stages).compact))
        }
        query += try Self.stepLimits(f)
        // as docker's classic client: the line redrawn every 512 KiB on a terminal, once otherwise
        let sending = "Sending build context to Docker daemon  "
        let redraw = announce && isatty(1) == 1
        let response = try client.open("POST", "/build", query: query, contentType: "application/x-tar", headers: session) { body in
            var shown: Int64 = 0
            if redraw {
                body.onWrite = { [self] sent in
                    guard sent - shown >= 512 << 10 else { return }
                    shown = sent
                    out("\r" + sending + Size.human(sent))
                }
            }
            try produce(body)
            if announce { out((redraw ? "\r" : "") + sending + Size.human(body.count) + "\n") }
        }
        let view = wantsView ? BuildProgressView() : nil
        var code: Int32 = 0
        var failure: String?
        var imageID: String?
        do {
            try response.lines { line in
                let message = (try? JSONValue.parse(line)) ?? .null
                if let error = message["error"]?.string {
                    failure = error
                    code = Int32(message["errorDetail"]?["code"]?.int ?? 1)
                    if code == 0 { code = 1 }
                    return true
                }
                if let text = message["stream"]?.string {
                    if let view { view.consume(text) } else { out(text) }
                }
                if let id = message["aux"]?["ID"]?.string { imageID = id }
                return true
            }
        } catch {
            view?.finish(failed: true)
            throw error
        }
        view?.finish(failed: failure != nil)
        if let failure { FileIO.stderr(failure + "\n") }
        if code == 0, let path = f.string("iidfile"), let id = imageID {
            try AtomicFile.write(path, Array(id.utf8), mode: 0o644, durable: false)
        }
        return code
    }

    /// `--secret` and `--ssh` as buildx reads them, for the request's headers (`BuildHeaders`):
    /// a secret from a file (`src=`, or a file named by the id) or a variable (`env=`, or a variable
    /// named by the id when one is set); an agent by its socket (`default` is `$SSH_AUTH_SOCK`).
    static func buildSession(secrets: [String], agents: [String]) throws -> [(String, String)] {
        var values: [(String, JSONValue)] = []
        for spec in secrets {
            var fields: [String: String] = [:]
            for field in spec.split(separator: ",") {
                let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
                fields[kv[0].lowercased()] = kv.count > 1 ? kv[1] : ""
            }
            guard let id = fields["id"], !id.isEmpty else { throw Flags.UsageError(description: "invalid secret \(spec): an id is required") }
            let file = fields["src"] ?? fields["source"]
            var variable = fields["env"]
            switch fields["type"] {
            case "env": variable = variable ?? file ?? id
            case "file": break
            case nil: if file == nil && variable == nil && getenv(id) != nil { variable = id }
            case let other?: throw Flags.UsageError(description: "unsupported secret type \"\(other)\"")
            }
            let bytes: [UInt8]
            if let variable, fields["type"] != "file" {
                guard let value = getenv(variable) else { throw APIClient.Failure(status: 0, message: "secret \(id): environment variable \(variable) is not set") }
                bytes = Array(String(cString: value).utf8)
            } else {
                let path = file ?? id
                do { bytes = try FileIO.read(path) } catch { throw APIClient.Failure(status: 0, message: "failed to read secret \(id) from \(path): \(error)") }
            }
            values.append((id, .string(Data(bytes).base64EncodedString())))
        }
        var sockets: [(String, JSONValue)] = []
        for spec in agents {
            let kv = spec.split(separator: "=", maxSplits: 1).map(String.init)
            let id = kv[0]
            let paths = kv.count > 1 ? kv[1].split(separator: ",").map(String.init) : getenv("SSH_AUTH_SOCK").map { [String(cString: $0)] } ?? []
            guard paths.count == 1, let path = paths.first, !path.isEmpty else {
                throw APIClient.Failure(status: 0, message: kv.count > 1 ? "--ssh \(spec): berth forwards one agent socket per id; add keys to an agent with ssh-add"
                                                                        : "--ssh \(id): SSH_AUTH_SOCK is not set; start an agent or name its socket (\(id)=/path/to/agent.sock)")
            }
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else {
                throw APIClient.Failure(status: 0, message: "--ssh \(id): \(path) is not an agent's socket (berth forwards agents, not key files: ssh-add the key to an agent)")
            }
            var cwd = [CChar](repeating: 0, count: Int(PATH_MAX))
            sockets.append((id, .string(path.hasPrefix("/") || getcwd(&cwd, cwd.count) == nil ? path : String(cString: cwd) + "/" + path)))
        }
        // The daemon's HTTP parser takes 80 KiB of headers, and a secret is base64 twice (a value in
        // JSON, the JSON in a header): about 40 KiB of secrets. BuildKit's own limit is 500 KiB each.
        var headers: [(String, String)] = []
        if !values.isEmpty {
            let encoded = Data(JSONValue.object(values).compact.utf8).base64EncodedString()
            guard encoded.utf8.count <= 72 << 10 else {
                throw APIClient.Failure(status: 0, message: "secrets too large: berth build sends at most about 40 KiB of them (in the request's headers)")
            }
            headers.append((BuildHeaders.secrets, encoded))
        }
        if !sockets.isEmpty { headers.append((BuildHeaders.ssh, Data(JSONValue.object(sockets).compact.utf8).base64EncodedString())) }
        return headers
    }

    static func looksLikeTar(_ bytes: [UInt8]) -> Bool {
        if bytes.count > 262, Array(bytes[257..<262]) == Array("ustar".utf8) { return true }
        return bytes.starts(with: [0x1f, 0x8b]) || bytes.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a]) || bytes.starts(with: [0x28, 0xb5, 0x2f, 0xfd])
    }

    /// The step containers' limits, in `POST /build`'s query as the docker CLI sends them.
    static func stepLimits(_ f: Flags) throws -> [(String, String)] {
        var query: [(String, String)] = []
        for (flag, name) in [("memory", "memory"), ("memory-swap", "memswap"), ("shm-size", "shmsize")] {
            if let n = try byteSize(f, flag) { query.append((name, String(n))) }
        }
        for (flag, name) in [("cpu-shares", "cpushares"), ("cpu-period", "cpuperiod"), ("cpu-quota", "cpuquota")] {
            if let n = try f.int(flag) { query.append((name, String(n))) }
        }
        for (flag, name) in [("cpuset-cpus", "cpusetcpus"), ("cpuset-mems", "cpusetmems"), ("cgroup-parent", "cgroupparent"), ("isolation", "isolation")] {
            if let v = f.string(flag) { query.append((name, v)) }
        }
        if f.has("ulimit") {
            let limits = try f.all("ulimit").map(ulimit)
            query.append(("ulimits", String(decoding: try JSONEncoder().encode(limits), as: UTF8.self)))
        }
        for opt in f.all("security-opt") { query.append(("securityopt", opt)) }
        if f.bool("squash") { query.append(("squash", "1")) }
        return query
    }

    /// Archives a context into the request's body as it is made.
    static func sendContext(_ body: APIClient.ChunkedBody, _ compression: TarWriter.Compression,
                            _ fill: (TarWriter) throws -> Void) throws {
        let tar = try TarWriter(compression: compression) { try body.write($0) }
        try fill(tar)
        try tar.finish()
    }

    static func addFile(_ tar: TarWriter, name: String, bytes: [UInt8]) throws {
        try tar.add(TarEntry(path: name, kind: .file, mode: 0o644, size: Int64(bytes.count)))
        try tar.write(bytes)
    }

    /// Leaves `.dockerignore`d paths out of the context (never the Dockerfile or the ignore file).
    final class IgnoreFilter: TreeSink {
        let rules: IgnoreRules, keep: Set<String>, output: TreeSink
        init(rules: IgnoreRules, keep: Set<String>, output: TreeSink) { self.rules = rules; self.keep = keep; self.output = output }
        func add(_ entry: TarEntry, source: Int32?) throws {
            if !keep.contains(entry.path), rules.excludes(entry.path) { return }
            try output.add(entry, source: source)
        }
    }
}
