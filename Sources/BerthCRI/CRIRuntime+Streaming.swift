import BerthCRIProto
import GRPCCore

/// Exec, Attach and PortForward answer with a URL on the streaming server, where the client
/// (the kubelet, or a tool beside it) then connects; the checks are the kubelet's own
/// (`validateExecRequest`) and containerd's (the container running, the sandbox ready).
extension CRIRuntime {
    func registerStreaming<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.unary(Service.Exec.descriptor, log: log) { (request: Runtime_V1_ExecRequest) in
            try Self.validateStreams(containerID: request.containerID, tty: request.tty, stdin: request.stdin, stdout: request.stdout, stderr: request.stderr)
            guard !request.cmd.isEmpty else { throw RPCStatus.invalid("missing required cmd") }
            let id = try await runningContainer(request.containerID)
            var response = Runtime_V1_ExecResponse()
            response.url = try streaming.url(for: .exec(containerID: id, command: request.cmd, tty: request.tty, stdin: request.stdin,
                                                        stdout: request.stdout, stderr: request.stderr))
            return response
        }
        router.unary(Service.Attach.descriptor, log: log) { (request: Runtime_V1_AttachRequest) in
            try Self.validateStreams(containerID: request.containerID, tty: request.tty, stdin: request.stdin, stdout: request.stdout, stderr: request.stderr)
            let id = try await runningContainer(request.containerID)
            var response = Runtime_V1_AttachResponse()
            response.url = try streaming.url(for: .attach(containerID: id, tty: request.tty, stdin: request.stdin, stdout: request.stdout, stderr: request.stderr))
            return response
        }
        router.unary(Service.PortForward.descriptor, log: log) { (request: Runtime_V1_PortForwardRequest) in
            guard !request.podSandboxID.isEmpty else { throw RPCStatus.invalid("missing required pod_sandbox_id") }
            guard let pod = try await pods.find(request.podSandboxID) else {
                throw RPCStatus.notFound("failed to find sandbox \"\(request.podSandboxID)\": not found")
            }
            guard pod.ready else { throw RPCError(code: .failedPrecondition, message: "sandbox \(pod.id) is not running") }
            guard request.port.count <= StreamingServer.maxPorts else {
                throw RPCStatus.invalid("at most \(StreamingServer.maxPorts) ports are forwarded at once")
            }
            let ports = try request.port.map { port -> UInt16 in
                guard let valid = UInt16(exactly: port), valid > 0 else { throw RPCStatus.invalid("invalid port \(port)") }
                return valid
            }
            var response = Runtime_V1_PortForwardResponse()
            response.url = try streaming.url(for: .portForward(podID: pod.id, netns: await pods.pins(pod.id) + "/net", ports: ports))
            return response
        }
    }

    static func validateStreams(containerID: String, tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool) throws {
        guard !containerID.isEmpty else { throw RPCStatus.invalid("missing required container_id") }
        // a terminal has one output: stderr cannot be told apart from stdout
        if tty && stderr { throw RPCStatus.invalid("tty and stderr cannot both be true") }
        guard stdin || stdout || stderr else { throw RPCStatus.invalid("one of stdin, stdout, or stderr must be set") }
    }

    /// A CRI container that runs now, by ID or prefix.
    func runningContainer(_ ref: String) async throws -> String {
        let found = try await criContainer(ref)
        guard found.State.Running else {
            throw RPCError(code: .failedPrecondition, message: "container \(found.Id) is in \(Self.stateName(Self.state(found.State.Status))) state")
        }
        return found.Id
    }
}
