import BerthAPI
import BerthCRI
import BerthCgroups
import BerthDiagnostics
import BerthEngine
import BerthImage
import BerthNetwork
import BerthRegistry
import BerthServer
import BerthSnapshot
import BerthSystem
import BerthVolume
import FoundationEssentials
import Glibc
import Logging

/// berthd [OPTIONS]: the flags are in `daemonFlags` (and `berthd --help`); each may also be set in
/// daemon.json, read into `DaemonJSON` with dockerd's strictness.
struct DaemonJSON: Decodable {
    var dataRoot: String?
    var execRoot: String?
    var storageDriver: String?
    var hosts: [String]?
    var logLevel: String?
    var debug: Bool?
    var liveRestore: Bool?
    var logOpts: [String: String]?
    var logDriver: String?
    var registryMirrors: [String]?
    var insecureRegistries: [String]?
    var defaultUlimits: [String: UlimitJSON]?
    var bip: String?
    var bridge: String?
    var iptables: Bool?
    var mtu: Int?
    var maxConcurrentDownloads: Int?
    var maxConcurrentUploads: Int?
    var tls: Bool?
    var usernsRemap: String?
    var tlsVerify: Bool?
    var tlsCACert: String?
    var tlsCert: String?
    var tlsKey: String?
    var cri: Bool?
    var criSocket: String?
    var criStreamingAddress: String?
    var cniConfDir: String?
    var cniBinDir: String?
    var cpuRtPeriod: Int64?
    var cpuRtRuntime: Int64?
    var defaultAddressPools: [PoolJSON]?
    struct UlimitJSON: Decodable { var Name: String?; var Soft: Int64; var Hard: Int64 }
    struct PoolJSON: Decodable { var base: String; var size: Int }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataRoot = "data-root", execRoot = "exec-root", storageDriver = "storage-driver", hosts, logLevel = "log-level", debug
        case liveRestore = "live-restore", logOpts = "log-opts", logDriver = "log-driver", registryMirrors = "registry-mirrors"
        case insecureRegistries = "insecure-registries", defaultUlimits = "default-ulimits", bip, bridge, iptables, mtu
        case maxConcurrentDownloads = "max-concurrent-downloads", maxConcurrentUploads = "max-concurrent-uploads"
        case usernsRemap = "userns-remap"
        case tls, tlsVerify = "tlsverify", tlsCACert = "tlscacert", tlsCert = "tlscert", tlsKey = "tlskey"
        case cri, criSocket = "cri-socket", criStreamingAddress = "cri-streaming-address", cniConfDir = "cni-conf-dir", cniBinDir = "cni-bin-dir"
        case cpuRtPeriod = "cpu-rt-period", cpuRtRuntime = "cpu-rt-runtime", defaultAddressPools = "default-address-pools"
    }
}

func fail(_ message: String) -> Never {
    FileIO.stderr("berthd: \(message)\n")
    exit(1)
}

