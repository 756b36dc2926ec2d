import BerthCLI
import BerthSystem
import Glibc

/// berth [-H unix:///path] COMMAND …: the socket comes from -H, BERTH_HOST, DOCKER_HOST, or
/// /run/berth/berth.sock; on that default socket a missing daemon is started.
var argv = Array(CommandLine.arguments.dropFirst())
var host: String?
while let first = argv.first, first.hasPrefix("-H") || first == "--host" || first.hasPrefix("--host=") {
    argv.removeFirst()
    if first.contains("=") { host = String(first.split(separator: "=", maxSplits: 1)[1]) }
    else if first.count > 2 { host = String(first.dropFirst(2)) }
    else if !argv.isEmpty { host = argv.removeFirst() }
}
let explicit = host ?? getenv("BERTH_HOST").map { String(cString: $0) } ?? getenv("DOCKER_HOST").map { String(cString: $0) }
let address = explicit ?? "unix:///run/berth/berth.sock"
guard address.hasPrefix("unix://") else {
    FileIO.stderr("berth: only unix:// daemon addresses are supported, got \(address)\n")
    exit(1)
}
let socket = String(address.dropFirst(7))
// help and the version need no daemon: none is started for them
let offline = argv.isEmpty || argv.contains("--help") || ["help", "--version", "-v", "completion"].contains(argv[0])
if explicit == nil && !offline && !FileIO.exists(socket) { DaemonLauncher.start(socket: socket) }
exit(CLI(client: APIClient(socket: socket)).main(argv))
