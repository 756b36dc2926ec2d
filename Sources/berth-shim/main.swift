import BerthShimCore
import BerthShimProtocol
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc

/// berth-shim CONFIG.json
///
/// Started by berthd. The first process waits until the shim is ready (container created, socket
/// listening) and exits 0, or prints the error and exits 1; the shim itself carries on in a new
/// session so it outlives berthd, and exits when its container has.
if CommandLine.arguments.count == 2, ["--version", "-v"].contains(CommandLine.arguments[1]) {
    print("berth-shim version \(BerthVersion.release)")
    exit(0)
}
if CommandLine.arguments.count == 2, ["--help", "-h"].contains(CommandLine.arguments[1]) {
    print("Usage:  berth-shim [--delete] CONFIG.json\n\nThe per-container shim berthd starts: it creates the container through berth-runtime, holds its\nstdio, logs and exit status, and outlives berthd. --delete removes what a killed shim left;\n--pod-init is the init of a CRI pod's shared PID namespace. Not meant to be run by hand.")
    exit(0)
}
if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "--pod-init" { PodInit.run() }
// `--delete CONFIG.json`: what a killed shim left (containerd's `shim delete`), run by berthd at
// boot for starts a crash interrupted; the shim stays the only writer of the runtime's state.
let deleting = CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--delete"
guard CommandLine.arguments.count == (deleting ? 3 : 2), let bytes = try? FileIO.read(CommandLine.arguments.last ?? ""),
      let config = try? JSONDecoder().decode(ShimConfig.self, from: Data(bytes)) else {
    FileIO.stderr("usage: berth-shim [--delete] CONFIG.json (written by berthd)\n")
    exit(2)
}
if deleting {
    do { try Shim.cleanUp(config) } catch {
        FileIO.stderr("\(error)\n")
        exit(1)
    }
    exit(0)
}
var ready: [Int32] = [0, 0]
// Close-on-exec, so the container's processes do not hold the write end open.
guard berth_pipe_cloexec(&ready) == 0 else { exit(1) }
let child = fork()
if child > 0 {
    close(ready[1])
    var message = [UInt8](repeating: 0, count: 4096)
    var received: [UInt8] = []
    // "ok" ends the wait; the container's init (not yet exec'd) also holds the pipe, so EOF
    // only comes on failure.
    while received != Array("ok".utf8) {
        let n = read(ready[0], &message, message.count)
        if n <= 0 { break }
        received += message[0..<n]
    }
    if received == Array("ok".utf8) { exit(0) }
    FileIO.stderr(received.isEmpty ? "shim exited before the container was created\n" : String(decoding: received, as: UTF8.self) + "\n")
    exit(1)
}
close(ready[0])
setsid()
let devNull = open("/dev/null", O_RDWR)
dup2(devNull, 0); dup2(devNull, 1); dup2(devNull, 2)
let readyWrite = ready[1]
func failed(_ error: Error) -> Never {
    let text = Array("\(error)".utf8)
    _ = write(readyWrite, text, text.count)
    exit(1)
}
let shim: Shim
do { shim = try Shim(config: config) } catch { failed(error) }
do {
    try shim.create()
} catch {
    shim.abandon()  // an init created before the failure holds the ready pipe: it must go
    failed(error)
}
_ = write(readyWrite, "ok", 2)
close(readyWrite)
// Creating decoded the spec and forked; what that left on the heap and the stack goes back to
// the kernel before the shim settles in to wait, for as long as the container lives.
berth_release_idle_memory()
_ = shim.run()
exit(0)