/// Every flag berthd takes, in dockerd's spelling and words: the parser and `--help` both read
/// this table. `kind` is nil for a boolean (`--iptables=false` also works); a repeated flag keeps
/// every value.
struct DaemonFlag {
    let short: Character?
    let long: String
    let kind: String?
    let help: String
}
let daemonFlags: [DaemonFlag] = [
    .init(short: "b", long: "bridge", kind: "string", help: "Attach containers to a network bridge (\"none\" for no default bridge; default berth0)"),
    .init(short: nil, long: "bip", kind: "string", help: "Specify network bridge IP"),
    .init(short: nil, long: "cni-bin-dir", kind: "string", help: "Directories of the CNI plugins for pods, colon-separated (default \"/usr/lib/cni:/opt/cni/bin\")"),
    .init(short: nil, long: "cni-conf-dir", kind: "string", help: "Directory of the CNI network configuration for pods (default \"/etc/cni/net.d\")"),
    .init(short: nil, long: "config-file", kind: "string", help: "Daemon configuration file (default \"/etc/berth/daemon.json\")"),
    .init(short: nil, long: "cpu-rt-period", kind: "int", help: "Limit the CPU real-time period in microseconds for the parent cgroup for all containers (not supported with cgroups v2)"),
    .init(short: nil, long: "cpu-rt-runtime", kind: "int", help: "Limit the CPU real-time runtime in microseconds for the parent cgroup for all containers (not supported with cgroups v2)"),
    .init(short: nil, long: "cri", kind: nil, help: "Serve the Kubernetes Container Runtime Interface (CRI v1) (default true)"),
    .init(short: nil, long: "cri-socket", kind: "string", help: "Socket of the CRI server (default \"/run/berth/cri.sock\", in the exec root)"),
    .init(short: nil, long: "cri-streaming-address", kind: "string", help: "Address of the CRI streaming server for exec, attach and port-forward (default \"127.0.0.1:0\": a free port)"),
    .init(short: nil, long: "data-root", kind: "string", help: "Root directory of persistent Berth state (default \"/var/lib/berth\")"),
    .init(short: "D", long: "debug", kind: nil, help: "Enable debug mode"),
    .init(short: nil, long: "default-address-pool", kind: "pool-options", help: "Default address pools for node specific local networks (base=CIDR,size=N; repeatable)"),
    .init(short: nil, long: "exec-root", kind: "string", help: "Root directory for execution state files (default \"/run/berth\")"),
    .init(short: "h", long: "help", kind: nil, help: "Print usage"),
    .init(short: "H", long: "host", kind: "list", help: "Daemon socket(s) to connect to (default unix:///run/berth/berth.sock)"),
    .init(short: nil, long: "insecure-registry", kind: "list", help: "Enable insecure registry communication"),
    .init(short: nil, long: "iptables", kind: nil, help: "Enable addition of iptables rules (default true)"),
    .init(short: "l", long: "log-level", kind: "string", help: "Set the logging level (\"debug\"|\"info\"|\"warn\"|\"error\"|\"fatal\") (default \"info\")"),
    .init(short: nil, long: "max-concurrent-downloads", kind: "int", help: "Set the max concurrent downloads (default 3)"),
    .init(short: nil, long: "mtu", kind: "int", help: "Set the containers network MTU (default 1500)"),
    .init(short: nil, long: "registry-mirror", kind: "list", help: "Preferred registry mirror"),
    .init(short: "s", long: "storage-driver", kind: "string", help: "Storage driver to use (overlay2 or vfs; default: overlay2 where the file system supports it)"),
    .init(short: nil, long: "tls", kind: nil, help: "Use TLS; implied by --tlsverify"),
    .init(short: nil, long: "tlscacert", kind: "string", help: "Trust certs signed only by this CA (default \"~/.docker/ca.pem\")"),
    .init(short: nil, long: "tlscert", kind: "string", help: "Path to TLS certificate file (default \"~/.docker/cert.pem\")"),
    .init(short: nil, long: "tlskey", kind: "string", help: "Path to TLS key file (default \"~/.docker/key.pem\")"),
    .init(short: nil, long: "tlsverify", kind: nil, help: "Use TLS and verify the remote"),
    .init(short: nil, long: "log-driver", kind: "string", help: "Default driver for container logs (json-file, local or none) (default \"json-file\")"),
    .init(short: nil, long: "userns-remap", kind: "string", help: "User/Group setting for user namespaces (\"default\" or USER[:GROUP])"),
    .init(short: "v", long: "version", kind: nil, help: "Print version information and quit"),
]

func daemonUsage() -> String {
    let rows = daemonFlags.map { flag -> (String, String) in
        ((flag.short.map { "  -\($0), " } ?? "      ") + "--\(flag.long)" + (flag.kind.map { " " + $0 } ?? ""), flag.help)
    }
    let width = (rows.map(\.0.count).max() ?? 0) + 3
    return "\nUsage:\tberthd [OPTIONS]\n\nA self-sufficient runtime for containers: serves the Docker Engine API.\n"
        + "Every option can also be set in the configuration file (--config-file), under the same name.\n\nOptions:\n"
        + rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + $0.1 + "\n" }.joined()
}

