import FoundationEssentials
import Testing
@testable import BerthAPI

/// Go's `encoding/json` rules, which dockerd decodes with and every client relies on.
@Suite struct WireDecoderTests {
    struct Endpoint: Decodable, Equatable {
        var MacAddress: String = "unset"
        var Aliases: [String] = ["unset"]
        var Links: [String]?
        var Priority: Int = 7
        var IPAMConfig: IPAM = IPAM()
        struct IPAM: Decodable, Equatable { var IPv4Address: String = "unset" }
    }

    @Test func missingKeysAreZeroValuesNotErrors() throws {
        let e = try WireDecoder.decode(Endpoint.self, from: Array("{}".utf8))
        #expect(e == Endpoint(MacAddress: "", Aliases: [], Links: nil, Priority: 0, IPAMConfig: .init(IPv4Address: "")))
    }

    @Test func nullIsTheZeroValue() throws {
        let body = #"{"MacAddress":null,"Aliases":null,"Links":null,"Priority":null,"IPAMConfig":null}"#
        let e = try WireDecoder.decode(Endpoint.self, from: Array(body.utf8))
        #expect(e == Endpoint(MacAddress: "", Aliases: [], Links: nil, Priority: 0, IPAMConfig: .init(IPv4Address: "")))
    }

    @Test func unknownKeysAreIgnoredAndKeysMatchWithoutCase() throws {
        let body = #"{"macaddress":"02:42:ac:11:00:02","Surprise":{"deep":[1,2,{"x":null}]},"PRIORITY":3}"#
        let e = try WireDecoder.decode(Endpoint.self, from: Array(body.utf8))
        #expect(e.MacAddress == "02:42:ac:11:00:02" && e.Priority == 3)
    }

