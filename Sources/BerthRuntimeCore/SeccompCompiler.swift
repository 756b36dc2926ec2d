import BerthOCI
import BerthSystem
import CBerthLinux
import CSeccomp
import FoundationEssentials
import Glibc

/// Turns a spec's seccomp section into a classic BPF program with libseccomp, in the parent,
/// before any fork: the child only installs ready bytes (one syscall), and every error surfaces
/// at `create` time. A profile is applied or refused; it is never ignored.
enum SeccompCompiler {
    /// Compiling Docker's default profile costs milliseconds per container start (it was
    /// crun's largest start cost until crun cached it): the program is kept in `cache`, keyed by
    /// the profile's JSON and libseccomp's version, and the stored JSON is compared in full
    /// before a cached program is used, so a hash collision can never pick the wrong filter.
    static func compile(_ profile: Spec.Seccomp, cache: String) throws -> [UInt8] {
        if let last, last.profile == profile { return last.program }
        let program = try compileCached(profile, cache: cache)
        last = (profile, program)
        return program
    }

    /// The last profile this process compiled or loaded, and its program: a shim forked from the
    /// template finds the one the template warmed up with (Docker's default, nearly always) by
    /// comparing values, without encoding the profile into the file cache's key (≈0.35 ms).
    nonisolated(unsafe) static var last: (profile: Spec.Seccomp, program: [UInt8])?

    private static func compileCached(_ profile: Spec.Seccomp, cache: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let version = seccomp_version().map { "\($0.pointee.major).\($0.pointee.minor).\($0.pointee.micro)" } ?? "?"
        // "tree": programs laid out as a binary search (below); a linear one stored before is not reused
        let key: [UInt8] = Array(try encoder.encode(profile)) + Array((version + " tree").utf8)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        let path = cache + "/" + String(hash, radix: 16)
        if let stored = try? FileIO.read(path), stored.count > 8 {
            let length = stored.prefix(8).reduce(0) { $0 << 8 | Int($1) }
            if length == key.count, stored.count >= 8 + length, Array(stored[8..<(8 + length)]) == key {
                return Array(stored[(8 + length)...])
            }
        }
        let program = try compile(profile)
        let header = (0..<8).reversed().map { UInt8(truncatingIfNeeded: key.count >> ($0 * 8)) }
        if (try? FileIO.makeDirectories(cache, mode: 0o700)) != nil {
            try? AtomicFile.write(path, header + key + program, mode: 0o600, durable: false)
        }
        return program
    }

    static func compile(_ profile: Spec.Seccomp) throws -> [UInt8] {
        if profile.listenerPath != nil && !(profile.listenerPath ?? "").isEmpty {
            throw RuntimeError.invalidConfig("seccomp: listenerPath (SCMP_ACT_NOTIFY) is not supported")
        }
        let defaultAction = try action(profile.defaultAction, errnoRet: profile.defaultErrnoRet)
        guard let ctx = seccomp_init(defaultAction) else {
            throw RuntimeError.invalidConfig("seccomp: cannot initialise a filter with default action \(profile.defaultAction)")
        }
        defer { seccomp_release(ctx) }
        // A binary search over the syscall numbers instead of libseccomp's default linear chain
        // (runc's and crun's): loading Docker's default profile (~1,000 instructions) took 1 ms of
        // every start, because the kernel runs the filter once per syscall number at load to
        // find the ones it may allow without running it (the seccomp action cache, Linux 5.11),
        // and every filtered syscall runs fewer instructions. libseccomp before 2.5 keeps the chain.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)

        for arch in profile.architectures ?? [] {
            let name = arch.hasPrefix("SCMP_ARCH_") ? String(arch.dropFirst(10)).lowercased() : arch.lowercased()
            let token = seccomp_arch_resolve_name(name)
            guard token != 0 else { throw RuntimeError.invalidConfig("seccomp: unknown architecture \(arch)") }
            let rc = seccomp_arch_add(ctx, token)
            if rc != 0 && rc != -EEXIST { throw RuntimeError.invalidConfig("seccomp: adding architecture \(arch): \(errnoText(-rc))") }
        }
        for flag in profile.flags ?? [] {
            switch flag {
            case "SECCOMP_FILTER_FLAG_LOG": _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1)
            case "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1)
            case "SECCOMP_FILTER_FLAG_TSYNC": continue  // the runtime is single-threaded
            default: throw RuntimeError.invalidConfig("seccomp: unknown flag \(flag)")
            }
        }
        for rule in profile.syscalls ?? [] {
            let act = try action(rule.action, errnoRet: rule.errnoRet)
            if act == defaultAction { continue }  // libseccomp refuses rules equal to the default
            let comparisons = try (rule.args ?? []).map(comparison)
            for name in rule.names {
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR { continue }  // unknown to this kernel/libseccomp: skipped as runc does
                let rc = comparisons.withUnsafeBufferPointer {
                    seccomp_rule_add_array(ctx, act, number, UInt32($0.count), $0.baseAddress)
                }
                if rc != 0 { throw RuntimeError.invalidConfig("seccomp: adding rule for \(name): \(errnoText(-rc))") }
            }
        }
        return try export(ctx)
    }

    static func export(_ ctx: scmp_filter_ctx) throws -> [UInt8] {
        let fd = try sys("memfd_create", "seccomp") { berth_memfd("berth-seccomp") }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        if rc != 0 { throw RuntimeError.invalidConfig("seccomp: exporting filter: \(errnoText(-rc))") }
        lseek(fd, 0, SEEK_SET)
        return try FileIO.readAll(fd, path: "seccomp filter")
    }

    /// SCMP_ACT_* values (seccomp.h macros Swift cannot import).
    static func action(_ name: String, errnoRet: UInt32?) throws -> UInt32 {
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0x0000_0000
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | ((errnoRet ?? UInt32(EPERM)) & 0xffff)
        case "SCMP_ACT_TRACE": return 0x7ff0_0000 | ((errnoRet ?? UInt32(EPERM)) & 0xffff)
        case "SCMP_ACT_LOG": return 0x7ffc_0000
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        case "SCMP_ACT_NOTIFY": throw RuntimeError.invalidConfig("seccomp: SCMP_ACT_NOTIFY is not supported")
        default: throw RuntimeError.invalidConfig("seccomp: unknown action \(name)")
        }
    }

    static func comparison(_ arg: Spec.SeccompArg) throws -> scmp_arg_cmp {
        let ops: [String: UInt32] = [
            "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
            "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
        ]
        guard let op = ops[arg.op] else { throw RuntimeError.invalidConfig("seccomp: unknown comparison \(arg.op)") }
        return scmp_arg_cmp(arg: arg.index, op: scmp_compare(rawValue: op), datum_a: arg.value, datum_b: arg.valueTwo ?? 0)
    }
}
