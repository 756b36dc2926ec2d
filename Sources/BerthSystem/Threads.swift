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

/// Blocking work on its own thread: a transfer or an extraction that waits in `read` must not
/// hold one of the few threads Swift's cooperative pool has (two on this machine).
public enum Threads {
    /// Runs `body` on a new detached pthread.
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

    /// Runs blocking `body` on its own thread and awaits its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            detach { continuation.resume(with: Result { try body() }) }
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
