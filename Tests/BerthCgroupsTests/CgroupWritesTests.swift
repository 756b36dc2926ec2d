import Foundation
import Glibc
import Testing
@testable import BerthCgroups
@testable import BerthOCI
@testable import BerthSystem

/// What each manager writes where, against plain directories standing in for cgroupfs.
@Suite struct CgroupWritesTests {
    func tempDir() -> String { try! FileIO.makeTemporaryDirectory(prefix: "berth-cg-") }

    func resources(_ json: String) throws -> Spec.Resources {
        try JSONDecoder().decode(Spec.Resources.self, from: Data(json.utf8))
    }

    func read(_ path: String) -> String? { (try? FileIO.readString(path))?.trimmed }

    @Test func v2WritesConvertedValues() throws {
        let root = tempDir()
        defer { try? FileIO.removeTree(root) }
        try FileIO.write(root + "/cgroup.controllers", "cpu io memory pids cpuset hugetlb rdma", flags: O_WRONLY | O_CREAT)
        let m = V2CgroupManager(root: root, path: "/berth/c1")
        try m.create()
        #expect(read(root + "/cgroup.subtree_control") == "+cpu +io +memory +pids +cpuset +hugetlb +rdma")
        try m.apply(resources("""
            {"memory":{"limit":67108864,"reservation":33554432,"swap":100663296},
             "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1","mems":"0"},
             "pids":{"limit":42},"blockIO":{"weight":500},"unified":{"memory.high":"60000000"}}
            """))
        let dir = root + "/berth/c1"
        #expect(read(dir + "/memory.max") == "67108864")
        #expect(read(dir + "/memory.low") == "33554432")
        #expect(read(dir + "/memory.swap.max") == "33554432")  // memory+swap minus memory
        #expect(read(dir + "/cpu.weight") == "39")
        #expect(read(dir + "/cpu.max") == "50000 100000")
        #expect(read(dir + "/cpuset.cpus") == "0-1")
        #expect(read(dir + "/pids.max") == "42")
        #expect(read(dir + "/io.weight") == "default 4950")
        #expect(read(dir + "/memory.high") == "60000000")
    }

