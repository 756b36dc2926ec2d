import Testing
@testable import BerthAPI
@testable import BerthCLI

/// Expected strings are what the docker 28 CLI prints for the same inputs.
@Suite struct CLIFormattingTests {
    @Test(arguments: [(Int64(0), "0B"), (123, "123B"), (1500, "1.5kB"), (1_980_000, "1.98MB"), (72_800_000, "72.8MB"),
                      (4_100_000_000, "4.1GB")])
    func decimalSizes(bytes: Int64, text: String) {
        #expect(Size.human(bytes) == text)
    }

    @Test func binarySizesAndParsing() {
        #expect(Size.binary(1_765_000) == "1.683MiB")
        #expect(Size.binary(64 * 1024 * 1024) == "64MiB")
        #expect(Size.parse("512m") == 512 << 20)
        #expect(Size.parse("1g") == 1 << 30)
        #expect(Size.parse("100000") == 100_000)
        #expect(Size.parse("1.5k") == 1536)
        #expect(Size.parse("lots") == nil)
    }

    @Test func tableColumnsAsTabwriter() {
        let text = Table.render([["CONTAINER ID", "IMAGE", "NAMES"], ["abc", "busybox", "x"]])
        #expect(text == "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n")
    }

    @Test func flagsGroupedShortsValuesAndStop() throws {
        let f = try Flags(["-dit", "--name=web", "-e", "A=1", "-eB=2", "-m512m", "busybox", "sh", "-c", "echo -x"],
                          specs: CLI.runFlags, stopAtPositional: true)
        #expect(f.bool("detach") && f.bool("interactive") && f.bool("tty"))
        #expect(f.string("name") == "web")
        #expect(f.all("env") == ["A=1", "B=2"])
        #expect(f.string("memory") == "512m")
        #expect(f.positionals == ["busybox", "sh", "-c", "echo -x"])
        #expect(throws: Flags.UsageError.self) { try Flags(["--nope"], specs: CLI.runFlags) }
    }

    /// Numbers as pflag reads them (Go's base-0 syntax), and its words when they do not parse.
    @Test func numberFlagsParseAsGoAndFailInItsWords() throws {
        let f = try Flags(["-c", "0x10", "--pids-limit=-1", "--oom-score-adj", "1_000", "--cpu-quota", "017", "--stop-timeout", "99999999999999999999",
                           "--blkio-weight", "70000", "--cpu-period", "12a"], specs: CLI.runFlags)
        #expect(try f.int("cpu-shares") == 16)
        #expect(try f.int("pids-limit") == -1)
        #expect(try f.int("cpu-quota") == 15)
        #expect(try f.int("memory-swappiness") == nil)
        func failure(_ body: () throws -> Int?) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        #expect(failure { try f.int("oom-score-adj") } == #"invalid argument "1_000" for "--oom-score-adj" flag: strconv.ParseInt: parsing "1_000": invalid syntax"#)
        #expect(failure { try f.int("stop-timeout") }.hasSuffix("value out of range"))
        #expect(failure { try f.uint16("blkio-weight") } == #"invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing "70000": value out of range"#)
        #expect(failure { try f.int("cpu-period") } == #"invalid argument "12a" for "--cpu-period" flag: strconv.ParseInt: parsing "12a": invalid syntax"#)
        let short = try Flags(["-c", "x"], specs: CLI.runFlags)
        #expect(failure { try short.int("cpu-shares") } == #"invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax"#)
        #expect(Flags.parseGoInteger("0b101", unsigned: false) == .some(.some(5)))
        #expect(Flags.parseGoInteger("0x_1f", unsigned: false) == .some(.some(31)))
        #expect(Flags.parseGoInteger("0_17", unsigned: false) == .some(.some(15)))
        #expect(Flags.parseGoInteger("0x1__f", unsigned: false) == .none)
        #expect(Flags.parseGoInteger("-9223372036854775808", unsigned: false) == .some(.some(Int64.min)))
        #expect(Flags.parseGoInteger("-1", unsigned: true) == .none)
        #expect(Flags.parseGoInteger("", unsigned: false) == .none)
    }

