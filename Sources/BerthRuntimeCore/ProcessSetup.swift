import BerthOCI
import BerthSystem
import CBerthLinux
import Glibc

/// The last steps before execve, shared by a container's init and `exec`: limits, identity,
/// capabilities, seccomp, then the program. Runs in a single-threaded child, inside the
/// container's root, after all namespace work.
struct ProcessSetup {
    let process: Spec.Process
    let seccomp: [UInt8]?
    /// True when the process is in a user namespace whose /proc/PID/setgroups says deny.
    let setgroupsDenied: Bool

    /// The resolved program and C arrays, built before privileges drop (allocation only).
    struct Prepared {
        let path: String
        let argv: [UnsafeMutablePointer<CChar>?]
        let envp: [UnsafeMutablePointer<CChar>?]
    }

    /// Resolves the executable in the container's PATH and builds argv/envp. Fails like a shell:
    /// 127 when missing, 126 when not executable, with runc's message.
    func prepare() throws -> Prepared {
        guard let args = process.args, let program = args.first, !program.isEmpty else {
            throw RuntimeError.invalidConfig("args must not be empty")
        }
        var env = process.env ?? []
        if !env.contains(where: { $0.hasPrefix("HOME=") }) {
            env.append("HOME=" + Self.home(uid: process.user.uid))
        }
        let path = try Self.lookPath(program, env: env)
        return Prepared(path: path, argv: args.map { strdup($0) } + [nil], envp: env.map { strdup($0) } + [nil])
    }

    static func lookPath(_ program: String, env: [String]) throws -> String {
        func check(_ candidate: String) -> Int32? {
            var st = stat()
            guard stat(candidate, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else { return ENOENT }
            return access(candidate, X_OK) == 0 ? nil : EACCES
        }
        if program.contains("/") {
            switch check(program) {
            case nil: return program
            case EACCES?: throw RuntimeError.exec(code: 126, message: "exec: \"\(program)\": permission denied")
            default: throw RuntimeError.exec(code: 127, message: "exec: \"\(program)\": stat \(program): no such file or directory")
            }
        }
        let pathVar = env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        var denied = false
        for dir in pathVar.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
            switch check(candidate) {
            case nil: return candidate
            case EACCES?: denied = true
            default: continue
            }
        }
        if denied { throw RuntimeError.exec(code: 126, message: "exec: \"\(program)\": permission denied") }
        throw RuntimeError.exec(code: 127, message: "exec: \"\(program)\": executable file not found in $PATH")
    }

