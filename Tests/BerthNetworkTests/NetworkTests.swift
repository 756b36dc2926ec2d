import Testing
@testable import BerthNetwork

@Suite struct AddressTests {
    @Test func parsesAndFormats() throws {
        #expect(IPv4("172.17.0.2")?.description == "172.17.0.2")
        #expect(IPv4("256.1.1.1") == nil)
        #expect(IPv4("1.2.3") == nil)
        #expect(IPv4("1.2.3.") == nil)
        #expect(formatMAC(IPv4("172.17.0.2")!.dockerMAC) == "02:42:ac:11:00:02")
        let s = try Subnet(parsing: "172.18.0.0/16")
        #expect(s.contains(IPv4("172.18.255.1")!))
        #expect(!s.contains(IPv4("172.19.0.1")!))
        #expect(s.firstHost.description == "172.18.0.1")
        #expect(throws: NetworkError.invalid("invalid subnet 172.18.0.1/16 : it should be 172.18.0.0/16")) { try Subnet(parsing: "172.18.0.1/16") }
        #expect(throws: NetworkError.self) { try Subnet(parsing: "172.18.0.0") }
    }

    @Test func poolSkipsGatewayAndDoesNotReuseAtOnce() throws {
        let subnet = try Subnet(parsing: "10.5.0.0/29")
        var pool = AddressPool(subnet: subnet, gateway: subnet.firstHost)
        let a = try pool.allocate(), b = try pool.allocate()
        #expect([a, b].map(\.description) == ["10.5.0.2", "10.5.0.3"])
        pool.release(a)
        #expect(try pool.allocate().description == "10.5.0.4")
        _ = try pool.allocate(); _ = try pool.allocate()  // .5, .6
        #expect(try pool.allocate().description == "10.5.0.2")  // wrapped around to the free one
        #expect(throws: NetworkError.self) { try pool.allocate() }
        #expect(throws: NetworkError.conflict("Address already in use")) { try pool.claim(IPv4("10.5.0.3")!) }
    }

    @Test func ipRangeLimitsDynamicAddresses() throws {
        let subnet = try Subnet(parsing: "10.6.0.0/16")
        var pool = AddressPool(subnet: subnet, range: try Subnet(parsing: "10.6.5.0/24"), gateway: subnet.firstHost)
        #expect(try pool.allocate().description == "10.6.5.1")
        try pool.claim(IPv4("10.6.0.9")!)  // a static address may sit outside the range
    }

    @Test func defaultPoolsAvoidTakenRanges() throws {
        #expect(SubnetPools.docker.firstFree(avoiding: [])?.description == "172.17.0.0/16")
        #expect(SubnetPools.docker.firstFree(avoiding: [try Subnet(parsing: "172.17.0.0/16"), try Subnet(parsing: "172.18.3.0/24")])?.description == "172.19.0.0/16")
        let taken = try (17...31).map { try Subnet(parsing: "172.\($0).0.0/16") } + [try Subnet(parsing: "192.168.0.0/20")]
        #expect(SubnetPools.docker.firstFree(avoiding: taken)?.description == "192.168.16.0/20")
    }

    /// `--default-address-pool base=10.10.0.0/16,size=24`: its /24s in order; sizes outside the
    /// base's prefix..32 refused; a whole IPv4 space in /32s counted without a trap.
    @Test func configuredPoolsSplitTheirBase() throws {
        let pools = SubnetPools([try SubnetPools.Pool(parsing: "base=10.10.0.0/16,size=24")])
        #expect(pools.firstFree(avoiding: [try Subnet(parsing: "10.10.0.0/23")])?.description == "10.10.2.0/24")
        #expect(throws: NetworkError.self) { try SubnetPools.Pool(parsing: "base=10.10.0.0/16,size=8") }
        #expect(throws: NetworkError.self) { try SubnetPools.Pool(parsing: "base=10.10.0.0/16,size=33") }
        #expect(throws: NetworkError.self) { try SubnetPools.Pool(parsing: "base=10.10.0.0/16") }
        let everything = SubnetPools([try SubnetPools.Pool(parsing: "base=0.0.0.0/0,size=32")])
        #expect(everything.firstFree(avoiding: [try Subnet(parsing: "0.0.0.0/1")])?.description == "128.0.0.0/32")
    }

    @Test func rulesetIsWholeChains() throws {
        let text = Netfilter().ruleset([BridgeRules(bridge: "berth0", subnet: try Subnet(parsing: "172.17.0.0/16"), isInternal: false,
                                                  ports: [PortMapping(proto: "tcp", hostIP: "", hostPort: 8080, containerIP: "172.17.0.2", containerPort: 80)])])
        #expect(text.hasPrefix("*nat\n:BERTH - [0:0]\n:BERTH-POSTROUTING - [0:0]\n"))
        #expect(text.contains("-A BERTH -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n"))
        #expect(text.contains("-A BERTH-POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE\n"))
        #expect(text.hasSuffix("COMMIT\n"))
        #expect(Netfilter.prefix(execRoot: "/run/berth") == "BERTH")
        #expect(Netfilter.prefix(execRoot: "/run/other").count == 12)
    }

