import BerthAPI
import BerthSystem
import FoundationEssentials
import Glibc

extension CLI {
    static let imageTitles = ["ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                              "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS"]

    func images(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "all"), .init("q", "quiet"), .init(nil, "digests"), .init("f", "filter", value: true),
                                        .init(nil, "format", value: true), .init(nil, "no-trunc"), .init(nil, "tree")])
        var q: [(String, String)] = [("all", f.bool("all") ? "1" : "0")]
        var filters = f.all("filter")
        if let repo = f.positionals.first { filters.append("reference=" + repo) }
        if !filters.isEmpty { q.append(("filters", Self.filtersJSON(filters))) }
        let list = try client.call("GET", "/images/json", query: q).array
        var rows: [JSONValue] = []
        for image in list {
            let id = image["Id"]?.string ?? ""
            let shown = f.bool("no-trunc") ? id : String(id.dropFirst(7).prefix(12))
            let tags = image["RepoTags"]?.array.compactMap(\.string) ?? []
            let digests = image["RepoDigests"]?.array.compactMap(\.string) ?? []
            let created = Double(image["Created"]?.int ?? 0)
            for tag in tags.isEmpty ? ["<none>:<none>"] : tags {
                let colon = tag.lastIndex(of: ":").map { tag[$0...].contains("/") ? tag.endIndex : $0 } ?? tag.endIndex
                let repo = String(tag[..<colon])
                let digest = digests.first { $0.hasPrefix(repo + "@") }.map { String($0.split(separator: "@").last ?? "") } ?? "<none>"
                rows.append(.object([
                    ("ID", .string(shown)), ("Repository", .string(repo)),
                    ("Tag", .string(colon < tag.endIndex ? String(tag[tag.index(after: colon)...]) : "<none>")),
                    ("Digest", .string(digest)), ("CreatedSince", .string(Timestamp.humanDuration(Timestamp.epochNow() - created) + " ago")),
                    ("CreatedAt", .string(Self.localTime(created))), ("Size", .string(Size.human(image["Size"]?.int ?? 0))),
                    // -1: not counted (dockerd counts only for `system df`), "N/A" as the docker CLI shows it
                    ("Containers", .string(image["Containers"]?.int.map { $0 < 0 ? "N/A" : String($0) } ?? "N/A")),
                ]))
            }
        }
        if f.bool("quiet") {
            var seen = Set<String>()
            for r in rows { if let id = r["ID"]?.string, seen.insert(id).inserted { out(id + "\n") } }
            return 0
        }
        let format = f.bool("digests") ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
            : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        try printRows(rows, format: f.string("format"), defaultFormat: format, titles: Self.imageTitles)
        return 0
    }

    func rmi(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "force"), .init(nil, "no-prune"), .init(nil, "platform", value: true)])
        try requireArgs(f, 1, "\(name) rmi")
        let query = [("force", f.bool("force") ? "1" : "0"), ("noprune", f.bool("no-prune") ? "1" : "0")]
            + (try Self.platformQuery(f)).map { ("platforms", $0.1) }  // API 1.50's name on delete
        return each(f.positionals) { n in
            for item in try client.call("DELETE", "/images/\(n)", query: query).array {
                if let u = item["Untagged"]?.string { out("Untagged: \(u)\n") }
                if let d = item["Deleted"]?.string { out("Deleted: \(d)\n") }
            }
        }
    }

    func tag(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [])
        guard f.positionals.count == 2 else { throw Flags.UsageError(description: "\"\(name) tag\" requires exactly 2 arguments.") }
        _ = try client.open("POST", "/images/\(f.positionals[0])/tag", query: Self.repoAndTag(f.positionals[1])).body()
        return 0
    }

    /// `name:tag` as the API's `repo` and `tag` parameters (a registry port is not a tag).
    static func repoAndTag(_ ref: String) -> [(String, String)] {
        let slash = ref.lastIndex(of: "/") ?? ref.startIndex
        guard let colon = ref[slash...].lastIndex(of: ":") else { return [("repo", ref)] }
        return [("repo", String(ref[..<colon])), ("tag", String(ref[ref.index(after: colon)...]))]
    }

    /// `--platform os/arch[/variant]` as the docker CLI sends it since API 1.49: an OCI platform in JSON.
    static func platformQuery(_ f: Flags) throws -> [(String, String)] {
        guard let text = f.string("platform"), !text.isEmpty else { return [] }
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts.contains(where: \.isEmpty) else {
            throw Flags.UsageError(description: "invalid platform \"\(text)\": use os/arch[/variant]")
        }
        let (os, arch) = parts.count == 1 ? ("linux", parts[0]) : (parts[0], parts[1])
        var fields: [(String, JSONValue)] = [("architecture", .string(arch)), ("os", .string(os))]
        if parts.count == 3 { fields.append(("variant", .string(parts[2]))) }
        return [("platform", JSONValue.object(fields).compact)]
    }

    func history(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("q", "quiet"), .init("H", "human"), .init(nil, "no-trunc"), .init(nil, "format", value: true),
                                        .init(nil, "platform", value: true)])
        try requireArgs(f, 1, "\(name) history")
        let trunc = !f.bool("no-trunc")
        let rows: [JSONValue] = try client.call("GET", "/images/\(f.positionals[0])/history", query: try Self.platformQuery(f)).array.map { h in
            let id = h["Id"]?.string ?? ""
            var by = h["CreatedBy"]?.string ?? ""
            if trunc && by.count > 45 { by = String(by.prefix(44)) + "…" }
            let created = Double(h["Created"]?.int ?? 0)
            return .object([
                ("ID", .string(id.hasPrefix("sha256:") && trunc ? String(id.dropFirst(7).prefix(12)) : id)),
                ("CreatedSince", .string(Timestamp.humanDuration(Timestamp.epochNow() - created) + " ago")),
                ("CreatedAt", .string(Self.localTime(created))), ("CreatedBy", .string(by)),
                ("Size", .string(Size.human(h["Size"]?.int ?? 0))), ("Comment", .string(h["Comment"]?.string ?? "")),
            ])
        }
        if f.bool("quiet") { for r in rows { out((r["ID"]?.string ?? "") + "\n") }; return 0 }
        try printRows(rows, format: f.string("format"), defaultFormat: "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                      titles: ["ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"])
        return 0
    }

    // MARK: moving files and images

    /// Writes a streamed body to `-o FILE` (atomically) or stdout, which must not be a terminal:
    /// refused before the request, in the docker CLI's words (for save and export alike).
    func download(to file: String?, _ request: () throws -> APIClient.Response) throws {
        guard let file else {
            guard isatty(1) == 0 else {
                throw APIClient.Failure(status: 0, message: "cowardly refusing to save to a terminal. Use the -o flag or redirect")
            }
            let response = try request()
            while let piece = try response.next() { try FileIO.writeAll(1, piece) }
            return
        }
        let response = try request()
        let temp = file + ".berth-tmp"
        let fd = try sys("open", temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        do {
            while let piece = try response.next() { try FileIO.writeAll(fd, piece) }
            try sys("fsync", temp) { fsync(fd) }
            close(fd)
            try sys("rename", file) { Glibc.rename(temp, file) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
    }

    func inputFD(_ file: String?) throws -> Int32 {
        guard let file, file != "-" else { return 0 }
        return try sys("open", file) { open(file, O_RDONLY | O_CLOEXEC) }
    }

    func save(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("o", "output", value: true), .init(nil, "platform", value: true)])
        try requireArgs(f, 1, "\(name) save")
        try download(to: f.string("output")) { try client.open("GET", "/images/get", query: f.positionals.map { ("names", $0) }) }
        return 0
    }

    func export(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("o", "output", value: true)])
        try requireArgs(f, 1, "\(name) export")
        try download(to: f.string("output")) { try client.open("GET", "/containers/\(f.positionals[0])/export") }
        return 0
    }

    func load(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("i", "input", value: true), .init("q", "quiet"), .init(nil, "platform", value: true)])
        let fd = try inputFD(f.string("input"))
        defer { if fd != 0 { close(fd) } }
        if fd == 0 && isatty(0) == 1 {
            throw APIClient.Failure(status: 0, message: "requested load from stdin, but stdin is empty")
        }
        // as docker: bars only for a terminal
        let quiet = f.bool("quiet") || isatty(1) == 0
        let response = try client.open("POST", "/images/load", query: [("quiet", quiet ? "1" : "0")],
                                       contentType: "application/x-tar") { try $0.copy(from: fd) }
        return try progress(response)
    }

    /// Prints a JSON-lines progress stream as docker's jsonmessage does: on a terminal, one line
    /// per layer id redrawn in place with its bar; otherwise status lines only (bars skipped).
    /// Fails on the stream's `error`.
    func progress(_ response: APIClient.Response, quiet: Bool = false) throws -> Int32 {
        var code: Int32 = 0
        let tty = isatty(1) == 1
        var ids: [String: Int] = [:]
        try response.lines { line in
            let message = (try? JSONValue.parse(line)) ?? .null
            if let error = message["error"]?.string {
                FileIO.stderr(error + "\n")
                code = 1
                return true
            }
            guard !quiet else { return true }
            if let text = message["stream"]?.string { out(text); return true }
            guard let status = message["status"]?.string else { return true }
            let id = message["id"]?.string ?? ""
            let bar = message["progress"]?.string ?? ""
            guard tty else {
                if bar.isEmpty { out((id.isEmpty ? "" : id + ": ") + status + "\n") }
                return true
            }
            var up = 0
            if !id.isEmpty, message["progressDetail"] != nil {
                if ids[id] == nil { ids[id] = ids.count; out("\n") }
                up = ids.count - ids[id]!
                out("\u{1b}[\(up)A")
            } else {
                ids = [:]
            }
            out("\u{1b}[2K\r" + (id.isEmpty ? "" : id + ": ") + status + (bar.isEmpty ? "" : " " + bar) + (up > 0 ? "\r" : "\n"))
            if up > 0 { out("\u{1b}[\(up)B") }
            return true
        }
        return code
    }

    func importImage(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("c", "change", value: true), .init("m", "message", value: true), .init(nil, "platform", value: true)])
        try requireArgs(f, 1, "\(name) import")
        var q: [(String, String)] = [("fromSrc", "-")]
        if f.positionals.count > 1 { q += Self.repoAndTag(f.positionals[1]) }
        q += f.all("change").map { ("changes", $0) }
        if let m = f.string("message") { q.append(("message", m)) }
        let fd = try inputFD(f.positionals[0])
        defer { if fd != 0 { close(fd) } }
        return try progress(try client.open("POST", "/images/create", query: q, contentType: "application/x-tar") { try $0.copy(from: fd) })
    }

    func commit(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "author", value: true), .init("c", "change", value: true), .init("m", "message", value: true),
                                        .init("p", "pause")])
        try requireArgs(f, 1, "\(name) commit")
        var q: [(String, String)] = [("container", f.positionals[0]), ("pause", f.has("pause") && !f.bool("pause") ? "0" : "1")]
        if f.positionals.count > 1 { q += Self.repoAndTag(f.positionals[1]) }
        if let a = f.string("author") { q.append(("author", a)) }
        if let m = f.string("message") { q.append(("comment", m)) }
        q += f.all("change").map { ("changes", $0) }
        out((try client.call("POST", "/commit", query: q, body: Array("{}".utf8))["Id"]?.string ?? "") + "\n")
        return 0
    }

    /// `cp CONTAINER:SRC DEST` and `cp SRC CONTAINER:DEST`, through the archive endpoints; the host
    /// side is read and written with tar(1), as docker's own archive code would.
    func cp(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("a", "archive"), .init("L", "follow-link"), .init("q", "quiet")])
        guard f.positionals.count == 2 else { throw Flags.UsageError(description: "\"\(name) cp\" requires exactly 2 arguments.") }
        let (src, dst) = (f.positionals[0], f.positionals[1])
        func split(_ s: String) -> (String, String)? {
            guard !s.hasPrefix("/") && !s.hasPrefix("."), let colon = s.firstIndex(of: ":") else { return nil }
            return (String(s[..<colon]), String(s[s.index(after: colon)...]))
        }
        if let (container, path) = split(src), split(dst) == nil {
            let response = try client.open("GET", "/containers/\(container)/archive", query: [("path", path)])
            let name = Self.pathStat(response.headers["x-docker-container-path-stat"])?["name"]?.string ?? ""
            // Into an existing directory: keep the name; otherwise the top entry becomes DEST.
            let intoDirectory = FileIO.isDirectory(dst)
            let target = intoDirectory ? dst : AtomicFile.parentDirectory(of: dst.hasPrefix("/") ? dst : "./" + dst)
            var argv = ["tar", "-x", "-C", target, "--no-same-owner"]
            if !intoDirectory { argv += ["--transform", Self.transform(name, String(dst.split(separator: "/").last ?? ""))] }
            return try pipeInto(argv, response)
        }
        if let (container, path) = split(dst), split(src) == nil {
            var st = stat()
            guard lstat(src, &st) == 0 else { throw APIClient.Failure(status: 0, message: "lstat \(src): no such file or directory") }
            // Into an existing directory: keep the name; otherwise extract into the parent, renamed.
            let into: String
            var rename: String?
            if let head = try? client.open("HEAD", "/containers/\(container)/archive", query: [("path", path)]),
               let mode = Self.pathStat(head.headers["x-docker-container-path-stat"])?["mode"]?.int, mode & (1 << 31) != 0 {
                into = path
            } else {
                into = AtomicFile.parentDirectory(of: path)
                rename = String(path.split(separator: "/").last ?? "")
            }
            let base = String(src.split(separator: "/").last ?? Substring(src))
            var argv = ["tar", "-c", "-C", AtomicFile.parentDirectory(of: src.hasPrefix("/") ? src : "./" + src)]
            if let rename { argv += ["--transform", Self.transform(base, rename)] }
            argv.append(base)
            let (pid, fd) = try Subprocess.spawnPiped(["/bin/tar"] + argv.dropFirst(), feeding: false)
            defer { close(fd) }
            _ = try client.open("PUT", "/containers/\(container)/archive", query: [("path", into), ("noOverwriteDirNonDir", "true")],
                                contentType: "application/x-tar") { try $0.copy(from: fd) }.body()
            return Subprocess.wait(pid) == 0 ? 0 : 1
        }
        throw APIClient.Failure(status: 0, message: "copying between containers is not supported")
    }

    static func pathStat(_ header: String?) -> JSONValue? {
        guard let header, let data = Data(base64Encoded: header) else { return nil }
        return try? JSONValue.parse(Array(data))
    }

    /// A tar `--transform` that renames the top entry `from` to `to`.
    static func transform(_ from: String, _ to: String) -> String {
        func escape(_ s: String, _ special: String) -> String {
            var out = ""
            for c in s { if special.contains(c) { out.append("\\") }; out.append(c) }
            return out
        }
        return "s|^" + escape(from, "|\\.*[]^$") + "|" + escape(to, "|\\&") + "|"
    }

    /// Feeds a response body to a program's stdin (tar -x).
    func pipeInto(_ argv: [String], _ response: APIClient.Response) throws -> Int32 {
        let (pid, fd) = try Subprocess.spawnPiped(["/bin/tar"] + argv.dropFirst(), feeding: true)
        do {
            while let piece = try response.next() { try FileIO.writeAll(fd, piece) }
        } catch {
            close(fd)
            _ = Subprocess.wait(pid)
            throw error
        }
        close(fd)
        return Subprocess.wait(pid) == 0 ? 0 : 1
    }
}