    /// HOME from the container's /etc/passwd, "/" when absent (as runc and docker do).
    static func home(uid: UInt32) -> String {
        guard let text = try? FileIO.readString("/etc/passwd") else { return "/" }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count >= 6, UInt32(f[2]) == uid, !f[5].isEmpty { return String(f[5]) }
        }
        return "/"
    }

    static let rlimitNumbers: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
        "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
        "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
        "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]

    /// Checks done in the parent so bad input fails `create` before anything is made.
    static func validate(_ process: Spec.Process) throws {
        for limit in process.rlimits ?? [] where rlimitNumbers[limit.type] == nil {
            throw RuntimeError.invalidConfig("invalid rlimit type: \(limit.type)")
        }
        let unknown = Capability.unknown(process.capabilities?.all)
        if !unknown.isEmpty { throw RuntimeError.invalidConfig("unknown capability \"\(unknown[0])\"") }
        if (process.args ?? []).isEmpty { throw RuntimeError.invalidConfig("args must not be empty") }
        if !process.cwd.hasPrefix("/") { throw RuntimeError.invalidConfig("cwd property must be an absolute path") }
    }

    /// Written by the runtime for the child, not by the child: a non-dumpable process in a user
    /// namespace does not own its /proc files. The value survives the child's execve.
    static func setOOMScoreAdj(_ process: Spec.Process, pid: Int32) throws {
        if let adj = process.oomScoreAdj { try FileIO.write("/proc/\(pid)/oom_score_adj", String(adj)) }
    }

    /// Applies everything and execs. Returns only by throwing.
    func finalize(_ prepared: Prepared) throws -> Never {
        for limit in process.rlimits ?? [] {
            let resource = Self.rlimitNumbers[limit.type]!
            try sys("setrlimit", limit.type) { berth_setrlimit(resource, limit.soft, limit.hard) }
        }
        if chdir(process.cwd) != 0 {
            throw RuntimeError.other("chdir to cwd (\"\(process.cwd)\") set in config.json failed: \(errnoText(errno))")
        }
        let nnp = process.noNewPrivileges == true
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: install it before dropping.
        if !nnp { try installSeccomp() }
        try setIdentityAndCapabilities()
        if let mask = process.user.umask { umask(mode_t(mask)) }
        if nnp {
            try sys("prctl", "PR_SET_NO_NEW_PRIVS") { berth_prctl(38, 1, 0, 0, 0) }
            try installSeccomp()
        }
        _ = berth_close_range_cloexec(3)
        _ = berth_unblock_all_signals()
        prepared.argv.withUnsafeBufferPointer { argv in
            prepared.envp.withUnsafeBufferPointer { envp in
                _ = berth_execve(prepared.path, argv.baseAddress!, envp.baseAddress!)
            }
        }
        let code: Int32 = errno == EACCES ? 126 : 127
        throw RuntimeError.exec(code: code, message: "exec \(prepared.path): \(errnoText(errno))")
    }

    func installSeccomp() throws {
        guard let seccomp, !seccomp.isEmpty else { return }
        _ = try seccomp.withUnsafeBytes { raw in
            try sys("seccomp", "set filter") { berth_seccomp_set_filter(raw.baseAddress, UInt16(seccomp.count / 8), 0) }
        }
    }

    /// setgroups/setgid/setuid while keeping capabilities, then the five capability sets.
    func setIdentityAndCapabilities() throws {
        let lastCap = Capability.lastCap()
        let caps = process.capabilities
        let bounding = Capability.mask(caps?.bounding, lastCap: lastCap)
        for cap in 0...lastCap where bounding & (1 << UInt64(cap)) == 0 {
            try sys("prctl", "PR_CAPBSET_DROP \(Capability.names[safe: cap] ?? String(cap))") { berth_prctl(24, UInt(cap), 0, 0, 0) }
        }
        let user = process.user
        if !setgroupsDenied {
            let groups = (user.additionalGids ?? []).map { gid_t($0) }
            try sys("setgroups") { groups.withUnsafeBufferPointer { berth_setgroups($0.count, $0.baseAddress) } }
        }
        try sys("prctl", "PR_SET_KEEPCAPS") { berth_prctl(8, 1, 0, 0, 0) }
        try sys("setresgid", String(user.gid)) { berth_setresgid(user.gid, user.gid, user.gid) }
        try sys("setresuid", String(user.uid)) { berth_setresuid(user.uid, user.uid, user.uid) }
        _ = berth_prctl(8, 0, 0, 0, 0)
        try sys("capset") {
            berth_capset(Capability.mask(caps?.effective, lastCap: lastCap),
                         Capability.mask(caps?.permitted, lastCap: lastCap),
                         Capability.mask(caps?.inheritable, lastCap: lastCap))
        }
        _ = berth_prctl(47, 4, 0, 0, 0)  // PR_CAP_AMBIENT_CLEAR_ALL
        // The kernel raises an ambient capability only if it is permitted and inheritable;
        // runc's default spec lists ambient caps without inheritable ones, so skip the rest.
        let ambient = Capability.mask(caps?.ambient, lastCap: lastCap)
            & Capability.mask(caps?.permitted, lastCap: lastCap) & Capability.mask(caps?.inheritable, lastCap: lastCap)
        for cap in 0...lastCap where ambient & (1 << UInt64(cap)) != 0 {
            try sys("prctl", "PR_CAP_AMBIENT_RAISE \(Capability.names[cap])") { berth_prctl(47, 2, UInt(cap), 0, 0) }
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
