import Glibc
import Testing
@testable import BerthSystem

/// The bounded pool: never more threads than its width, every job run, none lost while queued.
@Suite struct BlockingPoolTests {
    final class Gauge: @unchecked Sendable {
        let lock = Lock()
        var running = 0, peak = 0, done = 0
        func enter() { lock.locked { running += 1; peak = max(peak, running) } }
        func leave() { lock.locked { running -= 1; done += 1 } }
    }

    @Test func burstsQueueBehindTheCeiling() throws {
        let pool = BlockingPool(width: 3)
        let gauge = Gauge()
        let finished = Latch<Void>(expected: 40)
        for _ in 0..<40 {
            pool.submit {
                gauge.enter()
                usleep(2_000)
                gauge.leave()
                finished.arrive(.success(()))
            }
        }
        try finished.wait()
        #expect(gauge.done == 40)
        #expect(gauge.peak <= 3)
    }

    @Test func aBlockedJobDoesNotHoldBackTheOthersWhileThreadsRemain() async throws {
        let pool = BlockingPool(width: 2)
        let release = Latch<Void>()
        pool.submit { _ = try? release.wait() }
        // the second job needs a thread of its own: the first never returns until it is done
        let value = try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(returning: 42) }
        }
        release.arrive(.success(()))
        #expect(value == 42)
    }

    @Test func runReturnsAndRethrows() async throws {
        struct Failure: Error {}
        #expect(try await Threads.run { 7 } == 7)
        await #expect(throws: Failure.self) { try await Threads.run { throw Failure() } }
    }
}
