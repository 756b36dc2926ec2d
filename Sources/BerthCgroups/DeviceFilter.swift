import BerthOCI
import BerthSystem
import CBerthLinux
import Glibc

/// cgroup v2 device control: an eBPF program of type CGROUP_DEVICE attached to the container's
/// cgroup. The rules are evaluated last-to-first, the first match decides, and no match denies:
/// the same outcome as writing them to v1's devices.allow/deny in order after a deny-all.
public enum DeviceFilter {
    /// struct bpf_insn, 8 bytes.
    public struct Instruction: Equatable, Sendable {
        public var code: UInt8
        public var regs: UInt8  // dst in the low nibble, src in the high
        public var off: Int16
        public var imm: Int32
    }

    static func ldxw(_ dst: UInt8, _ src: UInt8, _ off: Int16) -> Instruction { .init(code: 0x61, regs: dst | src << 4, off: off, imm: 0) }
    static func andImm(_ dst: UInt8, _ imm: Int32) -> Instruction { .init(code: 0x54, regs: dst, off: 0, imm: imm) }
    static func rshImm(_ dst: UInt8, _ imm: Int32) -> Instruction { .init(code: 0x74, regs: dst, off: 0, imm: imm) }
    static func movReg(_ dst: UInt8, _ src: UInt8) -> Instruction { .init(code: 0xbc, regs: dst | src << 4, off: 0, imm: 0) }
    static func movImm(_ dst: UInt8, _ imm: Int32) -> Instruction { .init(code: 0xb4, regs: dst, off: 0, imm: imm) }
    static func jneImm(_ dst: UInt8, _ imm: Int32, _ off: Int16) -> Instruction { .init(code: 0x55, regs: dst, off: off, imm: imm) }
    static let exit = Instruction(code: 0x95, regs: 0, off: 0, imm: 0)

    /// Compiles `rules` (OCI order) into the program. A rule that matches every access ends it:
    /// the verifier refuses a program with unreachable instructions (EINVAL), and Docker's rule
    /// list starts with exactly such a rule, a deny of `a *:* rwm`.
    public static func program(_ rules: [Spec.DeviceRule]) -> [Instruction] {
        // R2 = type, R3 = access, R4 = major, R5 = minor (struct bpf_cgroup_dev_ctx).
        var out: [Instruction] = [ldxw(2, 1, 0), andImm(2, 0xFFFF), ldxw(3, 1, 0), rshImm(3, 16), ldxw(4, 1, 4), ldxw(5, 1, 8)]
        for rule in rules.reversed() {
            var checks: [(Int16) -> [Instruction]] = []
            switch rule.type ?? "a" {
            case "b": checks.append { [jneImm(2, 1, $0)] }
            case "c": checks.append { [jneImm(2, 2, $0)] }
            default: break
            }
            let access = accessBits(rule.access ?? "rwm")
            if access != 7 {
                // Skip unless every requested bit is in the rule: (R3 & ~access) == 0.
                checks.append { [movReg(1, 3), andImm(1, Int32(~access & 7)), jneImm(1, 0, $0)] }
            }
            if let major = rule.major, major >= 0 { checks.append { [jneImm(4, Int32(major), $0)] } }
            if let minor = rule.minor, minor >= 0 { checks.append { [jneImm(5, Int32(minor), $0)] } }
            // Lay out the checks with jump offsets to just past this rule's two-instruction verdict.
            let sizes = checks.map { $0(0).count }
            var remaining = sizes.reduce(0, +)
            for (check, size) in zip(checks, sizes) {
                remaining -= size
                let block = check(Int16(remaining + 2))
                // Only the last instruction of a block jumps; its offset counts from after itself.
                out += block
            }
            out += [movImm(0, rule.allow ? 1 : 0), exit]
            if checks.isEmpty { return out }
        }
        out += [movImm(0, 0), exit]
        return out
    }

    static func accessBits(_ access: String) -> UInt32 {
        var bits: UInt32 = 0
        if access.contains("m") { bits |= 1 }
        if access.contains("r") { bits |= 2 }
        if access.contains("w") { bits |= 4 }
        return bits
    }

    static func attach(rules: [Spec.DeviceRule], cgroup: String) throws {
        let insns = program(rules)
        let fd = try sys("open", cgroup) { open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        var log = [CChar](repeating: 0, count: 4096)
        let rc = insns.withUnsafeBytes { raw in
            berth_bpf_attach_device_filter(fd, raw.baseAddress, UInt32(insns.count), &log, UInt32(log.count))
        }
        let code = errno
        switch rc {
        case 0: return
        case -1:
            // The verifier's last lines say which instruction it refused and why.
            let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let tail = verifier.split(separator: "\n").suffix(3).joined(separator: "; ")
            throw SystemError("bpf(BPF_PROG_LOAD) device filter (\(insns.count) instructions\(tail.isEmpty ? "" : ": " + tail))", cgroup, errno: code)
        default: throw SystemError("bpf(BPF_PROG_ATTACH) device filter", cgroup, errno: code)
        }
    }
}
