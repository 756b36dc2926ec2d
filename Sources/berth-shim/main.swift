import BerthShimCore
import BerthShimProtocol
import BerthSystem
import CBerthLinux
import CSelfSeal
import Glibc

/// berth-shim CONFIG.json
///
/// berthd forks each container's shim from `--template`; exec'd with a config, as here, the
/// first process waits until the shim is ready (container created, socket listening) and
/// exits 0, or prints the error and exits 1; the shim itself carries on in a new session so it
/// outlives berthd, and exits when its container has.
if CommandLine.arguments.count == 2, ["--version", "-v"].contains(CommandLine.arguments[1]) {
    print("berth-shim version \(BerthVersion.release)")
    exit(0)
}
if CommandLine.arguments.count == 2, ["--help", "-h"].contains(CommandLine.arguments[1]) {
    print("Usage:  berth-shim [--delete] CONFIG.json\n\nThe per-container shim berthd starts: it creates the container through berth-runtime, holds its\nstdio, logs and exit status, and outlives berthd. --delete removes what a killed shim left;\n--pod-init is the init of a CRI pod's shared PID namespace; --template is berthd's warm shim,\nwhich forks the shims. Not meant to be run by hand.")
    exit(0)
}
let deleting = CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--delete"
// Every other mode puts processes into containers: the template forks every container's init and
// exec'd process, and a pod's PID namespace init lives in the pod. They run from a read-only copy
// of this binary (CVE-2019-5736; see CSelfSeal), which the template's forks inherit for free.
if !deleting { berth_run_sealed(CommandLine.unsafeArgv, environ) }
if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "--pod-init" { PodInit.run() }
// `--template ROOM`: berthd's warm shim, which forks the shims (ROOM only makes its command line
// long enough to be overwritten with theirs).
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--template" { ShimTemplate.serve() }
// `--delete CONFIG.json`: what a killed shim left (containerd's `shim delete`), run by berthd at
// boot for starts a crash interrupted; the shim stays the only writer of the runtime's state.
guard CommandLine.arguments.count == (deleting ? 3 : 2), let config = Shim.loadConfig(CommandLine.arguments.last ?? "") else {
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
    guard let failure = ShimReady.await(ready[0]) else { exit(0) }
    FileIO.stderr(failure + "\n")
    exit(1)
}
close(ready[0])
Shim.serve(config, report: ready[1])
