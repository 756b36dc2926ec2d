import Glibc

/// Facts about a host process read from /proc, used to tell a live container init from a
/// recycled PID (the start time in clock ticks is stable for a process's whole life).
public enum ProcessStatus {
    /// A waitpid status as a shell reports it: the exit code, or 128 + the killing signal.
    public static func exitCode(waitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Field 22 of /proc/PID/stat, or nil when the process is gone.
    public static func startTime(_ pid: Int32) -> UInt64? {
        guard let text = try? FileIO.readString("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After "pid (comm)" come: state(0) ppid(1) ... starttime is field 22 overall → index 19.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Process state letter (R, S, D, Z, T…), nil when gone.
    public static func state(_ pid: Int32) -> Character? {
        guard let text = try? FileIO.readString("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first?.first
    }

    /// True when `pid` still names the process that started at `startTime` and is not a zombie.
    public static func isAlive(_ pid: Int32, startTime: UInt64?) -> Bool {
        guard pid > 0, let now = self.startTime(pid) else { return false }
        if let startTime, startTime != now { return false }
        return state(pid) != "Z"
    }
}