    @Test func dnsQuestionAndReply() {
        // id 0x1234, RD, one question: "web" A IN
        let query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3] + Array("web".utf8) + [0, 0, 1, 0, 1]
        let q = DNSMessage.question(query)
        #expect(q?.name == "web" && q?.type == 1)
        let reply = DNSMessage.reply(query, question: q!, answer: IPv4("10.0.0.7"))
        #expect(reply[0] == 0x12 && reply[2] & 0x80 != 0 && reply[7] == 1)
        #expect(Array(reply.suffix(4)) == [10, 0, 0, 7])
        #expect(DNSMessage.question([0, 1, 0]) == nil)
    }
}

@Suite struct IPv6Tests {
    @Test(arguments: [
        ("2001:389::f00d", "2001:389::f00d"), ("2001:0389:0000:0000:0000:0000:0000:f00d", "2001:389::f00d"), ("::1", "::1"), ("::", "::"),
        ("fe80::1:0:0:1", "fe80::1:0:0:1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
    ])
    func printsAsRFC5952(_ text: String, _ expected: String) throws {
        #expect(IPv6(text)?.description == expected)
    }

    @Test(arguments: ["1.2.3.4", "2001:::1", "1::2::3", "12345::", ":1", "1:", "g::", "1:2:3:4:5:6:7:8:9", ""])
    func refusesMalformed(_ text: String) { #expect(IPv6(text) == nil) }

    @Test func subnetsAndPools() throws {
        let s = try Subnet6(parsing: "2001:389::/64")
        #expect(s.contains(IPv6("2001:389::f00d")!) && !s.contains(IPv6("2001:38a::1")!))
        #expect(s.firstHost.description == "2001:389::1")
        #expect(throws: NetworkError.self) { try Subnet6(parsing: "2001:389::1/64") }
        var pool = AddressPool6(subnet: s, range: try Subnet6(parsing: "2001:389::/96"), gateway: IPv6("2001:389::ffff")!)
        #expect(try pool.allocate().description == "2001:389::1")
        try pool.claim(IPv6("2001:389::2")!)
        #expect(try pool.allocate().description == "2001:389::3")
        #expect(throws: NetworkError.self) { try pool.claim(IPv6("2001:389::ffff")!) }
        #expect(IPv6("2001:389::1")!.bytes == [0x20, 0x01, 0x03, 0x89] + [UInt8](repeating: 0, count: 11) + [1])
    }
}

@Suite struct IPv6RulesTests {
    @Test func masqueradeAndForwardingForIPv6Networks() throws {
        let text = Netfilter(prefix: "BERTH-abc123").ruleset6([
            BridgeRules6(bridge: "br-v6", subnet: try Subnet6(parsing: "fd42:b3::/64"), isInternal: false),
            BridgeRules6(bridge: "br-in", subnet: try Subnet6(parsing: "fd42:b4::/64"), isInternal: true),
        ])
        #expect(text.contains("-A BERTH-abc123-POSTROUTING -s fd42:b3::/64 ! -o br-v6 -j MASQUERADE"))
        #expect(!text.contains("fd42:b4::/64"))
        #expect(text.contains("-A BERTH-abc123-FORWARD -i br-in ! -o br-in -j DROP"))
        #expect(text.hasPrefix("*nat\n:BERTH-abc123-POSTROUTING - [0:0]\n") && text.hasSuffix("COMMIT\n"))
    }
}

/// portmap is skipped only where its own code would pass the previous result on unchanged.
@Test func portmapIsSkippedOnlyWithoutPortMappings() {
    let cni = CNI(binDirectories: [], cacheDirectory: "/nonexistent")
    let portmap: [String: CNIValue] = ["type": .string("portmap"), "capabilities": .object(["portMappings": .bool(true)])]
    let previous = CNIValue.object(["ips": .array([])])
    let plain = CNIAttachment(containerID: "p", netns: "/x")
    let mapped = CNIAttachment(containerID: "p", netns: "/x", capabilities: ["portMappings": .array([.object(["hostPort": .int(80)])])])
    #expect(cni.isInert(portmap, plain, previous: previous))
    #expect(!cni.isInert(portmap, mapped, previous: previous))
    #expect(cni.isInert(["type": .string("portmap")], mapped, previous: previous))  // not declared: it never sees the mappings
    #expect(!cni.isInert(portmap, plain, previous: nil))  // first in a list: let it say it must be chained
    #expect(!cni.isInert(["type": .string("bridge")], plain, previous: previous))
}
