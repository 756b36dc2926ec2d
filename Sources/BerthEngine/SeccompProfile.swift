import BerthOCI
import BerthSystem
import FoundationEssentials
import Glibc

/// Docker's seccomp profile format (what `--security-opt seccomp=<file>` sends, and the shape of
/// the default): rules that apply only with or without some capabilities, on some architectures,
/// resolved into one OCI filter for one container's capability set.
struct SeccompProfile: Codable, Sendable {
    struct ArchMap: Codable, Sendable { var architecture: String; var subArchitectures: [String]? }
    struct Filter: Codable, Sendable { var caps: [String]?; var arches: [String]?; var minKernel: String? }
    struct Rule: Codable, Sendable {
        var names: [String]?
        var name: String?
        var action: String
        var errnoRet: UInt32?
        var args: [Spec.SeccompArg]?
        var includes: Filter?
        var excludes: Filter?
    }

    var defaultAction: String
    var defaultErrnoRet: UInt32?
    var architectures: [String]?
    var archMap: [ArchMap]?
    var syscalls: [Rule]?

    /// The host as Docker's profiles name it (`amd64`, `arm64`…), and its seccomp architectures.
    static var hostArch: String {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return ["x86_64": "amd64", "aarch64": "arm64", "i686": "x86", "armv7l": "arm", "s390x": "s390x", "ppc64le": "ppc64le",
                "riscv64": "riscv64"][machine] ?? machine
    }

    static let scmpArch = ["amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "x86": "SCMP_ARCH_X86", "arm": "SCMP_ARCH_ARM",
                           "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64"]

