import CBerthLinux
import Glibc

/// Starting programs with posix_spawn: safe in a multi-threaded process (berthd), unlike a
/// Swift-level fork, and cheap (vfork semantics) in a single-threaded one.
public enum Subprocess {
    /// Spawns `path` with `args` (argv[0] included) and `env`; `stdin`/`output` become fds 0 and
    /// 1+2 in the child (nil: inherited). Returns the pid.
    public static func spawn(_ path: String, _ args: [String], env: [String], stdin: Int32? = nil, output: Int32? = nil,
                             closing: [Int32] = [], stdout: Int32? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) }
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, 1)
            posix_spawn_file_actions_adddup2(&actions, output, 2)
        }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        for fd in closing { posix_spawn_file_actions_addclose(&actions, fd) }
        // Nothing past stdio crosses: berthd's accepted API connections are not all
        // close-on-exec, and a long-lived child (a shim) holding one keeps a client waiting on a
        // daemon that is gone.
        _ = berth_spawn_actions_closefrom(&actions, 3)
        let argv = args.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        // A clean signal state: the calling thread's mask (NIO and Swift's pool threads block
        // signals) and berthd's ignored SIGPIPE would otherwise pass to the shim and containers.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SystemError("fork/exec", path, errno: rc) }
        return pid
    }

    /// What a helper berthd starts sees: a PATH and nothing of berthd's own environment.
    public static let defaultEnvironment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    /// Runs to completion; returns the exit code and what it wrote to stdout and stderr.
    public static func run(_ path: String, _ args: [String], env: [String] = defaultEnvironment) throws -> (status: Int32, output: String) {
        var fds: [Int32] = [0, 0]
        // Close-on-exec: only the child's fds 1 and 2 may hold the write end, or EOF never comes.
        try sys("pipe") { berth_pipe_cloexec(&fds) }
        let pid: pid_t
        do {
            pid = try spawn(path, [path] + args, env: env, output: fds[1], closing: [fds[0]])
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
        close(fds[1])
        defer { close(fds[0]) }
        let output = (try? FileIO.readAll(fds[0])) ?? []
        return (wait(pid), String(decoding: output, as: UTF8.self))
    }

    /// Runs to completion with `input` on its stdin; returns the exit code and its stdout (its
    /// stderr is ours). For plugin protocols that speak JSON both ways (CNI), where the input is
    /// a few kilobytes and fits the pipe's buffer before the child reads it.
    public static func run(_ path: String, _ args: [String], env: [String], input: [UInt8]) throws -> (status: Int32, stdout: [UInt8]) {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        try sys("pipe") { berth_pipe_cloexec(&inPipe) }
        do { try sys("pipe") { berth_pipe_cloexec(&outPipe) } } catch { close(inPipe[0]); close(inPipe[1]); throw error }
        let pid: pid_t
        do {
            pid = try spawn(path, [path] + args, env: env, stdin: inPipe[0], closing: [inPipe[1], outPipe[0]], stdout: outPipe[1])
        } catch {
            for fd in inPipe + outPipe { close(fd) }
            throw error
        }
        close(inPipe[0]); close(outPipe[1])
        let fed = Result { try FileIO.writeAll(inPipe[1], input) }
        close(inPipe[1])
        let output = (try? FileIO.readAll(outPipe[0])) ?? []
        close(outPipe[0])
        let status = wait(pid)
        try fed.get()
        return (status, output)
    }

    /// Starts `args` (argv[0] a path) with a pipe as its stdin (`feeding`) or its stdout;
    /// returns the pid and our end of the pipe. The child keeps this process's environment.
    public static func spawnPiped(_ args: [String], feeding: Bool) throws -> (pid: pid_t, fd: Int32) {
        var fds: [Int32] = [0, 0]
        try sys("pipe") { berth_pipe_cloexec(&fds) }
        let (childEnd, ourEnd) = feeding ? (fds[0], fds[1]) : (fds[1], fds[0])
        var env: [String] = []
        var p = environ
        while let entry = p.pointee { env.append(String(cString: entry)); p += 1 }
        do {
            let pid = try spawn(args[0], args, env: env, stdin: feeding ? childEnd : nil, output: nil, closing: [],
                                stdout: feeding ? nil : childEnd)
            close(childEnd)
            return (pid, ourEnd)
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
    }

    /// Waits for `pid`; returns its exit code.
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return ProcessStatus.exitCode(waitStatus: status)
    }
}
