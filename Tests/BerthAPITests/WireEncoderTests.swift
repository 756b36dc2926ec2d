import BerthOCI
import Testing
@testable import BerthAPI

/// Responses as Go's `encoding/json` marshals moby's structs (with `SetEscapeHTML(false)`, as
/// moby's `WriteJSON`): the expected texts are what Go writes for the same struct.
@Suite struct WireEncoderTests {
    struct Inner: GoEncodable {
        var Name: String
        var Tags: [String]?
        var Empty: String = ""
        static var omitEmptyKeys: Set<String> { ["Empty", "Skipped"] }
        var Skipped: [String]?
    }

    struct Outer: GoEncodable {
        var Id: String
        var Count: Int64
        var Ratio: Double
        var Flag: Bool
        var Missing: String?
        var Labels: [String: String]
        var Items: [Inner]
        var Nested: [[Int]]
    }

    @Test func fieldsInDeclarationOrderNilAsNullOmitEmptyAndSortedMaps() throws {
        let value = Outer(Id: "x", Count: -3, Ratio: 1.5, Flag: false, Missing: nil, Labels: ["b": "2", "a": "1", "c": "3"],
                          Items: [Inner(Name: "n", Tags: nil), Inner(Name: "m", Tags: ["t"], Empty: "e", Skipped: ["s"])],
                          Nested: [[1, 2], []])
        let text = String(decoding: try WireEncoder.encode(value), as: UTF8.self)
        #expect(text == #"{"Id":"x","Count":-3,"Ratio":1.5,"Flag":false,"Missing":null,"Labels":{"a":"1","b":"2","c":"3"},"#
                + #""Items":[{"Name":"n","Tags":null},{"Name":"m","Tags":["t"],"Empty":"e","Skipped":["s"]}],"Nested":[[1,2],[]]}"#)
    }

    /// As moby's `events.Message`: the legacy fields only for containers and images, the
    /// attributes sorted, an image name's slashes as they are.
    @Test func eventsAsMobyMarshalsThem() throws {
        let container = EventMessage(type: "container", action: "start",
                                     actor: .init(ID: "c1", Attributes: ["name": "web", "image": "127.0.0.1:5000/a/b"]), timeNano: 1_700_000_000_123_456_789)
        #expect(String(decoding: try WireEncoder.encode(container), as: UTF8.self) ==
                #"{"status":"start","id":"c1","from":"127.0.0.1:5000/a/b","Type":"container","Action":"start","#
                + #""Actor":{"ID":"c1","Attributes":{"image":"127.0.0.1:5000/a/b","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#)
        let network = EventMessage(type: "network", action: "create", actor: .init(ID: "n1", Attributes: [:]), timeNano: 5_000_000_000)
        #expect(String(decoding: try WireEncoder.encode(network), as: UTF8.self) ==
                #"{"Type":"network","Action":"create","Actor":{"ID":"n1","Attributes":{}},"scope":"local","time":5,"timeNano":5000000000}"#)
    }