/// The flags given on the command line: the last value of each, and every value of the lists.
var overrides: [String: String] = [:]
var lists: [String: [String]] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let arg = args.removeFirst()
    let named = arg.hasPrefix("--") ? String(arg.dropFirst(2).prefix { $0 != "=" }) : nil
    let inline: String? = arg.firstIndex(of: "=").map { String(arg[arg.index(after: $0)...]) }
    guard let flag = daemonFlags.first(where: { named != nil ? $0.long == named : arg.count >= 2 && arg.hasPrefix("-") && $0.short == arg.dropFirst().first })
    else { fail("unknown flag: \(arg)") }
    let value: String
    if flag.kind == nil {
        value = inline ?? "true"
    } else if let inline {
        value = inline
    } else if named == nil, arg.count > 2 {
        value = String(arg.dropFirst(2))  // -Hunix:///x
    } else {
        guard !args.isEmpty else { fail("flag needs an argument: \(arg)") }
        value = args.removeFirst()
    }
    overrides[flag.long] = value
    lists[flag.long, default: []].append(value)
}
if overrides["help"] == "true" { print(daemonUsage()); exit(0) }
if overrides["version"] == "true" { print("Berth version \(BerthVersion.release)"); exit(0) }
var hosts = lists["host"] ?? []
/// A file named with --config-file must exist; the default one may not.
let configFileGiven = overrides["config-file"] != nil
let configFile = overrides["config-file"] ?? "/etc/berth/daemon.json"
var file = DaemonJSON()
// As dockerd: a named file that cannot be read, a malformed one, an unknown key or a value of the
// wrong type stops the daemon with the file, the key and the reason.
let configBytes: [UInt8]?
do { configBytes = try FileIO.read(configFile) } catch let e as SystemError where e.errno == ENOENT && !configFileGiven {
    configBytes = nil
} catch {
    fail("unable to configure the Berth daemon with file \(configFile): \(error)")
}
if let bytes = configBytes {
    do {
        let keys = try WireDecoder.objectKeys(bytes)
        let unknown = keys.filter { key in !DaemonJSON.CodingKeys.allCases.contains { $0.rawValue == key } }.sorted()
        if !unknown.isEmpty {
            fail("unable to configure the Berth daemon with file \(configFile): the following directives don't match any configuration option: \(unknown.joined(separator: ", "))")
        }
        file = try WireDecoder.decode(DaemonJSON.self, from: bytes)
    } catch {
        fail("unable to configure the Berth daemon with file \(configFile): \(error)")
    }
}
// As dockerd: --debug (or "debug": true) means the debug level, whatever the level says.
let levelName = overrides["log-level"] ?? file.logLevel ?? "info"
guard var logLevel = DaemonLogHandler.level(parsing: levelName) else { fail("unable to parse logging level: \(levelName)") }
if overrides["debug"].map({ $0 != "false" }) ?? file.debug ?? false { logLevel = .debug }
LoggingSystem.bootstrap { _ in DaemonLogHandler(level: logLevel) }
let log = Logger(label: "berth.daemon")

let dataRoot = overrides["data-root"] ?? file.dataRoot ?? "/var/lib/berth"
let execRoot = overrides["exec-root"] ?? file.execRoot ?? "/run/berth"
let driverName = overrides["storage-driver"] ?? file.storageDriver
if hosts.isEmpty { hosts = file.hosts ?? ["unix://" + execRoot + "/berth.sock"] }
let binDir = FileIO.executableDirectory()
signal(SIGPIPE, SIG_IGN)
// A hangup (a closed terminal, or `kill -HUP`, which dockerd takes as "reload daemon.json") must
// not end the daemon; Berth does not reload its configuration yet: restart it to apply changes.
signal(SIGHUP, SIG_IGN)

