import BerthSystem
import Glibc

/// Reads and writes of cgroup control files, one value per write(2) as cgroupfs requires.
/// The only place that touches cgroupfs, so tests can point a manager at a plain directory.
enum CgroupFiles {
    static func write(_ dir: String, _ file: String, _ value: String) throws {
        try FileIO.write(dir + "/" + file, value, flags: O_WRONLY | O_CREAT | O_TRUNC)
    }

    /// `pids.max`'s value: a limit above the kernel's ceiling on PIDs (PID_MAX_LIMIT, 2^22)
    /// cannot bind and the kernel refuses to store it (EINVAL, a client's `--pids-limit` failing
    /// an update with 500), so it is written as what it means: no limit.
    static func pidsMax(_ limit: Int64) -> String {
        limit <= 0 || limit > 1 << 22 ? "max" : String(limit)
    }

    static func read(_ dir: String, _ file: String) -> String? {
        (try? FileIO.readString(dir + "/" + file))?.trimmed
    }

    static func exists(_ dir: String, _ file: String) -> Bool {
        FileIO.exists(dir + "/" + file)
    }

    static func pids(_ dir: String) throws -> [Int32] {
        try FileIO.readString(dir + "/cgroup.procs").split(separator: "\n").compactMap { Int32($0) }
    }

    /// rmdir with retries: a cgroup stays busy for a moment after its last process is reaped.
    /// Only the container's own: its parents stay, as runc and dockerd leave them (the kubelet's pod
    /// cgroups are the kubelet's; `/berth` would be made again, with its cpuset copied down, by the
    /// next container: 0.36 ms of each `run` when nothing else was running).
    static func remove(_ dir: String) throws {
        for attempt in 0..<100 {
            if rmdir(dir) == 0 || errno == ENOENT { return }
            guard errno == EBUSY, attempt < 99 else { throw SystemError("rmdir", dir) }
            usleep(10_000)
        }
    }

    /// A `-1`/nil-as-unlimited value in the spelling the file takes (v1 `-1`, v2 `max`).
    static func limit(_ value: Int64, unlimited: String) -> String {
        value < 0 ? unlimited : String(value)
    }

    /// The number after `name` in a flat-keyed file (`memory.events`, `cgroup.events`, `oom_control`).
    static func keyedValue(named name: String, in text: String) -> Int {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Int(parts[1]) ?? 0 }
        }
        return 0
    }
}
