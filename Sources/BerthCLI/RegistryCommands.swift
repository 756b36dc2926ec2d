import BerthAPI
import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the
/// credentials `login` stores and `pull`/`push` send. Other keys in the file are kept as they are.
struct DockerConfigFile {
    static var path: String {
        let dir = getenv("DOCKER_CONFIG").map { String(cString: $0) } ?? ((getenv("HOME").map { String(cString: $0) } ?? "/root") + "/.docker")
        return dir + "/config.json"
    }

    /// The `auths` key for a registry: Docker Hub's historical URL, else `host[:port]`.
    static func key(forDomain domain: String) -> String {
        domain == Reference.defaultDomain ? "https://index.docker.io/v1/" : domain
    }

    /// `https://host:5000/v2/` → `host:5000`; Docker Hub's names → its key.
    static func key(forServer server: String) -> String { key(forDomain: Reference.domain(ofServer: server)) }

    static func read() -> JSONValue {
        guard let bytes = try? FileIO.read(path), let value = try? JSONValue.parse(bytes), case .object = value else { return .object([]) }
        return value
    }

    static func credentials(forDomain domain: String) -> RegistryAuth? {
        let key = key(forDomain: domain)
        guard let encoded = read()["auths"]?[key]?["auth"]?.string, let data = Data(base64Encoded: encoded) else { return nil }
        let pair = String(decoding: data, as: UTF8.self)
        guard let colon = pair.firstIndex(of: ":") else { return nil }
        return RegistryAuth(username: String(pair[..<colon]), password: String(pair[pair.index(after: colon)...]), serveraddress: key)
    }

    /// Sets (or with nil removes) one registry's entry; returns whether there was one.
    @discardableResult
    static func store(_ auth: String?, key: String) throws -> Bool {
        guard case .object(var top) = read() else { return false }
        var auths: [(String, JSONValue)] = []
        if let i = top.firstIndex(where: { $0.0 == "auths" }), case .object(let existing) = top[i].1 { auths = existing; top.remove(at: i) }
        let had = auths.contains { $0.0 == key }
        auths.removeAll { $0.0 == key }
        if let auth { auths.append((key, .object([("auth", .string(auth))]))) }
        top.insert(("auths", .object(auths)), at: 0)
        try FileIO.makeDirectories(AtomicFile.parentDirectory(of: path), mode: 0o700)
        try AtomicFile.write(path, Array(JSONValue.object(top).indented().utf8) + [10], mode: 0o600)
        return had
    }

    /// The `X-Registry-Auth` header for a registry we hold credentials for.
    static func header(forDomain domain: String) -> [(String, String)] {
        guard let auth = credentials(forDomain: domain), let json = try? JSONEncoder().encode(auth) else { return [] }
        let url = json.base64EncodedString().map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }
        return [("X-Registry-Auth", String(url))]
    }
}

