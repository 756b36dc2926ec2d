import Testing
@testable import BerthCLI

/// `berth build`'s terminal view from the classic builder's stream: step lines with their times,
/// cached steps marked, the running step's last lines, the failed step's output in full.
@Suite struct BuildProgressTests {
    @Test func stepsCachedRunningAndFinished() {
        let p = BuildProgress(now: 0)
        p.consume("Step 1/3 : FROM busybox\n", now: 0)
        p.consume(" ---> 0123456789ab\n", now: 0.1)
        p.consume("Step 2/3 : RUN echo cached\n", now: 0.1)
        p.consume(" ---> Using cache\n ---> 1111\n", now: 0.1)
        p.consume("Step 3/3 : RUN make\n", now: 0.2)
        p.consume(" ---> Running in abc\n", now: 0.2)
        p.consume((1...8).map { "out \($0)\n" }.joined(), now: 0.5)
        p.consume("\u{1b}[91mwarn\n\u{1b}[0m", now: 0.6)
        #expect(p.screen(now: 1.25, width: 40) == [
            "[+] Building 1.3s (2/3)",
            " => [1/3] FROM busybox             0.1s",
            " => CACHED [2/3] RUN echo cached   0.0s",
            " => [3/3] RUN make                 1.1s",
            " => # out 4", " => # out 5", " => # out 6", " => # out 7", " => # out 8", " => # warn",
        ])
        p.consume("Removing intermediate container abc\n ---> 2222\nSuccessfully built 2222\nSuccessfully tagged app:1\n", now: 1.4)
        p.finish(failed: false, now: 1.5)
        #expect(p.screen(now: 9, width: 40).first == "[+] Building 1.5s (3/3) FINISHED")
        #expect(p.screen(now: 9, width: 40).suffix(3) == [" => [3/3] RUN make                 1.3s", " => writing image 2222", " => naming to app:1"])
        #expect(p.failure == nil)
    }

    @Test func aFailedStepShowsItsWholeOutput() {
        let p = BuildProgress(now: 0)
        p.consume("Step 1/2 : FROM busybox\n", now: 0)
        p.consume("Step 2/2 : RUN a-very-long-command-that-does-not-fit-the-terminal-width && exit 3\n", now: 0)
        p.consume((1...10).map { "line \($0)\n" }.joined(), now: 0.1)
        p.finish(failed: true, now: 0.2)
        let screen = p.screen(now: 1, width: 40)
        #expect(screen.first == "[+] Building 0.2s (2/2) FAILED")
        #expect(screen.last == " => ERROR [2/2] RUN a-very-long-c… 0.2s" && screen.allSatisfy { $0.count < 40 })
        #expect(p.failure == "------\n > [2/2] RUN a-very-long-command-that-does-not-fit-the-terminal-width && exit 3:\n"
                + (1...10).map { "line \($0)\n" }.joined() + "------\n")
    }
}
