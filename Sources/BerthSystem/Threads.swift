import Glibc

/// A pthread mutex (Foundation's NSLock is not in FoundationEssentials).
public final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// One value behind a `Lock`, for state a synchronous caller shares without an actor's await.
public final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private var stored: Value
    public init(_ value: Value) { stored = value }
    public var value: Value { lock.locked { stored } }
    /// Stores `value` and returns the one it replaced.
    @discardableResult public func exchange(_ value: Value) -> Value {
        lock.locked { defer { stored = value }; return stored }
    }
    /// Reads and changes the value in one step.
    public func mutate<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try lock.locked { try body(&stored) }
    }
}

/// Blocking work off Swift's cooperative pool (two threads on this machine): a transfer, an
/// extraction or a subprocess that waits in a system call must not hold one of them.
public enum Threads {
    /// Runs `body` on a new detached pthread: for loops that last as long as the daemon or a
    /// client's stream, and for work another blocking job waits on (a job of the bounded pool
    /// must never wait for another job of that pool, or a full pool would deadlock).
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_detach(thread)
    }

    /// Runs blocking `body` on the daemon's bounded pool (`BlockingPool.shared`) and awaits its
    /// result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            BlockingPool.shared.submit { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// A fixed ceiling of threads for blocking work, started as needed and kept: a burst of requests
/// (100 parallel `docker cp`, a load of many layers) queues here instead of starting a thread
/// each, which is what bounds berthd's threads and memory under load. Jobs run in arrival order.
public final class BlockingPool: @unchecked Sendable {
    /// Sized for what waits rather than computes: health probes and registry transfers wait on
    /// sockets, extractions mostly on the disk.
    public static let shared = BlockingPool(width: 64)

    public let width: Int
    private var mutex = pthread_mutex_t()
    private var available = pthread_cond_t()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0

    public init(width: Int) {
        self.width = max(1, width)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&available, nil)
    }

    public func submit(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        queue.append(job)
        // every queued job needs an idle thread of its own, or a new one while under the ceiling
        let startThread = queue.count - head > idle && threads < width
        if startThread { threads += 1 }
        pthread_cond_signal(&available)
        pthread_mutex_unlock(&mutex)
        if startThread { Threads.detach { [self] in work() } }
    }

    private func work() {
        while true {
            pthread_mutex_lock(&mutex)
            idle += 1
            while head == queue.count { pthread_cond_wait(&available, &mutex) }
            idle -= 1
            let job = queue[head]
            head += 1
            if head == queue.count || head > 1024 {
                queue.removeFirst(head)
                head = 0
            }
            pthread_mutex_unlock(&mutex)
            job()
        }
    }
}

extension Threads {
    /// Runs `body(0..<count)` on `width` threads (indices handed out in order) and waits for all;
    /// rethrows the first failure. The calling thread blocks: call it from a thread of its own.
    public static func parallel(count: Int, width: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
        guard count > 0 else { return }
        let state = Latch<Void>(expected: min(max(width, 1), count))
        let next = Counter()
        for _ in 0..<min(max(width, 1), count) {
            detach {
                var failure: Error?
                while failure == nil, let index = next.take(below: count) {
                    do { try body(index) } catch { failure = error }
                }
                state.arrive(failure.map { .failure($0) } ?? .success(()))
            }
        }
        try state.wait()
    }
}

/// Hands out increasing indices to several threads.
final class Counter: @unchecked Sendable {
    let lock = Lock()
    var value = 0
    func take(below limit: Int) -> Int? {
        lock.locked { () -> Int? in
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

/// Waits for `expected` arrivals (a thread's result each) and yields the first failure or the
/// last success.
public final class Latch<T>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var remaining: Int
    private var result: Result<T, Error>?

    /// `expected` ≥ 1.
    public init(expected: Int = 1) {
        remaining = expected
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    public func arrive(_ outcome: Result<T, Error>) {
        pthread_mutex_lock(&mutex)
        if case .failure = result {} else { result = outcome }
        remaining -= 1
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    public func wait() throws -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while remaining > 0 { pthread_cond_wait(&condition, &mutex) }
        return try result!.get()
    }
}
