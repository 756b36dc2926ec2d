/// A container's output cut into log lines, per stream: at each newline, and at 16 KiB for a line
/// that goes on (Docker's and the kubelet's limit), the rest kept until more output or the exit.
struct LogLines {
    static let maxLine = 16 * 1024
    private var partial: [String: [UInt8]] = [:]

    /// Hands each line to `emit` with whether it ended in a newline (which `line` includes).
    mutating func add(_ bytes: ArraySlice<UInt8>, stream: String, _ emit: (ArraySlice<UInt8>, Bool) -> Void) {
        var pending = partial[stream, default: []] + bytes
        var start = 0
        for i in pending.indices where pending[i] == 10 || i - start + 1 >= Self.maxLine {
            emit(pending[start...i], pending[i] == 10)
            start = i + 1
        }
        pending.removeFirst(start)
        partial[stream] = pending
    }

    /// What is left of unterminated lines (at exit), each with its stream.
    mutating func drain(_ emit: (ArraySlice<UInt8>, String) -> Void) {
        for (stream, pending) in partial where !pending.isEmpty { emit(pending[...], stream) }
        partial = [:]
    }
}