extension CLI {
    func pull(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "all-tags"), .init("q", "quiet"), .init(nil, "platform", value: true),
                                        .init(nil, "disable-content-trust")])
        try requireArgs(f, 1, "\(name) pull")
        return try pullImage(f.positionals[0], platform: f.string("platform"), quiet: f.bool("quiet"), allTags: f.bool("all-tags"))
    }

    /// Pulls and shows docker's progress; `run`/`create` use it for a missing image. Every tag of
    /// the repository with `allTags` (the name alone is sent: berthd lists the tags).
    func pullImage(_ text: String, platform: String?, quiet: Bool, allTags: Bool = false, printReference: Bool = true) throws -> Int32 {
        let ref: Reference
        do { ref = try Reference(parsing: text) } catch { throw APIClient.Failure(status: 0, message: "invalid reference format") }
        if allTags && (ref.tag != nil || ref.digest != nil) { throw APIClient.Failure(status: 0, message: "tag can't be used with --all-tags/-a") }
        var query: [(String, String)] = [("fromImage", ref.name)]
        if let digest = ref.digest { query.append(("tag", digest.description)) } else if !allTags {
            if ref.tag == nil && !quiet { out("Using default tag: latest\n") }
            query.append(("tag", ref.tag ?? "latest"))
        }
        if let platform { query.append(("platform", platform)) }
        let response = try client.open("POST", "/images/create", query: query, headers: DockerConfigFile.header(forDomain: ref.domain))
        let code = try progress(response, quiet: quiet)
        if code == 0 && printReference { out((ref.digest == nil && !allTags ? ref.withDefaultTag : ref).description + "\n") }
        return code
    }

    func push(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "all-tags"), .init("q", "quiet"), .init(nil, "platform", value: true),
                                        .init(nil, "disable-content-trust")])
        try requireArgs(f, 1, "\(name) push")
        let ref: Reference
        do { ref = try Reference(parsing: f.positionals[0]) } catch { throw APIClient.Failure(status: 0, message: "invalid reference format") }
        var tag = ref.tag ?? ""
        if tag.isEmpty && !f.bool("all-tags") {
            if !f.bool("quiet") { out("Using default tag: latest\n") }
            tag = "latest"
        }
        let response = try client.open("POST", "/images/\(ref.name)/push", query: [("tag", tag)],
                                       headers: DockerConfigFile.header(forDomain: ref.domain))
        let code = try progress(response, quiet: f.bool("quiet"))
        if code == 0 && f.bool("quiet") { out(ref.withDefaultTag.description + "\n") }
        return code
    }

    func login(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("u", "username", value: true), .init("p", "password", value: true), .init(nil, "password-stdin")])
        let server = f.positionals.first ?? "https://index.docker.io/v1/"
        var username = f.string("username") ?? ""
        var password = f.string("password") ?? ""
        if f.string("password") != nil { FileIO.stderr("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n") }
        if f.bool("password-stdin") {
            guard f.string("password") == nil else { throw Flags.UsageError(description: "--password and --password-stdin are mutually exclusive") }
            guard !username.isEmpty else { throw Flags.UsageError(description: "Must provide --username with --password-stdin") }
            password = String(decoding: try FileIO.readAll(0), as: UTF8.self)
            while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
        }
        if username.isEmpty {
            guard isatty(0) == 1 else { throw APIClient.Failure(status: 0, message: "Error: Cannot perform an interactive login from a non TTY device") }
            out("Username: ")
            username = readLine() ?? ""
        }
        if password.isEmpty {
            guard isatty(0) == 1 else { throw APIClient.Failure(status: 0, message: "Error: Cannot perform an interactive login from a non TTY device") }
            var saved = termios()
            tcgetattr(0, &saved)
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSANOW, &quiet)
            out("Password: ")
            password = readLine() ?? ""
            tcsetattr(0, TCSANOW, &saved)
            out("\n")
        }
        guard !username.isEmpty, !password.isEmpty else { throw APIClient.Failure(status: 0, message: "Error: Non-null Username and Password Required") }
        let body = try JSONEncoder().encode(RegistryAuth(username: username, password: password, serveraddress: server))
        _ = try client.call("POST", "/auth", body: Array(body))
        let key = DockerConfigFile.key(forServer: server)
        try DockerConfigFile.store(Data("\(username):\(password)".utf8).base64EncodedString(), key: key)
        FileIO.stderr("WARNING! Your credentials are stored unencrypted in '\(DockerConfigFile.path)'.\n"
                      + "Configure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n")
        out("Login Succeeded\n")
        return 0
    }

    func logout(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        let key = DockerConfigFile.key(forServer: f.positionals.first ?? "")
        if try DockerConfigFile.store(nil, key: key) {
            out("Removing login credentials for \(key)\n")
        } else {
            out("Not logged in to \(key)\n")
        }
        return 0
    }

    func search(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init(nil, "limit", value: true), .init("f", "filter", value: true), .init(nil, "format", value: true),
                                        .init(nil, "no-trunc")])
        try requireArgs(f, 1, "\(name) search")
        var query: [(String, String)] = [("term", f.positionals[0])]
        if let limit = f.string("limit") { query.append(("limit", limit)) }
        var filters: [(String, JSONValue)] = []
        for item in f.all("filter") {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw Flags.UsageError(description: "invalid filter '\(item)'") }
            filters.append((kv[0], .object([(kv[1], .bool(true))])))
        }
        if !filters.isEmpty { query.append(("filters", JSONValue.object(filters).compact)) }
        let domain = f.positionals[0].split(separator: "/").first.map(String.init) ?? ""
        let results = try client.open("GET", "/images/search", query: query, headers: DockerConfigFile.header(forDomain: domain)).body()
        let trunc = !f.bool("no-trunc")
        let rows: [JSONValue] = try JSONValue.parse(results).array.map { r in
            var description = r["description"]?.string ?? ""
            if trunc && description.count > 45 { description = String(description.prefix(44)) + "…" }
            return .object([("Name", r["name"] ?? .string("")), ("Description", .string(description)),
                            ("StarCount", .string(String(r["star_count"]?.int ?? 0))),
                            ("IsOfficial", .string(r["is_official"] == .bool(true) ? "[OK]" : ""))])
        }
        try printRows(rows, format: f.string("format"), defaultFormat: "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
                      titles: ["Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL"])
        return 0
    }
}
