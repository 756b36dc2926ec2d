import BerthAPI
import BerthCgroups
import BerthSystem
import Glibc
import Testing
@testable import BerthEngine

/// dockerd's warnings and refusals for resource settings, for a v1 host with every controller file
/// and for a cgroup v2 host (whose answers dockerd 20.10's pkg/sysinfo gives).
@Suite struct ResourceChecksTests {
    var v1: CgroupFeatures {
        var f = CgroupFeatures()
        f.memoryLimit = true; f.swapLimit = true; f.memoryReservation = true; f.oomKillDisable = true
        f.memorySwappiness = true; f.kernelMemory = true; f.pidsLimit = true; f.cpuShares = true; f.cpuCfs = true
        f.cpuset = true; f.blkioWeight = true; f.blkioWeightDevice = true; f.blkioThrottle = true
        return f
    }

    var v2: CgroupFeatures {
        var f = v1
        f.unified = true; f.oomKillDisable = false; f.memorySwappiness = false; f.kernelMemory = false
        return f
    }

    func verify(_ h: inout HostConfig, _ f: CgroupFeatures, update: Bool = false) throws -> [String] {
        try ResourceChecks.verify(&h, features: f, cpus: 2, update: update)
    }

    @Test func v2DiscardsWhatItCannotDoWithDockerdsWarnings() throws {
        var h = HostConfig()
        h.Memory = 32 << 20; h.MemorySwappiness = 60; h.OomKillDisable = true; h.KernelMemory = 16 << 20
        let warnings = try verify(&h, v2)
        #expect(warnings == [
            "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.",
            "Specifying a kernel memory limit is deprecated and will be removed in a future release.",
            "Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
            "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
        ])
        #expect(h.MemorySwappiness == nil && h.OomKillDisable == nil && h.KernelMemory == 0 && h.Memory == 32 << 20)
        // Out of range, but discarded first on v2, as dockerd does: a warning, not an error.
        var odd = HostConfig()
        odd.MemorySwappiness = 200
        #expect(try verify(&odd, v2).count == 1)
        #expect(throws: EngineError.self) {
            var h = HostConfig()
            h.MemorySwappiness = 200
            _ = try verify(&h, v1)
        }
    }

    @Test func v1KeepsThemAndWarnsOnlyAboutRisk() throws {
        var h = HostConfig()
        h.MemorySwappiness = 60; h.OomKillDisable = true
        #expect(try verify(&h, v1) == ["OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."])
        #expect(h.MemorySwappiness == 60 && h.OomKillDisable == true)
        var off = HostConfig()
        off.OomKillDisable = false
        #expect(try verify(&off, v2).isEmpty && off.OomKillDisable == nil)
    }

    @Test func missingSwapAccountingLimitsMemoryWithoutSwap() throws {
        var f = v1
        f.swapLimit = false
        var h = HostConfig()
        h.Memory = 32 << 20
        #expect(try verify(&h, f) == ["Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."])
        #expect(h.MemorySwap == -1)
    }

    @Test func refusalsInDockersWords() {
        func refused(_ change: (inout HostConfig) -> Void, update: Bool = false) -> String? {
            var h = HostConfig()
            change(&h)
            do { _ = try verify(&h, v1, update: update); return nil } catch { return "\(error)" }
        }
        #expect(refused { $0.Memory = 1 << 20 }?.contains("Minimum memory limit allowed is 6MB") == true)
        #expect(refused { $0.MemorySwap = 64 << 20 }?.contains("always set the Memory limit") == true)
        #expect(refused({ $0.MemorySwap = 64 << 20 }, update: true) == nil)
        #expect(refused { $0.NanoCpus = 1_000_000_000; $0.CpuQuota = 50000 }?.contains("Nano CPUs and CPU Quota") == true)
        #expect(refused { $0.NanoCpus = 1_000_000_000; $0.CpuPeriod = 50000 }?.contains("Nano CPUs and CPU Period") == true)
        #expect(refused { $0.NanoCpus = 3_000_000_000 }?.contains("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available") == true)
        #expect(refused { $0.CpuPeriod = 500 }?.contains("CPU cfs period can not be less than 1ms") == true)
        #expect(refused { $0.BlkioWeight = 5 }?.contains("Range of blkio weight is from 10 to 1000") == true)
        #expect(refused { $0.IOMaximumIOps = 5 }?.contains("Invalid QoS settings") == true)
        #expect(refused { $0.NanoCpus = Int64.max } != nil)
    }

    @Test func defaultSwapNeverOverflows() {
        #expect(SpecBuilder.defaultSwap(32 << 20) == 64 << 20)
        #expect(SpecBuilder.defaultSwap(Int64.max / 2 + 1) == -1)  // a client's absurd -m: unlimited, not a trap
    }

    @Test func featuresOfAV2Hierarchy() throws {
        let root = try FileIO.makeTemporaryDirectory()
        defer { try? FileIO.removeTree(root) }
        let create = O_WRONLY | O_CREAT | O_TRUNC
        try FileIO.write(root + "/cgroup.controllers", "cpuset cpu io memory pids\n", flags: create)
        try FileIO.makeDirectories(root + "/system.slice")
        try FileIO.write(root + "/system.slice/memory.swap.max", "max\n", flags: create)
        let f = CgroupFeatures.v2(root: root, ownGroup: "/")
        #expect(f.unified && f.memoryLimit && f.swapLimit && f.cpuCfs && f.blkioWeight && f.pidsLimit)
        #expect(!f.memorySwappiness && !f.oomKillDisable && !f.kernelMemory)
        #expect(!CgroupFeatures.v2(root: root, ownGroup: "/elsewhere").swapLimit)
    }
}
