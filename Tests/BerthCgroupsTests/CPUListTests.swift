import Testing
@testable import BerthCgroups

@Suite struct CPUListTests {
    @Test func parsesTheKernelsListSyntax() {
        #expect(CPUList.parse("0-3,5") == [0, 1, 2, 3, 5])
        #expect(CPUList.parse("7") == [7])
        for bad in ["", "a", "3-1", "-1", "0-", "0,,1", "0-99999999999999999999", "1-70000"] { #expect(CPUList.parse(bad) == nil, "\(bad)") }
    }

    @Test func refusesWhatTheMachineLacksWithDockersWords() {
        #expect(CPUList.problem("0", .cpus) == nil)
        #expect(CPUList.problem("x", .cpus) == "Invalid value x for cpuset cpus")
        #expect(CPUList.problem("4000", .mems)?.hasPrefix("Requested memory nodes are not available - requested 4000, available: ") == true)
    }
}
