import BerthAPI
import BerthOCI
import BerthShimProtocol
import BerthSystem
import FoundationEssentials
import Glibc

/// An exec instance (`docker exec`): created, then started once over a hijacked connection.
struct ExecRecord: Sendable {
    var id: String
    var containerID: String
    var config: ExecConfig
    var running = false
    var pid: Int32 = 0
    var exitCode: Int32?
}

extension ContainerService {
    public func createExec(_ ref: String, _ exec: ExecConfig) throws -> IDResponse {
        var record = try find(ref)
        guard record.state.Running else { throw EngineError.conflict("Container \(record.id) is not running") }
        guard !record.state.Paused else { throw EngineError.conflict("Container \(record.id) is paused, unpause the container before exec") }
        guard let cmd = exec.Cmd, !cmd.isEmpty else { throw EngineError.invalid("No exec command specified") }
        if (try? DetachKeys(parsing: exec.DetachKeys)) == nil { throw EngineError.invalid("Invalid escape keys (\(exec.DetachKeys ?? "")) provided") }
        let id = Self.randomID()
        execs.mutate { $0[id] = ExecRecord(id: id, containerID: record.id, config: exec) }
        containers.mutate(record.id) { $0.execIDs.append(id) }
        record.execIDs.append(id)
        emit(record, "exec_create: " + cmd.joined(separator: " "), ["execID": id])
        return IDResponse(Id: id)
    }

    /// What starting an exec needs: the container's task, and the request that makes the process.
    public struct ExecLaunch: Sendable {
        public var task: any TaskControl
        public var request: ShimRequest
        /// Whether the process has a pty.
        public var tty: Bool
        /// Applied to a tty exec's stdin, as Docker does; nil otherwise.
        public var detachKeys: DetachKeys?
    }

    public func prepareExecStart(_ execID: String) throws -> ExecLaunch {
        // claimed in one step: two starts of one exec must not both run it
        let exec = try execs.mutate { execs -> ExecRecord in
            guard let exec = execs[execID] else { throw EngineError.notFound("No such exec instance: \(execID)") }
            guard !exec.running, exec.exitCode == nil else { throw EngineError.conflict("Exec command \(execID) has already run") }
            execs[execID]?.running = true
            return exec
        }
        guard let record = containers[exec.containerID], record.state.Running else {
            execs.mutate { $0[execID]?.running = false }
            throw EngineError.conflict("Container \(exec.containerID) is not running")
        }
        // The pty is the create request's; the start's `Tty` only chooses raw or multiplexed
        // framing on the wire (moby's postContainerExecStart), which the server applies.
        let tty = exec.config.Tty == true
        var request = ShimRequest(op: .exec)
        request.execID = execID
        do { request.process = try execProcess(record, exec.config, tty: tty) } catch {
            execs.mutate { $0[execID]?.running = false }
            throw error
        }
        request.stdin = exec.config.AttachStdin == true
        let keys = tty && request.stdin == true ? try? DetachKeys(parsing: exec.config.DetachKeys) : nil
        return ExecLaunch(task: task(record.id), request: request, tty: tty, detachKeys: keys)
    }

    /// The container's own process, changed as an exec asks (command, env, user, cwd, privileges).
    func execProcess(_ record: ContainerRecord, _ exec: ExecConfig, tty: Bool) throws -> Spec.Process {
        // the spec this engine wrote for the running container
        guard let spec = try runtimeSpec(record.id) else { throw EngineError.conflict("Container \(record.id) is not running") }
        guard let base = spec.process else { throw EngineError.internalError("container \(record.id) has no process in its spec") }
        var process = base
        process.terminal = tty
        process.args = exec.Cmd
        process.env = Self.mergeEnv(base.env ?? [], exec.Env ?? [])
        if let dir = exec.WorkingDir, !dir.isEmpty { process.cwd = dir }
        if let user = exec.User, !user.isEmpty {
            process.user = try UserResolver.resolve(user, rootfs: bundlePath(record.id) + "/rootfs", groupAdd: [])
        }
        if exec.Privileged == true {
            let all = Capability.bounding()
            process.capabilities = Spec.Capabilities(bounding: all, effective: all, permitted: all)
        }
        return process
    }

