import BerthCgroups
import BerthLogs
import BerthOCI
import BerthRuntimeCore
import BerthShimProtocol
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc

/// The per-container process: parent and reaper of the container's init, owner of its stdio and
/// log, and the daemon's only handle on it. One poll loop, no threads (it forks through the runtime),
/// and nothing in it depends on berthd being alive.
public final class Shim {
    let config: ShimConfig
    let runtime: Runtime
    /// nil for the `none` log driver: output goes only to attached clients.
    let logger: LogFileWriter?
    let criLog: CRILogFile?
    var initPid: Int32 { record?.pid ?? 0 }
    /// Output descriptors of the init (pipes, or the pty master) and the stream each feeds.
    var outputs: [Int32: UInt8] = [:]
    var stdin: StdinSink?
    var master: Int32?
    var listener: Int32 = -1
    var signals: Int32 = -1
    var clients: [Int32: Client] = [:]
    var execs: [Int32: ExecSession] = [:]
    var exit: ExitStatus?
    var exitDeadline: Double = 0
    /// When `start` released the init, until its first output (see `awaitFirstOutput`).
    var quietSince: Double?
    /// Whether what the last piece of work used has gone back since (`berth_release_idle_memory`).
    /// A shim spends the container's life waiting, and its last request or output (creating and
    /// starting the container first) leaves the text and data pages it ran mapped, 2–3 MB of RSS
    /// per shim, and freed heap and deep stack; after `settleDelay` ms with nothing to do they
    /// go, just before the wait that may last hours, and what runs next faults back in from the
    /// page cache. Not at once after each piece of work: the next request would fault them in
    /// again (a `start` follows its create by a few ms).
    var settled = false
    static let settleDelay: Int32 = 1000

    /// A connection from berthd.
    final class Client {
        let fd: Int32
        var buffer: [UInt8] = []
        var request: ShimRequest?
        var execPid: Int32?
        /// False once the peer has closed its sending side: still written to, no longer read.
        var readable = true
        var outbox = Outbox()
        /// An ended exec's client: closed once its last frames (the exit) are delivered.
        var closeWhenFlushed = false
        init(fd: Int32) { self.fd = fd }
        var wantsOutput: Bool { request?.op == .attach }
    }