    @Test func anExactKeyWinsOverAFoldedOne() throws {
        let e = try WireDecoder.decode(Endpoint.self, from: Array(#"{"priority":1,"Priority":2}"#.utf8))
        #expect(e.Priority == 2)
    }

    @Test func mapsAndOptionalValuesInside() throws {
        let m = try WireDecoder.decode([String: [HostPort]?].self, from: Array(#"{"80/tcp":null,"443/tcp":[{"HostPort":"8443"}]}"#.utf8))
        #expect(m["80/tcp"] == .some(nil))
        #expect(m["443/tcp"]??.first?.HostPort == "8443")
    }
    struct HostPort: Decodable, Equatable { var HostIp: String = "x"; var HostPort: String = "" }

    @Test func wrongTypesNameTheFieldAndGoType() {
        #expect(throws: WireDecodingError(message: "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64")) {
            try WireDecoder.decode(ContainerCreateExtras.self, from: Array(#"{"HostConfig":{"Memory":"1g"}}"#.utf8))
        }
        #expect(throws: WireDecodingError.self) { try WireDecoder.decode(Endpoint.self, from: Array(#"{"Aliases":"a"}"#.utf8)) }
        #expect(throws: WireDecodingError.self) { try WireDecoder.decode(Endpoint.self, from: Array(#"{"Priority":1.5}"#.utf8)) }
        #expect(throws: WireDecodingError.self) { try WireDecoder.decode(Endpoint.self, from: Array(#"{"Priority":99999999999999999999}"#.utf8)) }
        #expect(throws: WireDecodingError.self) { try WireDecoder.decode(Endpoint.self, from: Array(#"[]"#.utf8)) }
    }

    @Test func integersKeepEveryDigit() throws {
        struct N: Decodable { var v: Int64 = 0; var u: UInt64 = 0; var d: Double = 0 }
        let n = try WireDecoder.decode(N.self, from: Array(#"{"v":-9223372036854775808,"u":18446744073709551615,"d":1e3}"#.utf8))
        #expect(n.v == Int64.min && n.u == UInt64.max && n.d == 1000)
        #expect(try WireDecoder.decode(N.self, from: Array(#"{"v":2e3}"#.utf8)).v == 2000)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "01", "1.", "-", "{} x", "\"\u{01}\""])
    func malformedJSONIsAnErrorNotATrap(_ text: String) {
        #expect(throws: WireDecodingError.self) { try WireDecoder.decode([String: String].self, from: Array(text.utf8)) }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: WireDecodingError.self) { try WireDecoder.decode([String].self, from: Array(deep.utf8)) }
    }

    @Test func stringsAndEscapes() throws {
        let s = try WireDecoder.decode([String].self, from: Array(#"["a\"b\\\/\n","\u00e9\ud83d\ude00","\ud800x","héllo"]"#.utf8))
        #expect(s == ["a\"b\\/\n", "é😀", "\u{FFFD}x", "héllo"])
    }

    // MARK: real clients' bodies

    /// Every request body recorded from the docker CLI 28, docker-py 5 (compose 1.29) and 7,
    /// named `<model>.<client>.json`; each must decode whole, with any one key removed, and with
    /// any one value set to null, as dockerd accepts all of those.
    static let bodies: [URL] = {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Bodies")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { dir.appendingPathComponent($0) }
    }()

    @Test func recordedBodiesArePresent() {
        let models = Set(Self.bodies.map { $0.lastPathComponent.split(separator: ".")[0] })
        #expect(models.isSuperset(of: ["create", "exec", "execstart", "network", "connect", "volume", "update"]))
    }

    @Test(arguments: bodies)
    func recordedBodyDecodesWithEveryKeyRemovedOrNull(_ file: URL) throws {
        let bytes = Array(try Data(contentsOf: file))
        let root = try WireJSONParser.parse(bytes)
        let model = String(file.lastPathComponent.split(separator: ".")[0])
        var variants = [root]
        Self.variants(of: root, into: &variants)
        for v in variants { try Self.decode(model, v) }
    }

    static func decode(_ model: String, _ v: WireJSON) throws {
        switch model {
        case "create":
            _ = try WireDecoder.decode(ContainerConfig.self, from: v)
            _ = try WireDecoder.decode(ContainerCreateExtras.self, from: v)
        case "update": _ = try WireDecoder.decode(HostConfig.self, from: v)
        case "exec": _ = try WireDecoder.decode(ExecConfig.self, from: v)
        case "execstart": _ = try WireDecoder.decode(ExecStartConfig.self, from: v)
        case "network": _ = try WireDecoder.decode(NetworkCreateRequest.self, from: v)
        case "connect": _ = try WireDecoder.decode(NetworkConnectRequest.self, from: v)
        case "volume": _ = try WireDecoder.decode(VolumeCreateRequest.self, from: v)
        case "auth": _ = try WireDecoder.decode(RegistryAuth.self, from: v)
        default: Issue.record("no model for \(model)")
        }
    }

    /// The document with one member removed, and with one member's value replaced by null, for
    /// every member at every depth.
    static func variants(of value: WireJSON, into out: inout [WireJSON]) {
        func rebuild(_ v: WireJSON, _ edit: (WireJSON) -> [WireJSON]) -> [WireJSON] { edit(v) }
        func walk(_ v: WireJSON) -> [WireJSON] {
            switch v {
            case .object(let obj):
                var results: [WireJSON] = []
                for key in obj.keys {
                    var removed = WireObject()
                    var nulled = WireObject()
                    for k in obj.keys where k != key { removed.set(k, obj[k]!) }
                    for k in obj.keys { nulled.set(k, k == key ? .null : obj[k]!) }
                    results += [.object(removed), .object(nulled)]
                    for inner in walk(obj[key]!) {
                        var replaced = WireObject()
                        for k in obj.keys { replaced.set(k, k == key ? inner : obj[k]!) }
                        results.append(.object(replaced))
                    }
                }
                return results
            case .array(let items):
                var results: [WireJSON] = []
                for (i, item) in items.enumerated() {
                    for inner in walk(item) {
                        var copy = items
                        copy[i] = inner
                        results.append(.array(copy))
                    }
                }
                return results
            default: return []
            }
        }
        out += walk(value)
    }
}

@Suite struct DetachKeysTests {
    @Test(arguments: [
        ("", [0x10, 0x11] as [UInt8]), ("ctrl-p,ctrl-q", [0x10, 0x11]), ("ctrl-x", [0x18]), ("a,b", [0x61, 0x62]),
        ("CTRL-A", [1]), ("ctrl-@", [0]), ("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", [27, 28, 29, 30, 31]), (",", nil),
        ("ctrl-", nil), ("ctrl-1", nil), ("ab", nil), ("ctrl-p,", nil), ("é", nil), ("ctrl-pp", nil),
    ] as [(String, [UInt8]?)])
    func parsesAsMobyTerm(_ spec: String, _ bytes: [UInt8]?) {
        let parsed = try? DetachKeys(parsing: spec)
        #expect(parsed?.bytes == bytes)
        if bytes == nil { #expect(throws: DetachKeysError(spec: spec)) { try DetachKeys(parsing: spec) } }
    }

    /// The sequence is found however the input is split, a broken-off prefix is passed on, and
    /// the sequence itself never is.
    @Test func scansAcrossEverySplit() throws {
        let input: [UInt8] = [0x61, 0x10, 0x62, 0x10, 0x10, 0x11, 0x63]
        for cut1 in 0...input.count {
            for cut2 in cut1...input.count {
                var scanner = DetachKeyScanner(.standard)
                var forwarded: [UInt8] = []
                var detached = false
                for chunk in [input[0..<cut1], input[cut1..<cut2], input[cut2...]] where !detached {
                    let r = scanner.scan(chunk)
                    forwarded += r.forward
                    detached = r.detached
                }
                #expect(detached)
                #expect(forwarded == [0x61, 0x10, 0x62, 0x10])
            }
        }
    }

    @Test func oneKeyAndNoKeys() throws {
        var one = DetachKeyScanner(try DetachKeys(parsing: "ctrl-x"))
        #expect(one.scan([0x61, 0x18, 0x62]) == ([0x61], true))
        var none = DetachKeyScanner(.standard)
        #expect(none.scan([UInt8]()) == ([], false))
        #expect(none.scan([0x10]) == ([], false))
        #expect(none.scan([0x61]) == ([0x10, 0x61], false))
    }
}

@Suite struct NetworkStatsTests {
    @Test func parsesProcNetDevWithoutLoopback() {
        let text = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
          eth0:    1296      16    1    2    0     0          0         0      726       9    3    4    0     0       0          0
        """
        let stats = ContainerStats.NetworkStats.parse(procNetDev: text)
        #expect(Array(stats.keys) == ["eth0"])
        #expect(stats["eth0"]?.rx_bytes == 1296 && stats["eth0"]?.rx_errors == 1 && stats["eth0"]?.tx_packets == 9 && stats["eth0"]?.tx_dropped == 4)
    }
}