    @Test func templatesOverJSON() throws {
        let data = try JSONValue.parse(#"{"State":{"Status":"running","Pid":42,"Running":true},"Names":["a","b"],"Labels":{"k":"v"},"Nil":null}"#)
        #expect(try Template("{{.State.Status}} {{.State.Pid}} {{.State.Running}}").render(data) == "running 42 true")
        #expect(try Template("{{json .State}}").render(data) == #"{"Status":"running","Pid":42,"Running":true}"#)
        #expect(try Template(#"{{index .Labels "k"}} {{join .Names ","}}"#).render(data) == "v a,b")
        #expect(try Template(#"{{(index .Nets "n 1").IP}} {{json (index .Nets "n 1")}}"#).render(JSONValue.parse(#"{"Nets":{"n 1":{"IP":"10.0.0.2"}}}"#))
                == #"10.0.0.2 {"IP":"10.0.0.2"}"#)
        #expect(throws: Template.TemplateError.self) { try Template("{{(index .Labels}}").render(data) }
        #expect(try Template("{{.Names}} {{.Labels}} {{.Nil}}").render(data) == "[a b] map[k:v] <no value>")
        #expect(throws: Template.TemplateError.self) { try Template("{{.Missing}}").render(data) }
        #expect(try Template("{{.Labels.absent}}").render(data) == "<no value>")  // a map's missing key, as Go prints it
        #expect(try Template("{{len .Names}} {{len .Labels}} {{len .State.Status}}").render(data) == "2 1 7")
        #expect(throws: Template.TemplateError(description: "template: error calling len: len of type float64")) { try Template("{{len .State.Pid}}").render(data) }
        // An event's Go fields over its wire names; `{{json .}}` keeps the wire names.
        let event = try JSONValue.parse(#"{"id":"c1","timeNano":7,"Action":"oom"}"#)
        let fields = try Template("{{.ID}} {{.TimeNano}} {{.Action}} {{json .}}", jsonKeys: CLI.eventFields)
        #expect(try fields.render(event) == #"c1 7 oom {"id":"c1","timeNano":7,"Action":"oom"}"#)
        let table = try Template("table {{.ID}}\\t{{.Names}}")
        #expect(table.isTable && table.header(["ID": "CONTAINER ID"]) == "CONTAINER ID\tNAMES")
    }

    /// The control structures and functions docker's own documentation uses in `--format`.
    @Test func templatesWithControlStructures() throws {
        let data = try JSONValue.parse(#"""
            {"Name":"/web","State":{"Running":true,"Status":"running","Health":null},
             "NetworkSettings":{"Networks":{"front":{"IPAddress":"10.0.0.2"},"back":{"IPAddress":"10.1.0.2"}},
                                "Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null}},
             "Config":{"Env":["A=1","B=2"],"Labels":{}},"Mounts":[]}
            """#)
        func render(_ t: String) throws -> String { try Template(t).render(data) }
        #expect(try render("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}") == "10.1.0.2 10.0.0.2 ")  // a map in key order
        #expect(try render("{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{if $conf}}{{(index $conf 0).HostPort}}{{else}}none{{end}}; {{end}}")
                == "443/tcp -> none; 80/tcp -> 8080; ")
        #expect(try render("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}") == "0=A=1 1=B=2 ")
        #expect(try render("{{range .Config.Env}}{{println .}}{{end}}") == "A=1\nB=2\n")
        #expect(try render("{{range .Mounts}}x{{else}}no mounts{{end}}") == "no mounts")
        #expect(try render("{{if .State.Running}}up{{else if .State.Health}}health{{else}}down{{end}}") == "up")
        #expect(try render("{{if not .State.Health}}none{{end}} {{if eq .State.Status \"running\" \"paused\"}}live{{end}}") == "none live")
        #expect(try render("{{with .State}}{{.Status}}{{end}}{{with .Config.Labels}}labels{{else}} no labels{{end}}") == "running no labels")
        #expect(try render("{{$n := .Name}}{{range .Config.Env}}{{$n}}:{{.}} {{end}}{{$.Name}}") == "/web:A=1 /web:B=2 /web")
        #expect(try render("{{.Name | upper}} {{printf \"%-6s|%3d|%q|%.2f\" .Name 7 .State.Status 1.5}}") == "/WEB /web  |  7|\"running\"|1.50")
        #expect(try render("{{join (split \"a,b\" \",\") \"+\"}} {{title \"hello world\"}} {{truncate .Name 2}} {{pad \"x\" 1 2}}|") == "a+b Hello World /w  x  |")
        #expect(try render("{{len .Config.Env}} {{and .State.Running .Name}} {{or .Config.Labels \"empty\"}} {{gt (len .Config.Env) 1}}") == "2 /web empty true")
        #expect(try render("a  {{- /* a comment */ -}}  b\n{{- \"c\"}}") == "abc")
        #expect(try render("{{printf \"%s %s\" .Name}}") == "/web %!s(MISSING)")
        #expect(throws: Template.TemplateError.self) { try render("{{range .Name}}{{end}}") }
        #expect(throws: Template.TemplateError.self) { try render("{{if .Name}}unterminated") }
        #expect(throws: Template.TemplateError.self) { try render("{{end}}") }
        #expect(throws: Template.TemplateError.self) { try render("{{eq .Name 1}}") }
        #expect(throws: Template.TemplateError.self) { try render("{{$undefined}}") }
        #expect(throws: Template.TemplateError.self) { try render("{{nosuch .Name}}") }
        #expect(throws: Template.TemplateError.self) { try render("{{index .Config.Env 5}}") }
    }

    @Test func jsonKeepsKeyOrderAndEscapes() throws {
        let text = #"{"z":1,"a":[true,null,"x\"\u00e9\ud83d\ude00"],"m":{}}"#
        let value = try JSONValue.parse(text)
        #expect(value.compact == #"{"z":1,"a":[true,null,"x\"é😀"],"m":{}}"#)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("{\"a\":") }
    }

    @Test func filtersAsTheAPIWantsThem() {
        #expect(CLI.filtersJSON(["status=exited", "name=a", "name=b"]) == #"{"status":{"exited":true},"name":{"a":true,"b":true}}"#)
    }
}

/// `stats`' NET I/O sums every interface, as docker's formatter does (it printed 0B / 0B).
@Test func statsNetIOSumsTheInterfaces() throws {
    let body = try JSONValue.parse(#"{"id":"0123456789abcdef","name":"/web","networks":{"eth0":{"rx_bytes":1500,"tx_bytes":900},"eth1":{"rx_bytes":500,"tx_bytes":100}}}"#)
    let row = CLI.statsRow(body, name: "web")
    #expect(row["NetIO"]?.string == "2kB / 1kB")
}