    /// Bytes queued for a process's stdin, written as it accepts them.
    final class StdinSink {
        let fd: Int32
        /// A terminal's input (a copy of its master) is never closed for a client: as moby, a
        /// tty's stdin outlives every attach, so a detached `run -it` can be attached to again.
        let terminal: Bool
        var pending: [UInt8] = []
        var closeWhenDrained = false
        init(fd: Int32, terminal: Bool = false) {
            self.fd = fd
            self.terminal = terminal
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    final class ExecSession {
        let execID: String
        let pid: Int32
        let client: Int32
        var outputs: [Int32: UInt8]
        var stdin: StdinSink?
        let master: Int32?
        var exitCode: Int32?
        init(execID: String, pid: Int32, client: Int32, outputs: [Int32: UInt8], stdin: StdinSink?, master: Int32?) {
            self.execID = execID; self.pid = pid; self.client = client; self.outputs = outputs; self.stdin = stdin; self.master = master
        }
    }

    public init(config: ShimConfig) throws {
        self.config = config
        runtime = Runtime(root: config.runtimeRoot)
        let format: LogFileWriter.Format = config.logFormat == LogFormat.local.rawValue ? .local(compress: config.logCompress ?? true)
                                                                                       : .jsonFile(attrs: config.logAttributes ?? [:])
        logger = config.logPath.isEmpty ? nil : try LogFileWriter(path: config.logPath, format: format, maxSize: config.logMaxSize, maxFiles: config.logMaxFiles)
        criLog = try config.criLogPath.map { try CRILogFile(path: $0) }
    }

    // MARK: start-up

    /// The config berthd wrote next to the bundle; nil if it cannot be read.
    public static func loadConfig(_ path: String) -> ShimConfig? {
        guard let bytes = try? FileIO.read(path) else { return nil }
        return try? JSONDecoder().decode(ShimConfig.self, from: Data(bytes))
    }

    /// A shim's life in the process that will outlive berthd (forked by `berth-shim CONFIG` or by
    /// the template): a session of its own, the container created, "ok" or the error on `report`
    /// (`ShimReady`), then serving until the container is gone.
    public static func serve(_ config: ShimConfig, report: Int32) -> Never {
        setsid()
        let devNull = open("/dev/null", O_RDWR)
        dup2(devNull, 0); dup2(devNull, 1); dup2(devNull, 2)
        let shim: Shim
        do { shim = try Shim(config: config) } catch {
            ShimReady.fail(report, "\(error)")
            Glibc.exit(1)
        }
        do {
            try shim.create()
        } catch {
            shim.abandon()  // an init created before the failure holds `report`: it must go
            ShimReady.fail(report, "\(error)")
            Glibc.exit(1)
        }
        _ = ShimReady.ok.withUnsafeBytes { write(report, $0.baseAddress, $0.count) }
        close(report)
        _ = shim.run()
        Glibc.exit(0)
    }

    /// Creates the container (its init waits for `start`) and opens the socket.
    public func create() throws {
        _ = berth_set_subreaper()
        signal(SIGPIPE, SIG_IGN)
        let mask: UInt64 = 1 << UInt64(SIGCHLD)
        _ = berth_block_signals(mask)
        signals = try sys("signalfd") { berth_signalfd(mask) }

        var childEnds: [Int32] = []
        defer { childEnds.forEach { close($0) } }
        if config.tty {
            master = try launch(stdio: nil)
            if let master {
                outputs[master] = Frame.stdout
                stdin = StdinSink(fd: try sys("dup") { dup(master) }, terminal: true)
            }
        } else {
            let out = try Self.pipe(), err = try Self.pipe()
            var input: (read: Int32, write: Int32)?
            if config.openStdin { input = try Self.pipe() }
            let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
            childEnds = [out.write, err.write, input?.read ?? devNull]
            _ = try launch(stdio: (input?.read ?? devNull, out.write, err.write))
            outputs[out.read] = Frame.stdout
            outputs[err.read] = Frame.stderr
            // never read-blocked, even by a process outside the container holding the pipe at the end
            for fd in [out.read, err.read] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            if let input { stdin = StdinSink(fd: input.write) }
        }
        listener = try UnixSocket.listen(config.socket, mode: 0o600)
    }

    /// Removes what an earlier shim of this container left when it was killed (state, a created
    /// init, its cgroup): the runtime's state has one writer, the container's shim, alive or next.
    public static func cleanUp(_ config: ShimConfig) throws {
        let runtime = Runtime(root: config.runtimeRoot)
        if runtime.exists(id: config.id) { try runtime.delete(id: config.id, force: true) }
    }

    /// Undoes a create that failed half-way: the waiting init is killed and its state removed.
    public func abandon() {
        if initPid > 0 {
            kill(initPid, SIGKILL)
            var status: Int32 = 0
            waitpid(initPid, &status, 0)
        }
        try? runtime.delete(id: config.id, force: true)
    }

    /// Runs the runtime's create, in a `ChildStep`, with `stdio` as the init's fds 0-2 (the
    /// runtime passes its own on); keeps the lean record; returns the terminal's master, if any.
    func launch(stdio: (Int32, Int32, Int32)?) throws -> Int32? {
        var saved: [Int32] = []
        if let stdio {
            saved = (0...2).map { dup($0) }
            dup2(stdio.0, 0); dup2(stdio.1, 1); dup2(stdio.2, 2)
        }
        defer {
            for (fd, copy) in saved.enumerated() { dup2(copy, Int32(fd)); close(copy) }
        }
        let answer = try ChildStep.run {
            try Self.cleanUp(config)
            let launched = try runtime.launch(id: config.id, options: .init(bundle: config.bundle), foregroundTerminal: config.tty)
            return ChildStep.Answer(bytes: try launched.record.leanEncoding(), fd: launched.master)
        }
        do {
            record = try JSONDecoder().decode(RuntimeRecord.self, from: Data(answer.bytes))
        } catch {
            if let fd = answer.fd { close(fd) }
            throw RuntimeError.other("the container's record from its create: \(error)")
        }
        return answer.fd
    }

    static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try sys("pipe2") { berth_pipe_cloexec(&fds) }
        return (fds[0], fds[1])
    }

