import Logging

extension Logger {
    /// Runs clean-up or bookkeeping whose failure must not fail the operation at hand but which
    /// an operator must hear about: a record not saved comes back stale after a restart, a mount
    /// or directory left behind fills the disk. `what` names the step ("removing volume x").
    public func attempt(_ what: @autoclosure () -> String, _ body: () throws -> Void) {
        do { try body() } catch { warning("\(what()): \(error)") }
    }

    public func attempt(_ what: @autoclosure () -> String, _ body: () async throws -> Void) async {
        do { try await body() } catch { warning("\(what()): \(error)") }
    }
}
