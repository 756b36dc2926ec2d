import Testing
@testable import BerthAPI
import BerthOCI
@testable import BerthRegistry

@Suite struct AuthChallengeTests {
    @Test func parsesBearerWithQuotedCommas() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#)
        #expect(c.count == 1)
        #expect(c[0].scheme == "bearer")
        #expect(c[0].realm == "https://auth.docker.io/token")
        #expect(c[0].parameters["service"] == "registry.docker.io")
        #expect(c[0].parameters["scope"] == "repository:library/busybox:pull,push")
    }

    @Test func parsesSeveralChallengesAndEscapes() {
        let c = AuthChallenge.parse(#"Basic realm="a \"quoted\" realm", Bearer realm=https://t/x,service=s"#)
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c[0].realm == #"a "quoted" realm"#)
        #expect(c[1].realm == "https://t/x")
        #expect(c[1].parameters["service"] == "s")
    }

    @Test func emptyHeaderHasNoChallenge() { #expect(AuthChallenge.parse("").isEmpty) }
}

@Suite struct HTTPURLTests {
    @Test func splitsAndResolves() throws {
        let u = try HTTPURL(parsing: "http://127.0.0.1:5000/v2/a/blobs/uploads/?x=1")
        #expect(u.host == "127.0.0.1" && u.port == 5000 && u.target == "/v2/a/blobs/uploads/?x=1")
        #expect(u.authority == "127.0.0.1:5000")
        #expect(try u.resolving("/v2/a/blobs/uploads/uuid?_state=s").description == "http://127.0.0.1:5000/v2/a/blobs/uploads/uuid?_state=s")
        #expect(try u.resolving("https://s3.example/b?sig=1").description == "https://s3.example/b?sig=1")
        #expect(try HTTPURL(parsing: "https://[::1]:8443/").authority == "[::1]:8443")
        #expect(try HTTPURL(parsing: "https://r.example").port == 443)
        #expect(u.adding(query: [("digest", "sha256:ab cd")]).target.hasSuffix("&digest=sha256%3Aab%20cd"))
    }

    @Test(arguments: ["ftp://x/", "http://", "http://a:0/", "http://a:99999/", "http://u@h/", "nourl"])
    func refusesMalformed(_ text: String) { #expect(throws: RegistryError.self) { try HTTPURL(parsing: text) } }
}

@Suite struct RegistryHostsTests {
    @Test func mirrorsComeFirstForDockerHubOnly() throws {
        let hosts = try RegistryHosts(mirrors: ["https://mirror.example/"], certsDirectories: [])
        let hub = try hosts.endpoints(for: "docker.io")
        #expect(hub.map(\.base.authority) == ["mirror.example", "registry-1.docker.io"])
        #expect(hub.map(\.isMirror) == [true, false])
        #expect(try hosts.endpoints(for: "quay.io").map(\.base.authority) == ["quay.io"])
    }

    @Test func loopbackAndListedRegistriesAreInsecure() throws {
        let hosts = try RegistryHosts(insecure: ["10.0.0.0/8", "reg.local:5000"], certsDirectories: [])
        #expect(hosts.isInsecure("127.0.0.1:5000"))
        #expect(hosts.isInsecure("localhost:5000"))
        #expect(hosts.isInsecure("10.1.2.3"))
        #expect(hosts.isInsecure("reg.local:5000"))
        #expect(!hosts.isInsecure("192.168.1.1:5000"))
        let endpoints = try hosts.endpoints(for: "127.0.0.1:5000")
        #expect(endpoints.map(\.base.scheme) == ["https", "http"])
        #expect(endpoints.allSatisfy { !$0.tls.verify })
        #expect(try hosts.endpoints(for: "192.168.1.1:5000").map(\.base.scheme) == ["https"])
    }

    @Test func cidrMatching() {
        #expect(CIDR.contains("127.0.0.0/8", "127.9.9.9"))
        #expect(!CIDR.contains("127.0.0.0/8", "128.0.0.1"))
        #expect(CIDR.contains("::1/128", "::1"))
        #expect(CIDR.contains("10.0.0.0/12", "10.15.255.255") && !CIDR.contains("10.0.0.0/12", "10.16.0.0"))
    }

    @Test func serverAddressesNameTheirRegistry() {
        #expect(Reference.domain(ofServer: "") == "docker.io")
        #expect(Reference.domain(ofServer: "https://index.docker.io/v1/") == "docker.io")
        #expect(Reference.domain(ofServer: "http://127.0.0.1:5000/v2/") == "127.0.0.1:5000")
        #expect(Reference.domain(ofServer: "reg.example") == "reg.example")
    }
}

@Suite struct RegistryErrorTests {
    @Test func distributionErrorsReadAsDocker() {
        let e = RegistryClient.error(status: 404, body: Array(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.utf8))
        #expect(e.description == "manifest unknown: manifest unknown")
        #expect(RegistryClient.error(status: 502, body: []).isTransient)
        #expect(!RegistryClient.error(status: 404, body: []).isTransient)
    }
}

@Suite struct ProgressTests {
    @Test(arguments: [(Int64(0), "0B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (12_345_678, "12.3MB"), (150_000_000, "150MB")])
    func humanSizes(_ n: Int64, _ text: String) { #expect(Size.human(n) == text) }

    @Test func barHasDockersShape() {
        let bar = ProgressMessage.bar(current: 50, total: 100)
        #expect(bar.hasPrefix("[=========================>"))
        #expect(bar.hasSuffix("] 50B/100B"))
    }
}