do {
    try FileIO.makeDirectories(dataRoot, mode: 0o711)
    _ = try EngineIdentity.id(dataRoot: dataRoot)  // made at first boot, kept for good
    try FileIO.makeDirectories(execRoot, mode: 0o711)
    let snapshotter: any Snapshotter
    let overlayRoot = dataRoot + "/overlay2"
    switch driverName {
    case "vfs": snapshotter = try VFSSnapshotter(root: dataRoot + "/vfs")
    case "overlay2", "overlay":
        guard OverlaySnapshotter.isSupported(root: dataRoot) else { fail("storage driver overlay2 is not supported on this file system") }
        snapshotter = try OverlaySnapshotter(root: overlayRoot)
    case nil:
        snapshotter = OverlaySnapshotter.isSupported(root: dataRoot) ? try OverlaySnapshotter(root: overlayRoot) : try VFSSnapshotter(root: dataRoot + "/vfs")
    default: fail("unknown storage driver \(driverName!): use overlay2 or vfs")
    }
    let images = try ImageStore(root: dataRoot, snapshotter: snapshotter)
    var config = EngineConfig(dataRoot: dataRoot, execRoot: execRoot, storageDriver: snapshotter.driver, shimPath: binDir + "/berth-shim",
                              logMaxSize: file.logOpts?["max-size"].flatMap(ContainerService.parseSize) ?? 0,
                              logMaxFiles: file.logOpts?["max-file"].flatMap { Int($0) } ?? 1,
                              defaultUlimits: (file.defaultUlimits ?? [:]).mapValues { (soft: $0.Soft, hard: $0.Hard) },
                              liveRestore: file.liveRestore ?? true)
    if let driver = overrides["log-driver"] ?? file.logDriver, !driver.isEmpty {
        guard ContainerService.logDriverNames.contains(driver) else { fail("unknown log driver \(driver): use json-file, local or none") }
        config.logDriver = driver
    }
    for (flag, value) in [("cpu-rt-period", file.cpuRtPeriod), ("cpu-rt-runtime", file.cpuRtRuntime)] {
        guard let text = overrides[flag] ?? value.map(String.init) else { continue }
        guard let n = Int64(text), n >= 0 else { fail("invalid value \"\(text)\" for --\(flag): a number of microseconds") }
        guard n == 0 || CgroupFeatures.host.cpuRealtime else { fail("--\(flag): Your kernel does not support CPU real-time scheduler") }
        if flag == "cpu-rt-period" { config.cpuRealtime.period = n } else { config.cpuRealtime.runtime = n }
    }
    if let remap = (overrides["userns-remap"] ?? file.usernsRemap).flatMap({ $0.isEmpty ? nil : $0 }) {
        let range = try SubordinateIDs.resolve(remap)
        config.remap = try IDMap(uid: range.uid, gid: range.gid, size: range.size)
        log.info("user namespaces: container root is \(range.uid):\(range.gid) on the host (\(range.size) IDs)")
    }
    let bridge = overrides["bridge"] ?? file.bridge ?? "berth0"
    // as dockerd: the flags' pools replace the file's, and either replaces Docker's own
    let pools: [SubnetPools.Pool]
    do {
        pools = try lists["default-address-pool"].map { try $0.map { text throws(NetworkError) in try SubnetPools.Pool(parsing: text) } }
            ?? (file.defaultAddressPools ?? []).map { pool throws(NetworkError) in try SubnetPools.Pool(base: try Subnet(parsing: pool.base), size: pool.size) }
    } catch { fail("\(error)") }
    let networks = try NetworkService(config: NetworkConfig(defaultBridge: bridge == "none" ? nil : bridge, bip: overrides["bip"] ?? file.bip,
                                                            iptables: overrides["iptables"].map { $0 != "false" } ?? file.iptables ?? true,
                                                            mtu: overrides["mtu"].flatMap { Int($0) } ?? file.mtu ?? 1500,
                                                            addressPools: pools.isEmpty ? .docker : SubnetPools(pools)),
                                      dataRoot: dataRoot, execRoot: execRoot)
    let events = EventLog()
    let containers = try ContainerService(config: config, images: images, networks: networks,
                                          volumes: VolumeService(store: try VolumeStore(root: dataRoot + "/volumes"), events: events),
                                          events: events)
    await containers.restore()
    // After the containers' own sweep: layers only their orphaned snapshots held become free.
    for note in try await images.repair() { log.warning("repair: \(note)") }
    // On disk next to the layers, not in /run's tmpfs: uploads and saves can be gigabytes.
    let spool = dataRoot + "/tmp"
    log.attempt("clearing the spool \(spool)") { try FileIO.removeTree(spool) }
    try FileIO.makeDirectories(spool, mode: 0o700)
    let hostsConfig = try RegistryHosts(mirrors: (file.registryMirrors ?? []) + (lists["registry-mirror"] ?? []),
                                        insecure: (file.insecureRegistries ?? []) + (lists["insecure-registry"] ?? []))
    let registry = Registry(hosts: hostsConfig) { log.info("registry: \($0)") }
    let downloads = overrides["max-concurrent-downloads"].flatMap { Int($0) } ?? file.maxConcurrentDownloads ?? 3
    let server = HTTPServer(containers: containers, images: images, registry: registry,
                            buildCache: try BuildCache(root: dataRoot + "/build"), dataRoot: dataRoot, spool: spool,
                            maxConcurrentDownloads: max(1, downloads), maxConcurrentUploads: max(1, file.maxConcurrentUploads ?? 5))
    // dockerd's defaults: --tlsverify implies --tls; certificates from DOCKER_CERT_PATH or ~/.docker.
    let tlsVerify = overrides["tlsverify"].map { $0 != "false" } ?? file.tlsVerify ?? false
    let certPath = ProcessInfo.processInfo.environment["DOCKER_CERT_PATH"] ?? ((ProcessInfo.processInfo.environment["HOME"] ?? "/root") + "/.docker")
    let tls = (overrides["tls"].map { $0 != "false" } ?? file.tls ?? false) || tlsVerify
        ? TLSServerOptions(certFile: overrides["tlscert"] ?? file.tlsCert ?? certPath + "/cert.pem", keyFile: overrides["tlskey"] ?? file.tlsKey ?? certPath + "/key.pem",
                           caFile: overrides["tlscacert"] ?? file.tlsCACert ?? certPath + "/ca.pem", verify: tlsVerify)
        : nil
    try await server.listen(hosts, tls: tls)
    if overrides["cri"].map({ $0 != "false" }) ?? file.cri ?? true {
        let socket = overrides["cri-socket"] ?? file.criSocket ?? execRoot + "/cri.sock"
        let criLog = Logger(label: "berth.cri")
        let runtime = try CRIRuntime(containers: containers, stateRoot: dataRoot + "/cri/sandboxes", runRoot: execRoot + "/cri",
                                     cniConfigDirectory: overrides["cni-conf-dir"] ?? file.cniConfDir ?? "/etc/cni/net.d",
                                     cniBinDirectories: (overrides["cni-bin-dir"] ?? file.cniBinDir ?? "/usr/lib/cni:/opt/cni/bin").split(separator: ":").map(String.init),
                                     shimPath: config.shimPath, log: criLog)
        let streaming = overrides["cri-streaming-address"] ?? file.criStreamingAddress ?? "127.0.0.1:0"
        guard let colon = streaming.lastIndex(of: ":"), let port = Int(streaming[streaming.index(after: colon)...]), (0...65535).contains(port) else {
            fail("invalid cri-streaming-address \"\(streaming)\": want host:port")
        }
        try await runtime.streaming.start(host: String(streaming[..<colon].filter { $0 != "[" && $0 != "]" }), port: port,
                                          group: server.group)
        let cri = try CRIServer(socket: socket, runtime: runtime,
                                images: CRIImages(store: images, containers: containers, registry: registry, maxConcurrentDownloads: max(1, downloads),
                                                  layerRoot: snapshotter.driver == "vfs" ? dataRoot + "/vfs" : overlayRoot, log: criLog),
                                group: server.group, log: criLog)
        cri.run()
        log.info("CRI listen on \(socket)")
    }
    log.info("Daemon has completed initialization", metadata: ["storage-driver": "\(snapshotter.driver)"])
    for host in hosts { log.info("API listen on \(host.hasPrefix("unix://") ? String(host.dropFirst(7)) : host)") }
    while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
} catch {
    fail("\(error)")
}