    // MARK: the loop

    /// Serves until the container has exited and its output is drained; returns its exit status.
    public func run() -> ExitStatus {
        var settleDue = false
        while true {
            if let exit, outputs.isEmpty || Monotonic.now() > exitDeadline {
                return finish(exit)
            }
            // An attach client that has taken nothing for a while is dropped (its output is in
            // the log); until then, one that is behind holds the container's output back.
            for client in Array(clients.values) where client.wantsOutput && client.outbox.stalled(now: Monotonic.now()) { drop(client.fd) }
            let attachBehind = clients.values.contains { $0.wantsOutput && $0.outbox.isFull }
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            if !attachBehind { for fd in outputs.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) } }
            for client in clients.values {
                // a client whose stdin the container has not taken yet is not read: its writes block
                let heldBack = stdinSink(for: client).map { $0.pending.count >= Self.stdinBacklog } ?? false
                let events = (client.readable && !heldBack ? POLLIN : 0) | (client.outbox.pending > 0 ? POLLOUT : 0)
                if events != 0 { fds.append(pollfd(fd: client.fd, events: Int16(events), revents: 0)) }
            }
            // an exec's output waits for its client, as the process would for docker's
            for session in execs.values where !(clients[session.client]?.outbox.isFull ?? false) {
                for fd in session.outputs.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            }
            for sink in [stdin].compactMap({ $0 }) + execs.values.compactMap(\.stdin) where !sink.pending.isEmpty {
                fds.append(pollfd(fd: sink.fd, events: Int16(POLLOUT), revents: 0))
            }
            let waiting = exit == nil && !attachBehind
            if waiting && settleDue {
                berth_release_idle_memory()
                settled = true
            }
            let timeout: Int32 = exit != nil ? 100 : attachBehind ? 250 : settled ? -1 : Self.settleDelay
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 && errno == EINTR { continue }
            settleDue = rc == 0 && waiting && !settled
            if rc > 0 { settled = false }
            for entry in fds where entry.revents != 0 {
                if entry.fd == signals { reap() }
                else if entry.fd == listener { accept() }
                else if let stream = outputs[entry.fd] { readOutput(entry.fd, stream: stream) }
                else if let client = clients[entry.fd] { serve(client, revents: entry.revents) }
                else if let session = execs.values.first(where: { $0.outputs[entry.fd] != nil }) { readExecOutput(session, entry.fd) }
                else if entry.revents & Int16(POLLOUT) != 0 { flushStdin(entry.fd) }
            }
        }
    }

    func reap() {
        var sender: Int32 = 0, status: Int32 = 0
        _ = berth_read_signalfd(signals, &sender, &status)
        while true {
            var st: Int32 = 0
            let pid = waitpid(-1, &st, WNOHANG)
            if pid <= 0 { break }
            let code = ProcessStatus.exitCode(waitStatus: st)
            if pid == initPid {
                // Read before the runtime removes the cgroup.
                let oom = (record.flatMap { try? Cgroups.manager(path: $0.cgroupPath) }?.oomKillCount() ?? 0) > 0
                exit = ExitStatus(exitCode: code, oomKilled: oom, finishedAt: Timestamp.now())
                exitDeadline = Monotonic.now() + 2  // then stop waiting for stray writers of the pipes
            } else if let session = execs[pid] {
                session.exitCode = code
                if session.outputs.isEmpty { endExec(session) }
            }
        }
    }

    /// The runtime's record of the container, from create: requests pass it to the runtime
    /// instead of having it decoded again from the state file for each.
    var record: RuntimeRecord?

    func launchedRecord() throws -> RuntimeRecord {
        guard let record else { throw RuntimeError.badState("the container has not been created") }
        return record
    }

    func accept() {
        let fd = berth_accept_cloexec(listener)
        if fd >= 0 { clients[fd] = Client(fd: fd) }
    }

    /// Reads output; nil at EOF (and the descriptor is retired). From a terminal, a chunk cut
    /// short of its line end waits up to 2 ms for the rest: the line discipline hands `echo`'s
    /// "text" and the "\r\n" it makes of "\n" to the master in two pushes, and a reader as quick
    /// as this one would otherwise send them as two pieces (clients read a line as one chunk).
    func readChunk(_ fd: Int32, terminal: Bool = false) -> ArraySlice<UInt8>? {
        let (n, buffer) = Self.read(fd, upTo: 32768)
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return [] }
        if n <= 0 { return nil }
        var chunk = buffer[...]
        if terminal, n < 32768, chunk.last != 10 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 2) > 0, p.revents & Int16(POLLIN) != 0 {
                let (m, more) = Self.read(fd, upTo: 32768 - n)
                if m > 0 { chunk = (buffer + more)[...] }
            }
        }
        return chunk
    }

    /// One read(2) into a buffer that is not zeroed first: only the pages the bytes land in are
    /// touched, where a zero-filled 32 KiB buffer dirtied eight for every short read, and a
    /// freed page stays the shim's for its life. The bytes read, and the result of read(2).
    static func read(_ fd: Int32, upTo count: Int) -> (Int, [UInt8]) {
        var result = 0, readErrno: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            result = Glibc.read(fd, buffer.baseAddress, count)
            readErrno = errno
            initialized = max(result, 0)
        }
        errno = readErrno
        return (result, bytes)
    }

    /// Whether there was output to read.
    @discardableResult
    func readOutput(_ fd: Int32, stream: UInt8) -> Bool {
        guard let chunk = readChunk(fd, terminal: fd == master) else {
            outputs[fd] = nil
            if fd != master { close(fd) }
            return false
        }
        if !chunk.isEmpty { readOutputChunk(chunk, stream: stream) }
        return !chunk.isEmpty
    }

    /// Queues a frame for a client and writes what its socket takes now; never waits for it.
    func send(_ fd: Int32, frame stream: UInt8, _ payload: ArraySlice<UInt8>) {
        guard let client = clients[fd] else { return }
        client.outbox.append(Frame.header(stream: stream, length: payload.count), payload, now: Monotonic.now())
        flush(client)
    }

    func flush(_ client: Client) {
        if !client.outbox.flush(to: client.fd, now: Monotonic.now()) || (client.closeWhenFlushed && client.outbox.pending == 0) {
            drop(client.fd)
        }
    }

    /// A client's socket is ready: it took bytes, sent some, or went away.
    func serve(_ client: Client, revents: Int16) {
        let gone = revents & Int16(POLLERR | POLLHUP) != 0
        if revents & Int16(POLLOUT) != 0 || (gone && !client.readable) { flush(client) }
        if clients[client.fd] === client, client.readable, revents & Int16(POLLIN) != 0 || gone { readClient(client.fd) }
    }

    /// A runtime's or the kernel's refusal, told apart from a failure.
    static func failure(_ error: Error) -> ShimReply {
        if case .badState = error as? RuntimeError { return ShimReply(error: "\(error)", refusal: .state) }
        if let error = error as? SystemError, error.errno == EINVAL || error.errno == ERANGE {
            return ShimReply(error: "\(error)", refusal: .value)
        }
        return ShimReply(error: "\(error)")
    }

    /// A one-line answer on a fresh connection, whose socket buffer always has room for it.
    func reply(_ fd: Int32, _ reply: ShimReply) {
        let line = Array((try? JSONEncoder().encode(reply)) ?? Data()) + [10]
        _ = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }

    func drop(_ fd: Int32) {
        guard let client = clients.removeValue(forKey: fd) else { return }
        close(fd)
        if let pid = client.execPid, let session = execs[pid] { session.stdin?.closeWhenDrained = true; flushStdin(session.stdin?.fd ?? -1) }
    }

    func readClient(_ fd: Int32) {
        guard let client = clients[fd] else { return }
        guard let chunk = readChunk(fd) else { return clientEOF(client) }
        if client.request == nil {
            client.buffer += chunk
            guard let newline = client.buffer.firstIndex(of: 10) else { return }
            let line = Array(client.buffer[..<newline])
            let rest = Array(client.buffer[(newline + 1)...])
            client.buffer = []
            guard let request = try? JSONDecoder().decode(ShimRequest.self, from: Data(line)) else {
                reply(fd, ShimReply(error: "invalid request"))
                return drop(fd)
            }
            client.request = request
            handle(client, request)
            if !rest.isEmpty { input(client, rest[...]) }
        } else {
            input(client, chunk)
        }
    }

    /// Stdin the shim holds for a container before it stops reading the clients that feed it: a
    /// client that writes faster than the container reads is held back instead of growing the shim.
    static let stdinBacklog = 1 << 20

    /// Where a client's bytes go: its exec's stdin, or the container's for an attach with stdin.
    func stdinSink(for client: Client) -> StdinSink? {
        client.execPid.flatMap { execs[$0]?.stdin } ?? (client.request?.op == .attach && client.request?.stdin == true ? stdin : nil)
    }

    /// Stdin bytes from an attached client or an exec's client.
    func input(_ client: Client, _ bytes: ArraySlice<UInt8>) {
        guard let sink = stdinSink(for: client), !sink.closeWhenDrained else { return }
        sink.pending += bytes
        flushStdin(sink.fd)
    }

    /// The peer closed its sending side. Attach and exec clients keep receiving output (the docker
    /// CLI half-closes at once when it has no stdin to send); anything else is done.
    func clientEOF(_ client: Client) {
        guard client.request?.op == .attach || client.execPid != nil else { return drop(client.fd) }
        client.readable = false
        if client.request?.op == .attach, client.request?.stdin == true, config.stdinOnce, let sink = stdin, !sink.terminal {
            sink.closeWhenDrained = true
            flushStdin(sink.fd)
        }
        if let pid = client.execPid, let sink = execs[pid]?.stdin {
            sink.closeWhenDrained = true
            flushStdin(sink.fd)
        }
    }

    func flushStdin(_ fd: Int32) {
        guard let sink = [stdin].compactMap({ $0 }).first(where: { $0.fd == fd }) ?? execs.values.compactMap(\.stdin).first(where: { $0.fd == fd }) else { return }
        while !sink.pending.isEmpty {
            let n = sink.pending.withUnsafeBytes { write(sink.fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if errno == EAGAIN { return }
                sink.pending = []
                break
            }
            sink.pending.removeFirst(n)
        }
        if sink.closeWhenDrained && !sink.terminal {
            close(sink.fd)
            if stdin === sink { stdin = nil }
            for session in execs.values where session.stdin === sink { session.stdin = nil }
        }
    }

    // MARK: requests

    func handle(_ client: Client, _ request: ShimRequest) {
        switch request.op {
        case .start:
            do {
                try runtime.start(try launchedRecord())
                quietSince = Monotonic.now()
                reply(client.fd, ShimReply(pid: initPid))
            } catch {
                reply(client.fd, ShimReply(error: "\(error)"))
            }
            drop(client.fd)
        case .state:
            reply(client.fd, ShimReply(pid: initPid, exit: exit))
            drop(client.fd)
        case .pause, .resume, .pids, .update:
            do {
                switch request.op {
                case .pause: try runtime.pause(try launchedRecord()); reply(client.fd, ShimReply(pid: initPid))
                case .resume: try runtime.resume(try launchedRecord()); reply(client.fd, ShimReply(pid: initPid))
                case .update:
                    try Cgroups.manager(path: try launchedRecord().cgroupPath).apply(request.resources ?? Spec.Resources())
                    reply(client.fd, ShimReply(pid: initPid))
                default: reply(client.fd, ShimReply(pid: initPid, pids: try runtime.processes(try launchedRecord())))
                }
            } catch {
                reply(client.fd, Self.failure(error))
            }
            drop(client.fd)
        case .kill:
            do {
                try runtime.kill(try launchedRecord(), signal: request.signal ?? SIGKILL, all: request.all ?? false)
                reply(client.fd, ShimReply(pid: initPid))
            } catch {
                reply(client.fd, Self.failure(error))
            }
            drop(client.fd)
        case .resize:
            let target = request.execID.map { id in execs.values.first { $0.execID == id }?.master } ?? master
            if let target { _ = berth_set_winsize(target, request.height ?? 24, request.width ?? 80) }
            reply(client.fd, ShimReply())
            drop(client.fd)
        case .attach:
            reply(client.fd, ShimReply(pid: initPid))  // acknowledged: output now flows to this client, its bytes feed stdin
        case .wait:
            break  // answered in finish()
        case .syncLog:
            // What the container wrote before this request is logged before the answer, so a
            // log read that follows (`docker logs` right after `start`) finds it. Bounded: a
            // container that writes without pause does not hold the shim here.
            awaitFirstOutput()
            for (fd, stream) in outputs {
                for _ in 0..<32 { if !readOutput(fd, stream: stream) { break } }
            }
            reply(client.fd, ShimReply(pid: initPid))
            drop(client.fd)
        case .reopenLog:
            do {
                try criLog?.reopen()
                reply(client.fd, ShimReply(pid: initPid))
            } catch {
                reply(client.fd, ShimReply(error: "\(error)"))
            }
            drop(client.fd)
        case .exec:
            startExec(client, request)
        }
    }

    func startExec(_ client: Client, _ request: ShimRequest) {
        guard var process = request.process else {
            reply(client.fd, ShimReply(error: "exec without a process"))
            return drop(client.fd)
        }
        do {
            let tty = process.terminal == true
            var outputs: [Int32: UInt8] = [:]
            var sink: StdinSink?
            var spawned: Runtime.Spawned
            if tty {
                spawned = try spawnExec(process, keepMaster: true)
                if let m = spawned.master {
                    outputs[m] = Frame.stdout
                    if request.stdin == true { sink = StdinSink(fd: try sys("dup") { dup(m) }, terminal: true) }
                }
            } else {
                process.terminal = false
                let out = try Self.pipe(), err = try Self.pipe()
                let input = request.stdin == true ? try Self.pipe() : nil
                let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
                let saved = (0...2).map { dup($0) }
                dup2(input?.read ?? devNull, 0); dup2(out.write, 1); dup2(err.write, 2)
                defer {
                    for (fd, copy) in saved.enumerated() { dup2(copy, Int32(fd)); close(copy) }
                    [out.write, err.write, input?.read ?? -1, devNull].forEach { if $0 >= 0 { close($0) } }
                }
                spawned = try spawnExec(process, keepMaster: false)
                outputs[out.read] = Frame.stdout
                outputs[err.read] = Frame.stderr
                if let input { sink = StdinSink(fd: input.write) }
            }
            client.execPid = spawned.pid
            execs[spawned.pid] = ExecSession(execID: request.execID ?? "", pid: spawned.pid, client: client.fd, outputs: outputs, stdin: sink, master: spawned.master)
            reply(client.fd, ShimReply(pid: spawned.pid))
        } catch {
            reply(client.fd, ShimReply(error: "\(error)"))
            drop(client.fd)
        }
    }

    /// Starts an exec's process. Its spec is read again from the runtime's state.json rather than
    /// kept for the container's life; what decoding it used goes back when the shim settles.
    /// (Not in a `ChildStep`: the child's copy-on-write faults cost an exec 0.9 ms, the decoding
    /// here 0.3.)
    func spawnExec(_ process: Spec.Process, keepMaster: Bool) throws -> Runtime.Spawned {
        try runtime.spawnExec(id: config.id, process: process, consoleSocket: nil, keepMaster: keepMaster)
    }

    func readExecOutput(_ session: ExecSession, _ fd: Int32) {
        guard let chunk = readChunk(fd, terminal: fd == session.master) else {
            session.outputs[fd] = nil
            close(fd)
            if session.outputs.isEmpty && session.exitCode != nil { endExec(session) }
            return
        }
        if !chunk.isEmpty { send(session.client, frame: session.outputs[fd] ?? Frame.stdout, chunk) }
    }

    func endExec(_ session: ExecSession) {
        let status = ExitStatus(exitCode: session.exitCode ?? -1, oomKilled: false, finishedAt: Timestamp.now())
        send(session.client, frame: Frame.exit, ((try? JSONEncoder().encode(status)).map(Array.init) ?? [])[...])
        if let sink = session.stdin, sink.fd != session.master { close(sink.fd) }
        session.outputs.keys.forEach { close($0) }
        execs[session.pid] = nil
        if let client = clients[session.client] {
            client.closeWhenFlushed = true
            client.readable = false
            flush(client)
        }
    }

    // MARK: the end

    /// Logs what is left, records the exit, removes the runtime's container, and tells waiters.
    func finish(_ exit: ExitStatus) -> ExitStatus {
        for fd in Array(outputs.keys) { while let chunk = readChunk(fd), !chunk.isEmpty { readOutputChunk(chunk, stream: outputs[fd]!) } }
        logger?.flush()
        criLog?.flush()
        deliverQueuedOutput()
        if let record { try? runtime.delete(record, force: true) }
        // The exit outlives a daemon that is down, not a power cut (nothing runs after one).
        if let bytes = try? JSONEncoder().encode(exit) { try? AtomicFile.write(config.exitFile, Array(bytes), durable: false) }
        for client in clients.values {
            if client.request?.op == .wait { reply(client.fd, ShimReply(pid: initPid, exit: exit)) }
            close(client.fd)
        }
        clients = [:]
        unlink(config.socket)
        return exit
    }

    /// The container's last output reaches its attached clients (`docker run`'s final lines) for
    /// as long as they keep taking it; one that takes nothing for `Outbox.stallGrace` is left.
    func deliverQueuedOutput() {
        while true {
            let waiting = clients.values.filter { $0.outbox.pending > 0 }
            if waiting.isEmpty { return }
            var fds = waiting.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), Int32(Outbox.stallGrace * 1000))
            if rc < 0 && errno == EINTR { continue }
            if rc <= 0 { return }
            for entry in fds where entry.revents != 0 { if let client = clients[entry.fd] { flush(client) } }
        }
    }

    /// `docker logs` right after `start` (test suites do it: docker-py's, for one) can come
    /// before a program that was exec'd a moment ago has run far enough to write. A program still
    /// silent within 5 ms of its release gets until then to write or exit (either wakes the poll
    /// at once); past that, or once it has written, a log read never waits.
    func awaitFirstOutput() {
        guard let since = quietSince, !outputs.isEmpty else { return }
        quietSince = nil
        let remaining = Int32((since + 0.005 - Monotonic.now()) * 1000) + 1
        guard remaining > 1 else { return }
        var fds = outputs.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = poll(&fds, nfds_t(fds.count), remaining)
    }

    /// Logs a chunk of the container's output and passes it to every attached client that wants it.
    func readOutputChunk(_ chunk: ArraySlice<UInt8>, stream: UInt8) {
        quietSince = nil
        logger?.write(chunk, stream: stream == Frame.stderr ? "stderr" : "stdout")
        criLog?.write(chunk, stream: stream == Frame.stderr ? "stderr" : "stdout")
        for client in clients.values where client.wantsOutput {
            let wanted = stream == Frame.stderr ? client.request?.stderr ?? true : client.request?.stdout ?? true
            if wanted { send(client.fd, frame: stream, chunk) }
        }
    }
}
