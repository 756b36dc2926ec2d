import BerthOCI
import FoundationEssentials

/// What berthd tells a shim when it starts it (written as JSON next to the bundle).
public struct ShimConfig: Codable, Sendable {
    public var id: String
    public var bundle: String
    /// The OCI runtime's state root.
    public var runtimeRoot: String
    /// The shim's unix socket.
    public var socket: String
    /// The log (json-file or local format), rotated at `logMaxSize` bytes keeping `logMaxFiles`
    /// files (0: never rotate); empty for the `none` driver.
    public var logPath: String
    public var logMaxSize: Int64
    public var logMaxFiles: Int
    /// Where the exit status is written when the container ends.
    public var exitFile: String
    public var tty: Bool
    public var openStdin: Bool
    /// Close the container's stdin when the first attached client closes its stdin (`docker run -i`).
    public var stdinOnce: Bool
    /// A second log in the kubelet's format, for a CRI container (nil otherwise).
    public var criLogPath: String?
    /// The `attrs` of every json-file entry (the `labels`/`env` log options' picks; nil for none).
    public var logAttributes: [String: String]?
    /// `local` for the local driver's format (nil: json-file), and whether its rotations are gzipped.
    public var logFormat: String?
    public var logCompress: Bool?

    public init(id: String, bundle: String, runtimeRoot: String, socket: String, logPath: String, logMaxSize: Int64,
                logMaxFiles: Int, exitFile: String, tty: Bool, openStdin: Bool, stdinOnce: Bool, criLogPath: String? = nil,
                logAttributes: [String: String]? = nil, logFormat: String? = nil, logCompress: Bool? = nil) {
        self.id = id; self.bundle = bundle; self.runtimeRoot = runtimeRoot; self.socket = socket; self.logPath = logPath
        self.logMaxSize = logMaxSize; self.logMaxFiles = logMaxFiles; self.exitFile = exitFile; self.tty = tty
        self.openStdin = openStdin; self.stdinOnce = stdinOnce; self.criLogPath = criLogPath; self.logAttributes = logAttributes
        self.logFormat = logFormat; self.logCompress = logCompress
    }
}

/// One request on a fresh connection to the shim: a JSON line. `attach` and `exec` then turn the
/// connection into a stream: frames from the shim, raw stdin bytes to it. The shim is the only
/// writer of its container's runtime state: every task operation berthd has goes through here.
public struct ShimRequest: Codable, Sendable {
    public enum Op: String, Codable, Sendable { case start, state, kill, pause, resume, pids, update, resize, attach, exec, wait, reopenLog, syncLog }
    public var op: Op
    public var signal: Int32?
    public var all: Bool?
    public var width: UInt16?
    public var height: UInt16?
    public var stdin: Bool?
    public var stdout: Bool?
    public var stderr: Bool?
    /// For exec and for resizing an exec's pty.
    public var execID: String?
    public var process: Spec.Process?
    /// For `update`: the container's new limits, written into its cgroup.
    public var resources: Spec.Resources?

    public init(op: Op) { self.op = op }
}

/// The one-line JSON answer to every request (the first line of a stream).
public struct ShimReply: Codable, Sendable {
    public var error: String?
    /// Set when the error is a refusal rather than a failure, so the engine answers 4xx.
    public var refusal: Refusal?
    public var pid: Int32?
    public var exit: ExitStatus?
    /// For `pids`: every process in the container's cgroup.
    public var pids: [Int32]?
    public init(error: String? = nil, refusal: Refusal? = nil, pid: Int32? = nil, exit: ExitStatus? = nil, pids: [Int32]? = nil) {
        self.error = error; self.refusal = refusal; self.pid = pid; self.exit = exit; self.pids = pids
    }

    public enum Refusal: String, Codable, Sendable {
        /// The container's state ("container not running": its init exited before the engine
        /// heard of it): 409, as dockerd answers.
        case state
        /// A value the kernel will not take (EINVAL writing a cgroup file in an update): 400.
        case value
    }
}

/// How a container (or an exec) ended.
public struct ExitStatus: Codable, Equatable, Sendable {
    public var exitCode: Int32
    public var oomKilled: Bool
    public var finishedAt: String
    public init(exitCode: Int32, oomKilled: Bool, finishedAt: String) {
        self.exitCode = exitCode; self.oomKilled = oomKilled; self.finishedAt = finishedAt
    }
}

/// Stream frames, Docker's own multiplexing header (stdcopy): 1 byte stream, 3 zero bytes,
/// 4-byte big-endian length. The shim adds one stream of its own, `exit`, carrying an
/// ExitStatus as the last frame of an exec.
public enum Frame {
    public static let stdout: UInt8 = 1
    public static let stderr: UInt8 = 2
    public static let exit: UInt8 = 0xfe

    public static func header(stream: UInt8, length: Int) -> [UInt8] {
        [stream, 0, 0, 0, UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
    }

    /// Splits complete frames off the front of `buffer`.
    public static func parse(_ buffer: inout [UInt8]) -> [(UInt8, [UInt8])] {
        var out: [(UInt8, [UInt8])] = []
        while buffer.count >= 8 {
            let length = Int(buffer[4]) << 24 | Int(buffer[5]) << 16 | Int(buffer[6]) << 8 | Int(buffer[7])
            guard buffer.count >= 8 + length else { break }
            out.append((buffer[0], Array(buffer[8..<(8 + length)])))
            buffer.removeFirst(8 + length)
        }
        return out
    }
}
