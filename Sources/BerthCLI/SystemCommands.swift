import BerthAPI
import BerthSystem
import Glibc

extension CLI {
    func version(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "format", value: true)])
        let server = try client.call("GET", "/version")
        if let format = f.string("format") {
            // The field names of docker's own version structs, which templates are written against.
            func field(_ k: String) -> JSONValue { server[k] ?? .string("") }
            let serverFields: JSONValue = .object([
                ("Version", field("Version")), ("APIVersion", field("ApiVersion")), ("MinAPIVersion", field("MinAPIVersion")),
                ("GitCommit", field("GitCommit")), ("GoVersion", field("GoVersion")), ("Os", field("Os")), ("Arch", field("Arch")),
                ("KernelVersion", field("KernelVersion")), ("BuildTime", field("BuildTime")),
            ])
            let data = JSONValue.object([("Client", .object([("Version", .string(Self.clientVersion)), ("APIVersion", .string(client.apiVersion))])),
                                         ("Server", serverFields)])
            out(try Template(format).render(data) + "\n")
            return 0
        }
        out("""
        Client: Berth
         Version:           \(Self.clientVersion)
         API version:       \(client.apiVersion)\(client.apiVersion == APIVersion.current ? "" : " (downgraded from \(APIVersion.current))")
         OS/Arch:           linux/\(server["Arch"]?.string ?? "")

        Server: Berth Engine
         Engine:
          Version:          \(server["Version"]?.string ?? "")
          API version:      \(server["ApiVersion"]?.string ?? "") (minimum version \(server["MinAPIVersion"]?.string ?? ""))
          OS/Arch:          \(server["Os"]?.string ?? "")/\(server["Arch"]?.string ?? "")
          Kernel Version:   \(server["KernelVersion"]?.string ?? "")

        """)
        return 0
    }

    static let clientVersion = BerthVersion.release

    func info(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "format", value: true)])
        let info = try client.call("GET", "/info")
        if let format = f.string("format") {
            out(try Template(format).render(info) + "\n")
            return 0
        }
        out(Self.infoText(info, client: Self.clientVersion))
        for warning in info["Warnings"]?.array ?? [] { FileIO.stderr(Template.goText(warning) + "\n") }
        return 0
    }

    /// The docker CLI's `info` layout, line for line (cli/command/system/info.go): optional
    /// lines only when the daemon sent them, sorted runtimes, decoded security options, the
    /// insecure registries by name then by CIDR.
    static func infoText(_ info: JSONValue, client version: String) -> String {
        var lines = ["Client:", " Version:    \(version)", " Context:    default", " Debug Mode: false", "", "Server:"]
        func s(_ key: String) -> String { info[key].map(Template.goText) ?? "" }
        func line(_ label: String, _ key: String) { lines.append(" \(label): \(s(key))") }
        func nonEmpty(_ label: String, _ key: String) { if !s(key).isEmpty { line(label, key) } }
        func strings(_ value: JSONValue?) -> [String] { value?.array.compactMap(\.string) ?? [] }
        line("Containers", "Containers")
        lines += ["  Running: \(s("ContainersRunning"))", "  Paused: \(s("ContainersPaused"))", "  Stopped: \(s("ContainersStopped"))"]
        line("Images", "Images")
        line("Server Version", "ServerVersion")
        line("Storage Driver", "Driver")
        for pair in info["DriverStatus"]?.array ?? [] where pair.array.count == 2 {
            lines.append("  \(Template.goText(pair.array[0])): \(Template.goText(pair.array[1]))")
        }
        nonEmpty("Logging Driver", "LoggingDriver")
        nonEmpty("Cgroup Driver", "CgroupDriver")
        nonEmpty("Cgroup Version", "CgroupVersion")
        let plugins = info["Plugins"]
        lines += [" Plugins:", "  Volume: " + strings(plugins?["Volume"]).joined(separator: " "),
                  "  Network: " + strings(plugins?["Network"]).joined(separator: " ")]
        if !strings(plugins?["Authorization"]).isEmpty { lines.append("  Authorization: " + strings(plugins?["Authorization"]).joined(separator: " ")) }
        lines.append("  Log: " + strings(plugins?["Log"]).joined(separator: " "))
        lines.append(" Swarm: " + (info["Swarm"]?["LocalNodeState"]?.string ?? ""))
        if case .object(let runtimes)? = info["Runtimes"], !runtimes.isEmpty {
            lines += [" Runtimes: " + runtimes.map(\.0).sorted().joined(separator: " "), " Default Runtime: \(s("DefaultRuntime"))"]
        }
        if s("OSType") == "linux" {
            line("Init Binary", "InitBinary")
            for (name, key) in [("containerd", "ContainerdCommit"), ("runc", "RuncCommit"), ("init", "InitCommit")] {
                lines.append(" \(name) version: " + (info[key]?["ID"]?.string ?? ""))
            }
            let options = strings(info["SecurityOptions"])
            if !options.isEmpty {
                lines.append(" Security Options:")
                for option in options {
                    let fields = option.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
                    lines.append("  " + (fields.first { $0.first == "name" }?.last ?? option))
                    if let profile = fields.first(where: { $0.count == 2 && $0[0] == "profile" }) { lines.append("   Profile: " + profile[1]) }
                }
            }
        }
        line("Kernel Version", "KernelVersion")
        nonEmpty("Operating System", "OperatingSystem")
        nonEmpty("OSType", "OSType")
        nonEmpty("Architecture", "Architecture")
        line("CPUs", "NCPU")
        lines.append(" Total Memory: " + Size.binary(Double(info["MemTotal"]?.int ?? 0)))
        nonEmpty("Name", "Name")
        nonEmpty("ID", "ID")
        line("Docker Root Dir", "DockerRootDir")
        line("Debug Mode", "Debug")
        if info["Debug"]?.bool == true {
            lines += ["  File Descriptors: \(s("NFd"))", "  Goroutines: \(s("NGoroutines"))", "  System Time: \(s("SystemTime"))",
                      "  EventsListeners: \(s("NEventsListener"))"]
        }
        nonEmpty("HTTP Proxy", "HttpProxy")
        nonEmpty("HTTPS Proxy", "HttpsProxy")
        nonEmpty("No Proxy", "NoProxy")
        let labels = strings(info["Labels"])
        if !labels.isEmpty { lines += [" Labels:"] + labels.map { "  " + $0 } }
        line("Experimental", "ExperimentalBuild")
        let registries = info["RegistryConfig"]
        var indexes: [(String, JSONValue)] = []
        if case .object(let fields)? = registries?["IndexConfigs"] { indexes = fields }
        let insecureNames = indexes.filter { $0.1["Secure"]?.bool != true }.map { $0.1["Name"]?.string ?? $0.0 }.sorted()
        let cidrs = strings(registries?["InsecureRegistryCIDRs"])
        if !indexes.isEmpty || !cidrs.isEmpty { lines += [" Insecure Registries:"] + (insecureNames + cidrs).map { "  " + $0 } }
        let mirrors = strings(registries?["Mirrors"])
        if !mirrors.isEmpty { lines += [" Registry Mirrors:"] + mirrors.map { "  " + $0 } }
        line("Live Restore Enabled", "LiveRestoreEnabled")
        return lines.joined(separator: "\n") + "\n\n"
    }

    func df(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("v", "verbose"), .init(nil, "format", value: true)])
        let df = try client.call("GET", "/system/df")
        if f.bool("verbose") { return try dfVerbose(df, format: f.string("format")) }
        let images = df["Images"]?.array ?? [], containers = df["Containers"]?.array ?? []
        let volumes = df["Volumes"]?.array ?? [], caches = df["BuildCache"]?.array ?? []
        // the docker CLI's sums: what no container uses is reclaimable, with its share of the total
        func human(_ bytes: Int64) -> String { Size.human(bytes, digits: 4) }
        func reclaimable(_ bytes: Int64, of total: Int64) -> String {
            total > 0 ? "\(human(bytes)) (\(bytes * 100 / total)%)" : human(bytes)
        }
        func int(_ value: JSONValue?) -> Int64 { value?.int ?? 0 }
        let layers = int(df["LayersSize"])
        let usedImages = images.filter { int($0["Containers"]) > 0 }
        let imagesUsed = usedImages.reduce(Int64(0)) { $0 + int($1["Size"]) - max(int($1["SharedSize"]), 0) }
        let containerSize = containers.reduce(Int64(0)) { $0 + int($1["SizeRw"]) }
        let stopped = containers.filter { $0["State"]?.string != "running" }
        let volumeSize = volumes.reduce(Int64(0)) { $0 + max(int($1["UsageData"]?["Size"]), 0) }
        let unusedVolumes = volumes.filter { int($0["UsageData"]?["RefCount"]) == 0 }
        let cacheSize = caches.filter { $0["Shared"]?.bool != true }.reduce(Int64(0)) { $0 + int($1["Size"]) }
        let idleCaches = caches.filter { $0["Shared"]?.bool != true && $0["InUse"]?.bool != true }
        func row(_ type: String, _ total: Int, _ active: Int, _ size: Int64, _ free: String) -> JSONValue {
            .object([("Type", .string(type)), ("TotalCount", .string(String(total))), ("Active", .string(String(active))),
                     ("Size", .string(human(size))), ("Reclaimable", .string(free))])
        }
        let rows: [JSONValue] = [
            row("Images", images.count, usedImages.count, layers, reclaimable(layers - imagesUsed, of: layers)),
            row("Containers", containers.count, containers.count - stopped.count, containerSize,
                reclaimable(stopped.reduce(Int64(0)) { $0 + int($1["SizeRw"]) }, of: containerSize)),
            row("Local Volumes", volumes.count, volumes.count - unusedVolumes.count, volumeSize,
                reclaimable(unusedVolumes.reduce(Int64(0)) { $0 + max(int($1["UsageData"]?["Size"]), 0) }, of: volumeSize)),
            row("Build Cache", caches.count, caches.filter { $0["InUse"]?.bool == true }.count, cacheSize,
                human(idleCaches.reduce(Int64(0)) { $0 + int($1["Size"]) })),
        ]
        try printRows(rows, format: f.string("format"), defaultFormat: "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                      titles: ["Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"])
        return 0
    }

    /// `system df -v`: the docker CLI's four tables (its DiskUsageContext's verbose write), each
    /// object with the columns and words of that CLI's image, container, volume and cache lists;
    /// a `--format` is applied once to all four lists, as docker applies it.
    func dfVerbose(_ df: JSONValue, format: String?) throws -> Int32 {
        func int(_ value: JSONValue?) -> Int64 { value?.int ?? 0 }
        func ago(_ epoch: Double) -> String { Timestamp.humanDuration(Timestamp.epochNow() - epoch) + " ago" }
        func orNA(_ value: Int64, _ text: (Int64) -> String) -> String { value == -1 ? "N/A" : text(value) }
        /// stringid.TruncateID: what follows an algorithm's colon, 12 characters of it.
        func short(_ id: String?) -> String { String((id ?? "").split(separator: ":", maxSplits: 1).last?.prefix(12) ?? "") }
        let images: [JSONValue] = (df["Images"]?.array ?? []).map { i in
            var repo = "<none>", tag = "<none>"
            if let first = i["RepoTags"]?.array.first?.string, first != "<none>:<none>", let colon = first.lastIndex(of: ":"),
               !first[colon...].contains("/") {
                (repo, tag) = (String(first[..<colon]), String(first[first.index(after: colon)...]))
            }
            let size = int(i["Size"]), shared = int(i["SharedSize"])
            return .object([("Repository", .string(repo)), ("Tag", .string(tag)), ("ID", .string(short(i["Id"]?.string))),
                            ("CreatedSince", .string(ago(Double(int(i["Created"]))))), ("Size", .string(Size.human(size))),
                            ("SharedSize", .string(orNA(shared) { Size.human($0, digits: 4) })),
                            ("UniqueSize", .string(orNA(shared) { Size.human(size - $0, digits: 4) })),
                            ("Containers", .string(orNA(int(i["Containers"])) { String($0) }))])
        }
        let containers: [JSONValue] = (df["Containers"]?.array ?? []).map { c in
            guard case .object(var row) = Self.psRow(c, trunc: true) else { return .null }
            let local = (c["Mounts"]?.array ?? []).filter { $0["Driver"]?.string == "local" }.count
            row.append(("LocalVolumes", .string(String(local))))
            if let i = row.firstIndex(where: { $0.0 == "Size" }) { row[i].1 = .string(Size.human(int(c["SizeRw"]))) }  // no virtual size here
            return .object(row)
        }
        let volumes: [JSONValue] = (df["Volumes"]?.array ?? []).map { v in
            let usage = v["UsageData"]
            return .object([("Name", .string(v["Name"]?.string ?? "")), ("Driver", .string(v["Driver"]?.string ?? "")),
                            ("Links", .string(usage.map { String(int($0["RefCount"])) } ?? "N/A")),
                            ("Size", .string(usage.map { Size.human(int($0["Size"]), digits: 4) } ?? "N/A"))])
        }
        // most recently used first (never used last), then by ID: the docker CLI's order
        let caches = (df["BuildCache"]?.array ?? []).sorted { a, b in
            let (x, y) = (a["LastUsedAt"]?.string.flatMap(Timestamp.parse), b["LastUsedAt"]?.string.flatMap(Timestamp.parse))
            if x != y { return (x ?? -.infinity) > (y ?? -.infinity) }
            return (a["ID"]?.string ?? "") < (b["ID"]?.string ?? "")
        }
        let cacheRows: [JSONValue] = caches.map { c in
            .object([("ID", .string(short(c["ID"]?.string) + (c["InUse"]?.bool == true ? "*" : ""))),
                     ("CacheType", .string(c["Type"]?.string ?? "")), ("Size", .string(Size.human(int(c["Size"])))),
                     ("CreatedSince", .string(ago(c["CreatedAt"]?.string.flatMap(Timestamp.parse) ?? 0))),
                     ("LastUsedSince", .string(c["LastUsedAt"]?.string.flatMap(Timestamp.parse).map(ago) ?? "")),
                     ("UsageCount", .string(String(int(c["UsageCount"])))), ("Shared", .string(c["Shared"]?.bool == true ? "true" : "false"))])
        }
        if let format, !format.isEmpty, format != "table" {
            let all = JSONValue.object([("Images", .array(images)), ("Containers", .array(containers)), ("Volumes", .array(volumes)),
                                        ("BuildCache", .array(cacheRows))])
            out(format == "json" ? all.compact + "\n" : try Template(format).render(all) + "\n")
            return 0
        }
        out("Images space usage:\n\n")
        try printRows(images, format: nil, defaultFormat: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
                      titles: Self.imageTitles.merging(["SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"]) { $1 })
        out("\nContainers space usage:\n\n")
        try printRows(containers, format: nil, defaultFormat: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
                      titles: Self.psTitles.merging(["LocalVolumes": "LOCAL VOLUMES"]) { $1 })
        out("\nLocal Volumes space usage:\n\n")
        try printRows(volumes, format: nil, defaultFormat: "table {{.Name}}\t{{.Links}}\t{{.Size}}",
                      titles: ["Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE", "Driver": "DRIVER"])
        let cacheTotal = caches.reduce(Int64(0)) { $0 + int($1["Size"]) }
        out("\nBuild cache usage: \(Size.human(cacheTotal, digits: 4))\n\n")
        try printRows(cacheRows, format: nil, defaultFormat: "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
                      titles: ["ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                               "UsageCount": "USAGE", "Shared": "SHARED"])
        return 0
    }

    /// Berth's own: verifies the daemon's store (every blob re-hashed, layers, references) and
    /// that nothing is left behind; exit status 1 when something is out of place.
    func systemCheck(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init(nil, "format", value: true)])
        let report = try client.call("GET", "/system/check")
        if let format = f.string("format") {
            out(try Template(format).render(report) + "\n")
        } else {
            let problems = report["Problems"]?.array ?? []
            for problem in problems { out((problem.string ?? "") + "\n") }
            func count(_ key: String) -> Int64 { report[key]?.int ?? 0 }
            out("checked \(count("Blobs")) blobs, \(count("Snapshots")) snapshots, \(count("Images")) images, \(count("Containers")) containers: "
                + (problems.isEmpty ? "no problems\n" : "\(problems.count) problem\(problems.count == 1 ? "" : "s")\n"))
        }
        return (report["Problems"]?.array ?? []).isEmpty ? 0 : 1
    }

    func events(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: [.init("f", "filter", value: true), .init(nil, "format", value: true),
                                        .init(nil, "since", value: true), .init(nil, "until", value: true)])
        var q: [(String, String)] = []
        if let s = f.string("since") { q.append(("since", Self.timeArgument(s))) }
        if let u = f.string("until") { q.append(("until", Self.timeArgument(u))) }
        if f.has("filter") { q.append(("filters", Self.filtersJSON(f.all("filter")))) }
        let template = try f.string("format").map { try Template($0, jsonKeys: Self.eventFields) }
        try client.open("GET", "/events", query: q).lines { line in
            let event = try JSONValue.parse(line)
            if let template {
                out(try template.render(event) + "\n")
            } else {
                let nanos = event["timeNano"]?.int ?? 0
                var attributes: [String] = []
                if case .object(let attrs)? = event["Actor"]?["Attributes"] { attributes = attrs.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1.string ?? "")" } }
                let stamp = Self.eventTime(nanos)
                out("\(stamp) \(event["Type"]?.string ?? "") \(event["Action"]?.string ?? "") \(event["Actor"]?["ID"]?.string ?? "") (\(attributes.joined(separator: ", ")))\n")
            }
            return true
        }
        return 0
    }

    /// The fields of Go's `events.Message` whose JSON names are lower case.
    static let eventFields = ["Status": "status", "ID": "id", "From": "from", "Scope": "scope", "Time": "time", "TimeNano": "timeNano"]

    /// docker's event time: RFC 3339 with nanoseconds, local zone (UTC here).
    static func eventTime(_ nanos: Int64) -> String {
        var ts = timespec()
        ts.tv_sec = Int(nanos / 1_000_000_000)
        ts.tv_nsec = Int(nanos % 1_000_000_000)
        let text = Timestamp.format(ts)
        return String(text.dropLast()) + "+00:00"
    }
}