    public func execStarted(_ execID: String, pid: Int32) {
        if let exec = execs.mutate({ $0[execID]?.pid = pid; return $0[execID] }), let record = containers[exec.containerID] {
            emit(record, "exec_start: " + (exec.config.Cmd ?? []).joined(separator: " "), ["execID": execID])
        }
    }

    public func execExited(_ execID: String, code: Int32) {
        let ended = execs.mutate { execs -> ExecRecord? in
            execs[execID]?.running = false
            execs[execID]?.exitCode = code
            return execs[execID]
        }
        // the container lists its running execs only (moby deletes an ended one from the
        // container's store, and keeps it in the daemon's for the exec's own inspect)
        if let exec = ended { containers.mutate(exec.containerID) { $0.execIDs.removeAll { $0 == execID } } }
        if let exec = ended, let record = containers[exec.containerID] {
            emit(record, "exec_die", ["execID": execID, "exitCode": String(code)])
        }
    }

    public func inspectExec(_ execID: String) throws -> ExecInspect {
        guard let exec = execs.value[execID] else { throw EngineError.notFound("No such exec instance: \(execID)") }
        var out = ExecInspect()
        out.ID = exec.id
        out.ContainerID = exec.containerID
        out.Running = exec.running
        out.ExitCode = exec.exitCode
        out.Pid = exec.pid
        out.OpenStdin = exec.config.AttachStdin == true
        out.OpenStdout = exec.config.AttachStdout ?? true
        out.OpenStderr = exec.config.AttachStderr ?? true
        out.DetachKeys = exec.config.DetachKeys ?? ""
        var pc = ExecInspect.ProcessConfig()
        pc.tty = exec.config.Tty == true
        pc.entrypoint = exec.config.Cmd?.first ?? ""
        pc.arguments = Array((exec.config.Cmd ?? []).dropFirst())
        pc.privileged = exec.config.Privileged == true
        pc.user = exec.config.User ?? ""
        out.ProcessConfig = pc
        return out
    }

    public func resizeExec(_ execID: String, height: UInt16, width: UInt16) async throws {
        guard let exec = execs.value[execID] else { throw EngineError.notFound("No such exec instance: \(execID)") }
        try await task(exec.containerID).resize(width: width, height: height, execID: execID)
    }
}

extension ContainerService {
    /// An exec outside Docker's exec instances (CRI's Exec and ExecSync): the container's user
    /// and working directory; nothing is recorded, the caller owns the stream it starts.
    public func launchExec(_ ref: String, command: [String], tty: Bool, stdin: Bool) throws -> ExecLaunch {
        let record = try find(ref)
        guard record.state.Running, !record.state.Paused else { throw EngineError.conflict("container \(record.id) is not running") }
        guard !command.isEmpty else { throw EngineError.invalid("No exec command specified") }
        var exec = ExecConfig()
        exec.Cmd = command
        var request = ShimRequest(op: .exec)
        request.execID = "cri-" + Self.randomID().prefix(16)
        request.stdin = stdin
        request.process = try execProcess(record, exec, tty: tty)
        return ExecLaunch(task: task(record.id), request: request, tty: tty, detachKeys: nil)
    }

    /// An exec whose whole output the caller gets (CRI's ExecSync): no terminal, no stdin;
    /// `timeout` in nanoseconds (0: none) kills it.
    public func execSync(_ ref: String, command: [String], timeout: Int64, limit: Int) async throws -> ExecOutput {
        let launch = try launchExec(ref, command: command, tty: false, stdin: false)
        let (fd, pid) = try await launch.task.exec(launch.request)
        return try await Threads.run { ExecOutput.collect(fd, pid: pid, timeout: timeout, limit: limit) }
    }
}

extension ContainerService {
    /// CRI's ReopenContainerLog: only a running container has a log file open.
    public func reopenLog(_ ref: String) async throws {
        let record = try find(ref)
        guard record.state.Running else { throw EngineError.conflict("container \(record.id) is not running") }
        guard record.criLogPath != nil else { throw EngineError.invalid("container \(record.id) has no CRI log") }
        try await task(record.id).reopenLog()
    }
}
