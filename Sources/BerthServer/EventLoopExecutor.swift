import NIOCore

/// Runs a request's task on its connection's event loop (a task executor preference, which the
/// engine's actors then run on too): on the default pool every request woke a pool thread and
/// every response woke the loop back, two thread switches that cost about as much CPU as an
/// inspect's whole encoding. Nothing in a handler blocks (blocking work goes to `Threads`), so
/// the loop only ever waits for CPU work, as it would on the pool.
final class EventLoopExecutor: TaskExecutor, @unchecked Sendable {
    let loop: EventLoop

    init(_ loop: EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