    static func kernelAtLeast(_ version: String) -> Bool {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        func parts(_ s: String) -> [Int] { s.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) } }
        return parts(release).lexicographicallyPrecedes(parts(version)) == false
    }

    /// The OCI filter for a container with `capabilities` (`CAP_…` names) on this host.
    func resolve(capabilities: [String]) -> Spec.Seccomp {
        let arch = Self.hostArch
        let caps = Set(capabilities)
        var architectures = architectures ?? []
        if let native = Self.scmpArch[arch], let entry = archMap?.first(where: { $0.architecture == native }) {
            architectures = [entry.architecture] + (entry.subArchitectures ?? [])
        }
        var rules: [Spec.SeccompRule] = []
        for rule in syscalls ?? [] {
            if let inc = rule.includes {
                if let a = inc.arches, !a.contains(arch) { continue }
                if let c = inc.caps, !c.allSatisfy(caps.contains) { continue }
                if let k = inc.minKernel, !Self.kernelAtLeast(k) { continue }
            }
            if let exc = rule.excludes {
                if let a = exc.arches, a.contains(arch) { continue }
                if let c = exc.caps, c.contains(where: caps.contains) { continue }
            }
            let names = rule.names ?? rule.name.map { [$0] } ?? []
            rules.append(Spec.SeccompRule(names: names, action: rule.action, errnoRet: rule.errnoRet, args: rule.args))
        }
        return Spec.Seccomp(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: architectures, syscalls: rules)
    }

    /// `--security-opt seccomp=…`: the profile's JSON (the docker CLI sends the file's content) or
    /// a path readable by berthd.
    static func parse(_ value: String) throws -> SeccompProfile {
        let text = value.hasPrefix("{") ? value : ((try? FileIO.readString(value)) ?? "")
        guard !text.isEmpty else { throw EngineError.invalid("opening seccomp profile (\(value)) failed: no such file or directory") }
        do { return try JSONDecoder().decode(SeccompProfile.self, from: Data(text.utf8)) } catch {
            throw EngineError.invalid("decoding seccomp profile failed: \(error)")
        }
    }

    static func allow(_ names: [String], caps: [String]? = nil, arches: [String]? = nil, minKernel: String? = nil) -> Rule {
        let includes = caps == nil && arches == nil && minKernel == nil ? nil : Filter(caps: caps, arches: arches, minKernel: minKernel)
        return Rule(names: names, action: "SCMP_ACT_ALLOW", includes: includes)
    }

    /// Docker's default: everything a normal program needs allowed, the rest refused with EPERM;
    /// namespace creation, mounts, module loading, clock and reboot calls only with the
    /// capability that would allow them anyway.
    static let docker: SeccompProfile = {
        let base = """
        accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64
        clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range
        connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
        epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
        fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
        flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
        futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
        getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
        getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
        gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
        io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter
        io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
        lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
        membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
        mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink
        mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect
        open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
        ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
        pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
        removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
        rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
        sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
        sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
        sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg
        sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
        setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid
        setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack
        signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink
        symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
        timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
        timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
        utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
        """.split(whereSeparator: \.isWhitespace).map(String.init)
        // clone without namespace flags (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET).
        let namespaceFlags: UInt64 = 0x7E02_0000
        var rules: [Rule] = [
            allow(base),
            allow(["process_vm_readv", "process_vm_writev", "ptrace"], minKernel: "4.8"),
            Rule(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: 40, op: "SCMP_CMP_NE")]),  // no AF_VSOCK
        ]
        for persona: UInt64 in [0, 8, 0x20000, 0x20008, 0xFFFF_FFFF] {
            rules.append(Rule(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: persona, op: "SCMP_CMP_EQ")]))
        }
        rules += [
            allow(["sync_file_range2", "swapcontext"], arches: ["ppc64le"]),
            allow(["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"], arches: ["arm", "arm64"]),
            allow(["arch_prctl"], arches: ["amd64", "x32"]),
            allow(["modify_ldt"], arches: ["amd64", "x32", "x86"]),
            allow(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], arches: ["s390", "s390x"]),
            allow(["riscv_flush_icache"], arches: ["riscv64"]),
            allow(["open_by_handle_at"], caps: ["CAP_DAC_READ_SEARCH"]),
            allow(["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
                   "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
                   "sethostname", "setns", "syslog", "umount", "umount2", "unshare"], caps: ["CAP_SYS_ADMIN"]),
            Rule(names: ["clone"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: namespaceFlags, op: "SCMP_CMP_MASKED_EQ")],
                 excludes: Filter(caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"])),
            Rule(names: ["clone"], action: "SCMP_ACT_ALLOW", args: [.init(index: 1, value: namespaceFlags, op: "SCMP_CMP_MASKED_EQ")],
                 includes: Filter(arches: ["s390", "s390x"]), excludes: Filter(caps: ["CAP_SYS_ADMIN"])),
            // clone3's flags live in memory a filter cannot read: ENOSYS sends libc back to clone.
            Rule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: UInt32(ENOSYS), excludes: Filter(caps: ["CAP_SYS_ADMIN"])),
            allow(["reboot"], caps: ["CAP_SYS_BOOT"]),
            allow(["chroot"], caps: ["CAP_SYS_CHROOT"]),
            allow(["delete_module", "init_module", "finit_module"], caps: ["CAP_SYS_MODULE"]),
            allow(["acct"], caps: ["CAP_SYS_PACCT"]),
            allow(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"], caps: ["CAP_SYS_PTRACE"]),
            allow(["iopl", "ioperm"], caps: ["CAP_SYS_RAWIO"]),
            allow(["settimeofday", "stime", "clock_settime", "clock_settime64"], caps: ["CAP_SYS_TIME"]),
            allow(["vhangup"], caps: ["CAP_SYS_TTY_CONFIG"]),
            allow(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], caps: ["CAP_SYS_NICE"]),
            allow(["syslog"], caps: ["CAP_SYSLOG"]),
            allow(["bpf"], caps: ["CAP_BPF"]),
            allow(["perf_event_open"], caps: ["CAP_PERFMON"]),
        ]
        let arches = [("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]), ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"]),
                      ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"]), ("SCMP_ARCH_RISCV64", [])].map { ArchMap(architecture: $0.0, subArchitectures: $0.1) }
        return SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: UInt32(EPERM), archMap: arches, syscalls: rules)
    }()
}