    @Test func stringsEscapedAsGoWithoutHTMLEscaping() {
        let cases: [(String, String)] = [
            ("plain", #""plain""#),
            ("a\"b\\c", #""a\"b\\c""#),
            ("l1\nl2\r\t", #""l1\nl2\r\t""#),
            ("\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}", #""\u0000\u0001\u0008\u000c\u001f"# + "\u{7f}\""),
            ("<a&b>", #""<a&b>""#),  // moby turns HTML escaping off
            ("é 漢 🚢", "\"é 漢 🚢\""),
            ("x\u{2028}y\u{2029}z", #""x\u2028y\u2029z""#),  // Go escapes these two always
            ("", #""""#),
        ]
        for (input, expected) in cases {
            #expect(JSONText.quote(input) == expected, "\(input.debugDescription)")
        }
    }

    /// A container's inspect has about 250 keys: encoding must stay linear in them.
    @Test func largeObjectsKeepEveryKeyInOrder() throws {
        let map = Dictionary(uniqueKeysWithValues: (0..<2000).map { ("k" + String(String(100_000 + $0).dropFirst()), $0) })
        let bytes = try WireEncoder.encode(map)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"k00000":0,"k00001":1,"#) && text.hasSuffix(#""k01999":1999}"#))
    }

    /// A hand-written `encode(to:)` may open nested containers: each ends when its parent is
    /// written to again, and one written to after that is an error, not a broken document.
    struct Handwritten: Encodable, GoEncodable {
        enum Keys: String, CodingKey { case a, b, c, d, e }
        static var omitEmptyKeys: Set<String> { ["d", "e"] }
        let late: Bool
        func encode(to encoder: Encoder) throws {
            var top = encoder.container(keyedBy: Keys.self)
            var a = top.nestedContainer(keyedBy: Keys.self, forKey: .a)
            try a.encode(1, forKey: .b)
            var list = top.nestedUnkeyedContainer(forKey: .b)
            try list.encode("x")
            var inner = list.nestedContainer(keyedBy: Keys.self)
            try inner.encodeNil(forKey: .c)
            try list.encode(2)
            try top.encode([String](), forKey: .d)
            try top.encode(["k": 0], forKey: .e)
            try top.encode(Empty(), forKey: .c)
            if late { try a.encode(2, forKey: .c) }
        }
    }
    struct Empty: Encodable {}

    @Test func nestedContainersEndWhenTheirParentGoesOn() throws {
        let text = String(decoding: try WireEncoder.encode(Handwritten(late: false)), as: UTF8.self)
        #expect(text == #"{"a":{"b":1},"b":["x",{"c":null},2],"e":{"k":0},"c":{}}"#)
        #expect(throws: EncodingError.self) { try WireEncoder.encode(Handwritten(late: true)) }
    }

    /// A running container's inspect as berthd wrote it (health check, mounts, limits, labels, a
    /// quote in the environment; Go's zeros for the fields no client set) decodes and encodes back
    /// byte for byte.
    @Test func aContainersInspectRoundTrips() throws {
        let text = #"{"Id":"16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2","Created":"2026-12-05T18:56:46.332082109Z","Path":"sleep","Args":["1000"],"State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":3172,"ExitCode":0,"Error":"","StartedAt":"2026-12-05T18:56:46.380335251Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"starting","FailingStreak":0,"Log":[]}},"Image":"sha256:0ccc57b85e4ddf8262b142adcd1a153f5c72d82738d1ec94fe523d1d4406ff19","ResolvConfPath":"/var/tmp/berth-engine-4jpq3rwt/data/containers/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2/resolv.conf","HostnamePath":"/var/tmp/berth-engine-4jpq3rwt/data/containers/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2/hostname","HostsPath":"/var/tmp/berth-engine-4jpq3rwt/data/containers/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2/hosts","LogPath":"/var/tmp/berth-engine-4jpq3rwt/data/containers/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2-json.log","Name":"/determined_johnson","RestartCount":0,"Driver":"overlay2","Platform":"linux","MountLabel":"","ProcessLabel":"","AppArmorProfile":"","ExecIDs":null,"HostConfig":{"Binds":["vol1:/data:ro"],"ContainerIDFile":"","NetworkMode":"none","PortBindings":null,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"CapAdd":["NET_ADMIN"],"CapDrop":null,"Dns":["1.1.1.1"],"DnsOptions":null,"DnsSearch":null,"ExtraHosts":null,"PublishAllPorts":false,"VolumesFrom":null,"VolumeDriver":"","Privileged":false,"ReadonlyRootfs":false,"Memory":67108864,"MemoryReservation":0,"MemorySwap":134217728,"KernelMemory":0,"KernelMemoryTCP":0,"OomKillDisable":false,"NanoCpus":500000000,"CpuShares":0,"CpuQuota":0,"CpuPeriod":0,"CpusetCpus":"","CpusetMems":"","BlkioWeight":0,"PidsLimit":null,"Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],"LogConfig":{"Type":"json-file","Config":{}},"ShmSize":67108864,"Tmpfs":{"/t":""},"SecurityOpt":null,"OomScoreAdj":0,"PidMode":"","UsernsMode":"","IpcMode":"private","UTSMode":"","GroupAdd":null,"Devices":null,"Links":null,"ConsoleSize":[0,0],"CgroupnsMode":"host","Cgroup":"","CgroupParent":"","Isolation":"","Runtime":"runc","DeviceCgroupRules":null,"DeviceRequests":null,"MemorySwappiness":null,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware","/sys/devices/virtual/powercap"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]},"GraphDriver":{"Name":"overlay2","Data":{"MergedDir":"/run/berth-exec-fji5qu1q/containers/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2/rootfs"}},"Mounts":[{"Type":"volume","Name":"vol1","Source":"/var/tmp/berth-engine-4jpq3rwt/data/volumes/vol1/_data","Destination":"/data","Driver":"local","Mode":"ro","RW":false,"Propagation":""}],"Config":{"Hostname":"16c43b87767c","Domainname":"","User":"1:1","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1","B=x\"y"],"Cmd":["sleep","1000"],"Healthcheck":{"Test":["CMD-SHELL","true"]},"Image":"busybox","Volumes":null,"WorkingDir":"/tmp","Entrypoint":null,"OnBuild":null,"Labels":{"a":"2","z":"1"}},"NetworkSettings":{"Bridge":"","SandboxID":"2cf0c3d28ea65b91a24cbefd7c9786c93768cd33ba4f617e1fddc76778b34c61","HairpinMode":false,"LinkLocalIPv6Address":"","LinkLocalIPv6PrefixLen":0,"Ports":{},"SandboxKey":"/run/berth-exec-fji5qu1q/netns/16c43b87767cddf1e716f4ab33dc86739c6879c7dfebc42a19b56ae82d3c0fc2","SecondaryIPAddresses":null,"SecondaryIPv6Addresses":null,"EndpointID":"","Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","MacAddress":"","Networks":{"none":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"5a59b7ffbcb6941cbf25b5bc3255024a331afcfae961e5232b8822d923866eb2","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#
        let value = try WireDecoder.decode(ContainerInspect.self, from: Array(text.utf8))
        #expect(String(decoding: try WireEncoder.encode(value), as: UTF8.self) == text)
    }

    /// An unset field that Go holds by value marshals as its zero; a pointer as null; an
    /// omitempty one not at all.
    @Test func unsetGoValuesAreTheirZero() throws {
        let text = String(decoding: try WireEncoder.encode(HostConfig()), as: UTF8.self)
        for member in [#""Privileged":false"#, #""Memory":0"#, #""PidMode":"""#, #""PidsLimit":null"#, #""Binds":null"#] {
            #expect(text.contains(member), "\(member)")
        }
        #expect(!text.contains(#""Runtime""#))
    }

    /// A `system df` build-cache record without parents leaves the key out, as moby's omitempty;
    /// an unused one's last use is null.
    @Test func buildCacheRecordsOmitEmptyParents() throws {
        let record = BuildCacheRecord(ID: "x", Type: "exec.cachemount", Description: "d", InUse: false, Shared: true, Size: 0,
                                      CreatedAt: "t", LastUsedAt: nil, UsageCount: 0)
        let text = String(decoding: try WireEncoder.encode([record]), as: UTF8.self)
        #expect(!text.contains("Parents") && text.contains(#""LastUsedAt":null"#))
    }
}
