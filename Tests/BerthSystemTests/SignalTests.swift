import Testing
@testable import BerthSystem

@Suite struct SignalTests {
    @Test(arguments: [("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("9", 9), ("RTMIN", 34), ("RTMIN+3", 37),
                      ("SIGRTMAX-2", 62), ("IOT", 6), ("64", 64)])
    func parsesNamesAndNumbers(text: String, number: Int32) throws {
        #expect(try Signal.parse(text) == number)
    }

    @Test(arguments: ["0", "65", "-1", "SIGBOGUS", "RTMIN+40", "RTMAX+1", "RTMIN3", ""])
    func refusesWhatIsNotASignal(text: String) {
        #expect(throws: Signal.ParseError.self) { try Signal.parse(text) }
        #expect((try? Signal.parse(text)) == nil)
    }

    @Test func namesNumbersBack() {
        #expect(Signal.name(15) == "SIGTERM")
        #expect(Signal.name(40) == "SIG40")
    }
}
