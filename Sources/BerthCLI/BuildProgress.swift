import BerthSystem
import Glibc

/// `berth build` on a terminal, in BuildKit's manner: one line per step with its time (cached
/// steps marked), the running step's last lines of output under it, the whole view redrawn in
/// place; a failing step's output in full once the build stops. It reads the classic builder's
/// stream (`Step N/M : …`, ` ---> Using cache`, the step's output), so it needs nothing more
/// from berthd than the docker CLI does.
final class BuildProgress {
    struct Step {
        var title: String
        var started: Double
        var ended: Double?
        var cached = false
        var failed = false
        /// What the step printed (its RUN's output), kept whole up to `outputLimit`.
        var output: [UInt8] = []
    }

    static let shownLines = 6
    static let outputLimit = 1 << 20
    private(set) var steps: [Step] = []
    private var notes: [String] = []
    private let started: Double
    private var ended: Double?
    private var failed = false

    init(now: Double) { started = now }

    /// One message of the builder's stream.
    func consume(_ text: String, now: Double) {
        if text.hasPrefix("Step "), let colon = text.firstRange(of: " : ") {
            finishStep(now)
            let number = text[text.index(text.startIndex, offsetBy: 5)..<colon.lowerBound]
            steps.append(Step(title: "[\(number)] " + (text[colon.upperBound...].split(separator: "\n").first ?? ""), started: now))
            return
        }
        for line in text.split(separator: "\n") where line.hasPrefix("Successfully built ") || line.hasPrefix("Successfully tagged ") {
            notes.append(line.hasPrefix("Successfully built ") ? "writing image " + line.dropFirst(19) : "naming to " + line.dropFirst(20))
        }
        guard !steps.isEmpty else { return }
        if text.hasPrefix(" ---> Using cache") { steps[steps.count - 1].cached = true; return }
        if text.hasPrefix(" ---> ") || text.hasPrefix("Removing intermediate container ") || text.hasPrefix("Successfully ") { return }
        if steps[steps.count - 1].output.count < Self.outputLimit { steps[steps.count - 1].output += Array(text.utf8) }
    }

    /// The build ended: the running step with it (marked failed when the build failed).
    func finish(failed: Bool, now: Double) {
        if failed, !steps.isEmpty { steps[steps.count - 1].failed = true }
        finishStep(now)
        ended = now
        self.failed = failed
    }

    private func finishStep(_ now: Double) {
        if let last = steps.indices.last, steps[last].ended == nil { steps[last].ended = now }
    }

    /// The view as it stands, each line cut to `width`.
    func screen(now: Double, width: Int) -> [String] {
        let done = steps.filter { $0.ended != nil }.count
        let total = steps.last.flatMap { Self.total($0.title) } ?? steps.count
        var lines = ["[+] Building \(Self.seconds((ended ?? now) - started)) (\(done)/\(total))" + (ended == nil ? "" : failed ? " FAILED" : " FINISHED")]
        for step in steps {
            let label = (step.failed ? "ERROR " : step.cached ? "CACHED " : "") + step.title
            let time = Self.seconds(step.cached ? 0 : (step.ended ?? now) - step.started)
            lines.append(Self.fit(" => " + label, right: time, width: width))
            if step.ended == nil {
                for line in Self.lastLines(step.output, Self.shownLines) { lines.append(Self.cut(" => # " + line, width)) }
            }
        }
        if ended != nil, !failed { lines += notes.map { Self.cut(" => " + $0, width) } }
        return lines
    }

    /// The failed step's whole output, framed as BuildKit frames it.
    var failure: String? {
        guard let step = steps.last(where: \.failed) else { return nil }
        let output = String(decoding: step.output, as: UTF8.self)
        return "------\n > \(step.title):\n" + output + (output.hasSuffix("\n") || output.isEmpty ? "" : "\n") + "------\n"
    }

    static func total(_ title: String) -> Int? {
        guard let slash = title.firstIndex(of: "/"), let close = title.firstIndex(of: "]") else { return nil }
        return Int(title[title.index(after: slash)..<close])
    }

    static func seconds(_ value: Double) -> String {
        let tenths = Int((max(0, value) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)s"
    }

    /// The last `count` lines of a step's output, color codes and carriage returns taken out.
    static func lastLines(_ output: [UInt8], _ count: Int) -> [String] {
        var text = String(decoding: output.suffix(64 * 1024), as: UTF8.self)
        text = text.replacing("\u{1b}[91m", with: "").replacing("\u{1b}[0m", with: "").replacing("\r", with: "")
        return text.split(separator: "\n").suffix(count).map(String.init)
    }

    static func cut(_ line: String, _ width: Int) -> String { line.count < width ? line : String(line.prefix(max(0, width - 1))) }

    /// `left` and `right` on one line of `width`, `left` cut to make room.
    static func fit(_ left: String, right: String, width: Int) -> String {
        let room = max(0, width - 1 - right.count - 1)
        let shown = left.count > room ? String(left.prefix(max(0, room - 1))) + "…" : left
        return shown + String(repeating: " ", count: max(1, width - 1 - shown.count - right.count)) + right
    }
}

/// Draws a `BuildProgress` in place on the terminal: on each message and every 100 ms (the
/// running step's clock), from a thread of its own; everything under one lock.
final class BuildProgressView: @unchecked Sendable {
    private let lock = Lock()
    private let progress = BuildProgress(now: Monotonic.now())
    private var drawn = 0
    private var running = true

    init() {
        Threads.detach { [self] in
            while lock.locked({ running }) {
                lock.locked { draw() }
                usleep(100_000)
            }
        }
    }

    func consume(_ text: String) { lock.locked { progress.consume(text, now: Monotonic.now()); draw() } }

    /// The last draw; then the failed step's output in full, if a step failed.
    func finish(failed: Bool) {
        lock.locked {
            running = false
            progress.finish(failed: failed, now: Monotonic.now())
            draw()
            if let failure = progress.failure { write(failure) }
        }
    }

    private func draw() {
        let width = Int(Streams.terminalSize()?.1 ?? 80)
        let lines = progress.screen(now: Monotonic.now(), width: width)
        let up = drawn > 0 ? "\u{1b}[\(drawn)A" : ""
        write(up + lines.map { "\r\u{1b}[2K" + $0 + "\n" }.joined() + "\u{1b}[J")
        drawn = lines.count
    }

    private func write(_ text: String) { _ = try? FileIO.writeAll(1, Array(text.utf8)) }
}
