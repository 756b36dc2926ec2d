/// `GET /containers/{id}/stats`, as moby's `StatsResponse` (snake_case keys).
public struct ContainerStats: Codable, Sendable {
    public var read: String = "0001-01-01T00:00:00Z"
    public var preread: String = "0001-01-01T00:00:00Z"
    public var pids_stats = PidsStats()
    public var blkio_stats = BlkioStats()
    public var num_procs: Int = 0
    public var storage_stats = EmptyJSON()
    public var cpu_stats = CPUStats()
    public var precpu_stats = CPUStats()
    public var memory_stats = MemoryStats()
    public var name: String = ""
    public var id: String = ""
    /// Per interface of the container's network namespace; absent without one (`--network none`
    /// has only `lo`, which Docker leaves out too).
    public var networks: [String: NetworkStats]?
    public init() {}

    public struct NetworkStats: Codable, Sendable, Equatable {
        public var rx_bytes: UInt64 = 0
        public var rx_packets: UInt64 = 0
        public var rx_errors: UInt64 = 0
        public var rx_dropped: UInt64 = 0
        public var tx_bytes: UInt64 = 0
        public var tx_packets: UInt64 = 0
        public var tx_errors: UInt64 = 0
        public var tx_dropped: UInt64 = 0
        public init() {}

        /// `/proc/<pid>/net/dev` of a process in the namespace, `lo` left out as Docker does.
        public static func parse(procNetDev text: String) -> [String: NetworkStats] {
            var out: [String: NetworkStats] = [:]
            for line in text.split(separator: "\n").dropFirst(2) {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = String(line[..<colon].drop { $0 == " " })
                let f = line[line.index(after: colon)...].split(separator: " ").compactMap { UInt64($0) }
                guard name != "lo", f.count >= 12 else { continue }
                var s = NetworkStats()
                s.rx_bytes = f[0]; s.rx_packets = f[1]; s.rx_errors = f[2]; s.rx_dropped = f[3]
                s.tx_bytes = f[8]; s.tx_packets = f[9]; s.tx_errors = f[10]; s.tx_dropped = f[11]
                out[name] = s
            }
            return out
        }
    }

    public struct PidsStats: Codable, Sendable {
        public var current: UInt64?
        public var limit: UInt64?
        public init() {}
    }

    public struct BlkioEntry: Codable, Sendable {
        public var major: UInt32
        public var minor: UInt32
        public var op: String
        public var value: UInt64
        public init(major: UInt32, minor: UInt32, op: String, value: UInt64) {
            self.major = major; self.minor = minor; self.op = op; self.value = value
        }
    }

    public struct BlkioStats: Codable, Sendable {
        public var io_service_bytes_recursive: [BlkioEntry]?
        public var io_serviced_recursive: [BlkioEntry]?
        public var io_queue_recursive: [BlkioEntry]?
        public var io_service_time_recursive: [BlkioEntry]?
        public var io_wait_time_recursive: [BlkioEntry]?
        public var io_merged_recursive: [BlkioEntry]?
        public var io_time_recursive: [BlkioEntry]?
        public var sectors_recursive: [BlkioEntry]?
        public init() {}
    }

    public struct CPUUsage: Codable, Sendable {
        public var total_usage: UInt64 = 0
        public var percpu_usage: [UInt64]?
        public var usage_in_kernelmode: UInt64 = 0
        public var usage_in_usermode: UInt64 = 0
        public init() {}
    }

    public struct Throttling: Codable, Sendable {
        public var periods: UInt64 = 0
        public var throttled_periods: UInt64 = 0
        public var throttled_time: UInt64 = 0
        public init() {}
    }

    public struct CPUStats: Codable, Sendable {
        public var cpu_usage = CPUUsage()
        public var system_cpu_usage: UInt64?
        public var online_cpus: Int?
        public var throttling_data = Throttling()
        public init() {}
    }

    public struct MemoryStats: Codable, Sendable {
        public var usage: UInt64?
        public var max_usage: UInt64?
        public var stats: [String: UInt64]?
        public var limit: UInt64?
        public init() {}
    }
}