    @Test func v2UnlimitedValuesAndRefusals() throws {
        let root = tempDir()
        defer { try? FileIO.removeTree(root) }
        let m = V2CgroupManager(root: root, path: "/c")
        try m.create()
        try m.apply(resources(#"{"memory":{"limit":-1,"swap":-1},"cpu":{"quota":-1},"pids":{"limit":0}}"#))
        #expect(read(root + "/c/memory.max") == "max")
        #expect(read(root + "/c/memory.swap.max") == "max")
        #expect(read(root + "/c/cpu.max") == "max 100000")
        #expect(read(root + "/c/pids.max") == "max")
        // beyond the kernel's PID ceiling a limit cannot bind (and the kernel refuses to store it)
        try m.apply(resources(#"{"pids":{"limit":123250850}}"#))
        #expect(read(root + "/c/pids.max") == "max")
        try m.apply(resources(#"{"pids":{"limit":4194304}}"#))
        #expect(read(root + "/c/pids.max") == "4194304")
        #expect(throws: CgroupError.self) { try m.apply(resources(#"{"unified":{"../escape":"1"}}"#)) }
        #expect(throws: CgroupError.self) { try m.apply(resources(#"{"memory":{"disableOOMKiller":true}}"#)) }
    }

    @Test func weightConversionsMatchRuncAtTheEdges() {
        #expect(V2CgroupManager.weight(shares: 2) == 1)
        #expect(V2CgroupManager.weight(shares: 262_144) == 10_000)
        #expect(V2CgroupManager.weight(shares: 1) == 1)
        #expect(V2CgroupManager.ioWeight(blkio: 10) == 1)
        #expect(V2CgroupManager.ioWeight(blkio: 1000) == 10_000)
        #expect(V2CgroupManager.swapMax(swap: 100, limit: nil) == "100")
    }

    @Test func v1WritesEachControllerInItsHierarchy() throws {
        let root = tempDir()
        defer { try? FileIO.removeTree(root) }
        var hierarchies: [String: String] = [:]
        for name in ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"] {
            let point = name == "cpuacct" ? root + "/cpu" : root + "/" + name  // cpu,cpuacct co-mounted
            try FileIO.makeDirectories(point)
            hierarchies[name] = point
        }
        try FileIO.write(root + "/cpuset/cpuset.cpus", "0-1", flags: O_WRONLY | O_CREAT)
        try FileIO.write(root + "/cpuset/cpuset.mems", "0", flags: O_WRONLY | O_CREAT)
        let m = V1CgroupManager(hierarchies: hierarchies, path: "/berth/c1")
        try m.create()
        #expect(read(root + "/cpuset/berth/cpuset.cpus") == "0-1")  // inherited level by level
        #expect(read(root + "/cpuset/berth/c1/cpuset.mems") == "0")
        // Written only where the kernel offers them (swap accounting, CFQ): make them exist.
        try FileIO.write(root + "/memory/berth/c1/memory.memsw.limit_in_bytes", "", flags: O_WRONLY | O_CREAT)
        try FileIO.write(root + "/blkio/berth/c1/blkio.weight", "", flags: O_WRONLY | O_CREAT)
        try m.apply(resources("""
            {"memory":{"limit":67108864,"swap":134217728},"cpu":{"shares":512,"quota":20000,"period":100000},
             "pids":{"limit":7},"blockIO":{"weight":300},
             "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}
            """))
        #expect(read(root + "/memory/berth/c1/memory.limit_in_bytes") == "67108864")
        #expect(read(root + "/memory/berth/c1/memory.memsw.limit_in_bytes") == "134217728")
        #expect(read(root + "/cpu/berth/c1/cpu.shares") == "512")
        #expect(read(root + "/cpu/berth/c1/cpu.cfs_quota_us") == "20000")
        #expect(read(root + "/pids/berth/c1/pids.max") == "7")
        #expect(read(root + "/blkio/berth/c1/blkio.weight") == "300")
        #expect(read(root + "/devices/berth/c1/devices.allow") == "c 1:3 rw")
        #expect(m.directories.count == 7)  // cpu and cpuacct share one directory
        #expect(throws: CgroupError.self) { try m.apply(resources(#"{"unified":{"memory.high":"1"}}"#)) }
    }

    @Test func parsesV1HierarchiesFromMountinfo() {
        let mountinfo = """
        30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
        31 25 0:27 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
        35 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
        36 25 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory
        """
        let h = Cgroups.v1Hierarchies(mountinfo: mountinfo)
        #expect(h["cpu"] == "/sys/fs/cgroup/cpu,cpuacct" && h["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(h["memory"] == "/sys/fs/cgroup/memory")
        #expect(h["name=systemd"] == "/sys/fs/cgroup/systemd")
        #expect(h["cgroup2"] == nil && h["nsdelegate"] == nil)
    }

    @Test func normalizesPathsAndRefusesDotDot() throws {
        #expect(try Cgroups.normalize("berth//c1/") == "/berth/c1")
        #expect(throws: CgroupError.self) { try Cgroups.normalize("/berth/../../etc") }
    }

    @Test func deviceRuleLines() {
        #expect(DeviceRules.v1Line(.init(allow: false, access: "rwm")) == "a *:* rwm")
        #expect(DeviceRules.v1Line(.init(allow: true, type: "c", major: 136, minor: nil, access: "rwm")) == "c 136:* rwm")
        #expect(DeviceRules.v1Line(.init(allow: true, type: "b", major: 8, minor: -1)) == "b 8:* rwm")
    }

    /// Runs the program the way the kernel would for one access (type 1 block, 2 char; access bits m=1 r=2 w=4).
    func evaluate(_ program: [DeviceFilter.Instruction], type: Int32, access: Int32, major: Int32, minor: Int32) -> Int32 {
        var r = [Int32](repeating: 0, count: 11)
        let ctx = [type | access << 16, major, minor]
        var pc = 0
        while pc < program.count {
            let i = program[pc]
            let dst = Int(i.regs & 0xF), src = Int(i.regs >> 4)
            pc += 1
            switch i.code {
            case 0x61: r[dst] = ctx[Int(i.off) / 4]
            case 0x54: r[dst] &= i.imm
            case 0x74: r[dst] = Int32(bitPattern: UInt32(bitPattern: r[dst]) >> UInt32(i.imm))
            case 0xbc: r[dst] = r[src]
            case 0xb4: r[dst] = i.imm
            case 0x55: if r[dst] != i.imm { pc += Int(i.off) }
            case 0x95: return r[0]
            default: Issue.record("unexpected opcode \(i.code)"); return -1
            }
        }
        Issue.record("program fell off its end")
        return -1
    }

    @Test func deviceFilterDecidesLikeV1Rules() {
        let rules: [Spec.DeviceRule] = [
            .init(allow: false, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
            .init(allow: true, type: "c", major: 136, minor: nil, access: "rw"),
            .init(allow: true, type: "b", major: 8, minor: 0, access: "r"),
            .init(allow: false, type: "c", major: 136, minor: 5, access: "w"),
        ]
        let p = DeviceFilter.program(rules)
        #expect(evaluate(p, type: 2, access: 6, major: 1, minor: 3) == 1)  // /dev/null rw
        #expect(evaluate(p, type: 2, access: 2, major: 1, minor: 5) == 0)  // /dev/zero: not listed
        #expect(evaluate(p, type: 2, access: 4, major: 136, minor: 9) == 1)  // any pts, write
        #expect(evaluate(p, type: 2, access: 1, major: 136, minor: 9) == 0)  // mknod not granted
        #expect(evaluate(p, type: 2, access: 4, major: 136, minor: 5) == 0)  // later deny wins
        #expect(evaluate(p, type: 2, access: 2, major: 136, minor: 5) == 1)  // deny was for writes only
        #expect(evaluate(p, type: 1, access: 2, major: 8, minor: 0) == 1)
        #expect(evaluate(p, type: 1, access: 4, major: 8, minor: 0) == 0)
        #expect(evaluate(p, type: 2, access: 2, major: 8, minor: 0) == 0)  // char, not block
        #expect(unreachable(p).isEmpty)
        #expect(unreachable(DeviceFilter.program(Array(rules.dropFirst()))).isEmpty)
    }

    /// The instructions no path reaches: the kernel's verifier refuses such a program with EINVAL.
    func unreachable(_ program: [DeviceFilter.Instruction]) -> [Int] {
        var seen = Set<Int>(), work = [0]
        while let pc = work.popLast() {
            guard pc < program.count, seen.insert(pc).inserted else { continue }
            switch program[pc].code {
            case 0x95: continue
            case 0x55: work += [pc + 1, pc + 1 + Int(program[pc].off)]
            default: work.append(pc + 1)
            }
        }
        return (0..<program.count).filter { !seen.contains($0) }
    }
}
