import Testing
@testable import BerthOCI

/// Cases checked against the docker 28 CLI's own parsing on this machine.
@Suite struct ReferenceTests {
    static let hex = String(repeating: "ab", count: 32)

    @Test(arguments: [
        ("ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("ubuntu:22.04", "docker.io/library/ubuntu:22.04", "ubuntu:22.04"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"),
        ("Registry.Example.com/app", "Registry.Example.com/app:latest", "Registry.Example.com/app:latest"),
        ("[::1]:5000/app:t", "[::1]:5000/app:t", "[::1]:5000/app:t"),
        ("a.b/c__d/e-f---g.h_i", "a.b/c__d/e-f---g.h_i:latest", "a.b/c__d/e-f---g.h_i:latest"),
        ("busybox@sha256:\(hex)", "docker.io/library/busybox@sha256:\(hex)", "busybox@sha256:\(hex)"),
        ("busybox:1@sha256:\(hex)", "docker.io/library/busybox:1@sha256:\(hex)", "busybox:1@sha256:\(hex)"),
    ])
    func normalizes(input: String, full: String, familiar: String) throws {
        let r = try Reference(parsing: input).withDefaultTag
        #expect(r.description == full)
        #expect(r.familiarString == familiar)
    }

    @Test(arguments: [
        ("Ubuntu", "invalid reference format: repository name (library/Ubuntu) must be lowercase"),
        ("localhost:5000/Foo/bar:t", "invalid reference format: repository name (Foo/bar) must be lowercase"),
        ("ubuntu:", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("ubuntu@sha256:abc", "invalid reference format"),
        ("-ubuntu", "invalid reference format"),
        ("ubuntu:-tag", "invalid reference format"),
        ("a_-b", "invalid reference format"),
        ("", "invalid reference format"),
        (String(repeating: "a", count: 300), "repository name must not be more than 255 characters"),
        (hex, "invalid repository name (\(hex)), cannot specify 64-byte hexadecimal strings"),
    ])
    func refusesInDockersWords(input: String, message: String) {
        #expect { try Reference(parsing: input) } throws: { "\($0)" == message }
    }

    @Test func digestsAreStrict() throws {
        #expect(try Digest(parsing: "sha256:\(Self.hex)").shortID == "abababababab")
        #expect(throws: Digest.ParseError.self) { try Digest(parsing: "sha256:\(Self.hex.uppercased())") }
        #expect(throws: Digest.ParseError.self) { try Digest(parsing: "md5:\(Self.hex)") }
        #expect(throws: Digest.ParseError.self) { try Digest(parsing: "sha256:abc") }
    }
}
