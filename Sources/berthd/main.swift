import BerthAPI
import BerthEngine
import BerthImage
import BerthRegistry
import BerthServer
import BerthSnapshot
import BerthSystem
import BerthVolume
import FoundationEssentials
import Glibc
import Logging

/// berthd [-H unix:///run/berth/berth.sock]… [--data-root DIR] [--exec-root DIR] [--storage-driver overlay2|vfs]
///        [--registry-mirror URL]… [--insecure-registry HOST]… [--max-concurrent-downloads N]
///        [--bridge NAME|none] [--bip CIDR] [--iptables=false] [--mtu N] [--config-file /etc/berth/daemon.json]
///        [--log-level debug|info|warn|error|fatal] [-D]
///        [--userns-remap default|USER[:GROUP]] [--tls] [--tlsverify] [--tlscacert FILE] [--tlscert FILE] [--tlskey FILE]
struct DaemonJSON: Decodable {
    var dataRoot: String?
    var execRoot: String?
    var storageDriver: String?
    var hosts: [String]?
    var logLevel: String?
    var debug: Bool?
    var liveRestore: Bool?
    var logOpts: [String: String]?
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
    struct UlimitJSON: Decodable { var Name: String?; var Soft: Int64; var Hard: Int64 }
    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataRoot = "data-root", execRoot = "exec-root", storageDriver = "storage-driver", hosts, logLevel = "log-level", debug
        case liveRestore = "live-restore", logOpts = "log-opts", registryMirrors = "registry-mirrors"
        case insecureRegistries = "insecure-registries", defaultUlimits = "default-ulimits", bip, bridge, iptables, mtu
        case maxConcurrentDownloads = "max-concurrent-downloads", maxConcurrentUploads = "max-concurrent-uploads"
        case usernsRemap = "userns-remap"
        case tls, tlsVerify = "tlsverify", tlsCACert = "tlscacert", tlsCert = "tlscert", tlsKey = "tlskey"
    }
}

func fail(_ message: String) -> Never {
    FileIO.stderr("berthd: \(message)\n")
    exit(1)
}

var args = Array(CommandLine.arguments.dropFirst())
var hosts: [String] = []
var configFile = "/etc/berth/daemon.json"
/// A file named with --config-file must exist; the default one may not.
var configFileGiven = false
var overrides: [String: String] = [:]
while !args.isEmpty {
    let arg = args.removeFirst()
    func value() -> String {
        if let eq = arg.firstIndex(of: "=") { return String(arg[arg.index(after: eq)...]) }
        guard !args.isEmpty else { fail("flag needs an argument: \(arg)") }
        return args.removeFirst()
    }
    switch arg.split(separator: "=").first.map(String.init) ?? arg {
    case "-H", "--host": hosts.append(value())
    case "--data-root": overrides["data-root"] = value()
    case "--exec-root": overrides["exec-root"] = value()
    case "--storage-driver", "-s": overrides["storage-driver"] = value()
    case "--config-file": configFile = value(); configFileGiven = true
    case "--registry-mirror": overrides["registry-mirror", default: ""] += value() + " "
    case "--insecure-registry": overrides["insecure-registry", default: ""] += value() + " "
    case "--max-concurrent-downloads": overrides["max-concurrent-downloads"] = value()
    case "-b", "--bridge": overrides["bridge"] = value()
    case "--bip": overrides["bip"] = value()
    case "--mtu": overrides["mtu"] = value()
    case "--iptables": overrides["iptables"] = arg.contains("=") ? value() : "true"
    case "--tls", "--tlsverify": overrides[String(arg.dropFirst(2).prefix { $0 != "=" })] = arg.contains("=") ? value() : "true"
    case "--userns-remap": overrides["userns-remap"] = value()
    case "--tlscacert", "--tlscert", "--tlskey": overrides[String(arg.dropFirst(2).prefix { $0 != "=" })] = value()
    case "-l", "--log-level": overrides["log-level"] = value()
    case "-D", "--debug": overrides["debug"] = arg.contains("=") ? value() : "true"
    case "--version", "-v": print("Berth version 28.0.0-berth"); exit(0)
    default: fail("unknown flag: \(arg)")
    }
}
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
    if let remap = (overrides["userns-remap"] ?? file.usernsRemap).flatMap({ $0.isEmpty ? nil : $0 }) {
        let range = try SubordinateIDs.resolve(remap)
        config.remap = try IDMap(uid: range.uid, gid: range.gid, size: range.size)
        log.info("user namespaces: container root is \(range.uid):\(range.gid) on the host (\(range.size) IDs)")
    }
    let bridge = overrides["bridge"] ?? file.bridge ?? "berth0"
    let networks = try NetworkService(config: NetworkConfig(defaultBridge: bridge == "none" ? nil : bridge, bip: overrides["bip"] ?? file.bip,
                                                            iptables: overrides["iptables"].map { $0 != "false" } ?? file.iptables ?? true,
                                                            mtu: overrides["mtu"].flatMap { Int($0) } ?? file.mtu ?? 1500),
                                      dataRoot: dataRoot, execRoot: execRoot)
    let containers = try ContainerService(config: config, images: images, networks: networks,
                                          volumes: try VolumeStore(root: dataRoot + "/volumes"), events: EventLog())
    await containers.restore()
    // After the containers' own sweep: layers only their orphaned snapshots held become free.
    for note in try await images.repair() { log.warning("repair: \(note)") }
    // On disk next to the layers, not in /run's tmpfs: uploads and saves can be gigabytes.
    let spool = dataRoot + "/tmp"
    try? FileIO.removeTree(spool)
    try FileIO.makeDirectories(spool, mode: 0o700)
    func words(_ key: String) -> [String] { overrides[key].map { $0.split(separator: " ").map(String.init) } ?? [] }
    let hostsConfig = try RegistryHosts(mirrors: (file.registryMirrors ?? []) + words("registry-mirror"),
                                        insecure: (file.insecureRegistries ?? []) + words("insecure-registry"))
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
    log.info("Daemon has completed initialization", metadata: ["storage-driver": "\(snapshotter.driver)"])
    for host in hosts { log.info("API listen on \(host.hasPrefix("unix://") ? String(host.dropFirst(7)) : host)") }
    while true { try await Task.sleep(nanoseconds: 3_600_000_000_000) }
} catch {
    fail("\(error)")
}
