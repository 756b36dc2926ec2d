import Testing
@testable import BerthRuntimeCLI

@Suite struct ArgumentListTests {
    let flags: [ArgumentList.Flag] = [.value("bundle", "b"), .bool("detach", "d"), .value("env", "e"), .bool("tty", "t")]

    @Test func goStyleSpellings() throws {
        let a = try ArgumentList(["-b", "/x", "--detach", "-e=A=1", "--env", "B=2", "id"], flags: flags)
        #expect(a.value("bundle") == "/x")
        #expect(a.bool("detach"))
        #expect(a.all("env") == ["A=1", "B=2"])
        #expect(a.positionals == ["id"])
        #expect(!a.bool("tty"))
    }

    @Test func stopsAtTheCommandForExec() throws {
        let a = try ArgumentList(["-t", "id", "sh", "-c", "echo -e"], flags: flags, stopAtPositional: true)
        #expect(a.bool("tty"))
        #expect(a.positionals == ["id", "sh", "-c", "echo -e"])
    }

    @Test func boolFlagsTakeExplicitFalse() throws {
        #expect(try !ArgumentList(["--detach=false"], flags: flags).bool("detach"))
    }

    @Test func errorsReadLikeRuncs() {
        #expect(throws: ArgumentList.ParseError.self) { try ArgumentList(["--nope"], flags: flags) }
        do {
            _ = try ArgumentList(["--bundle"], flags: flags)
        } catch {
            #expect("\(error)" == "flag needs an argument: -bundle")
        }
    }
}
