import BerthSystem
import Glibc

/// One published port: `HostIP:HostPort -> ContainerIP:ContainerPort/proto`.
public struct PortMapping: Codable, Hashable, Sendable {
    public var proto: String
    public var hostIP: String
    public var hostPort: Int
    public var containerIP: String
    public var containerPort: Int
    public init(proto: String, hostIP: String, hostPort: Int, containerIP: String, containerPort: Int) {
        self.proto = proto; self.hostIP = hostIP; self.hostPort = hostPort; self.containerIP = containerIP; self.containerPort = containerPort
    }
}

/// What one bridge network needs from netfilter.
public struct BridgeRules: Sendable {
    public var bridge: String
    public var subnet: Subnet
    public var isInternal: Bool
    public var ports: [PortMapping]
    public init(bridge: String, subnet: Subnet, isInternal: Bool, ports: [PortMapping]) {
        self.bridge = bridge; self.subnet = subnet; self.isInternal = isInternal; self.ports = ports
    }
}

/// An `--ipv6` network's IPv6 side: masquerade out, forwarding in and out (no published ports:
/// dockerd 20.10 reaches IPv6 ports through its userland proxy, which Berth does not run).
public struct BridgeRules6: Sendable {
    public var bridge: String
    public var subnet: Subnet6
    public var isInternal: Bool
    public init(bridge: String, subnet: Subnet6, isInternal: Bool) {
        self.bridge = bridge; self.subnet = subnet; self.isInternal = isInternal
    }
}

/// NAT and filtering for bridge networks through iptables (Debian's is the nf_tables backend).
///
/// Everything Berth adds lives in its own chains, jumped to once from the built-in ones; the
/// chains' whole content is regenerated from the live networks and ports in one
/// `iptables-restore --noflush` (a chain declared there is flushed first). So the rules are
/// derived state: a crash can leave none stale that the next change or boot does not replace.
///
/// The chains are named after the daemon (`BERTH` for the default exec root), so two daemons on
/// one host (tests, a second data root) never rewrite each other's rules.
public struct Netfilter: Sendable {
    let natChain: String, postChain: String, forwardChain: String

    public init(prefix: String = "BERTH") {
        natChain = prefix
        postChain = prefix + "-POSTROUTING"
        forwardChain = prefix + "-FORWARD"
    }

    /// `BERTH` for the default exec root, `BERTH-<hash>` (FNV-1a of the path) for any other.
    public static func prefix(execRoot: String) -> String {
        guard execRoot != "/run/berth" else { return "BERTH" }
        var hash: UInt32 = 2166136261
        for b in execRoot.utf8 { hash = (hash ^ UInt32(b)) &* 16777619 }
        return "BERTH-" + String(String(hash, radix: 16).suffix(6))
    }

    static func binary(_ name: String) throws(NetworkError) -> String {
        for dir in ["/usr/sbin/", "/sbin/", "/usr/bin/"] where FileIO.exists(dir + name) { return dir + name }
        throw .system("\(name) not found: install the iptables package")
    }

    /// Text for `iptables-restore --noflush`: the chains' full content.
    public func ruleset(_ networks: [BridgeRules]) -> String {
        var nat = ["*nat", ":\(natChain) - [0:0]", ":\(postChain) - [0:0]"]
        var filter = ["*filter", ":\(forwardChain) - [0:0]"]
        for n in networks.sorted(by: { $0.bridge < $1.bridge }) {
            let br = n.bridge
            if n.isInternal {
                filter += internalRules(br)
                continue
            }
            nat.append("-A \(postChain) -s \(n.subnet) ! -o \(br) -j MASQUERADE")
            // The host's own connections to a published port (127.0.0.1 included, with
            // route_localnet) reach the container from the gateway's address.
            nat.append("-A \(postChain) -o \(br) -m addrtype --src-type LOCAL -j MASQUERADE")
            filter += forwardRules(br)
            for p in n.ports.sorted(by: { ($0.hostPort, $0.proto) < ($1.hostPort, $1.proto) }) {
                let dst = p.hostIP.isEmpty || p.hostIP == "0.0.0.0" ? "" : " -d \(p.hostIP)"
                nat.append("-A \(natChain)\(dst) -p \(p.proto) -m \(p.proto) --dport \(p.hostPort) -j DNAT --to-destination \(p.containerIP):\(p.containerPort)")
                // Hairpin: a container reaching its own published port through the host.
                nat.append("-A \(postChain) -s \(p.containerIP) -d \(p.containerIP) -p \(p.proto) -m \(p.proto) --dport \(p.containerPort) -j MASQUERADE")
                filter.append("-A \(forwardChain) -d \(p.containerIP) ! -i \(br) -o \(br) -p \(p.proto) -m \(p.proto) --dport \(p.containerPort) -j ACCEPT")
            }
        }
        return (nat + ["COMMIT"] + filter + ["COMMIT"]).joined(separator: "\n") + "\n"
    }

    /// Text for `ip6tables-restore --noflush`: the same chains for the IPv6 side of `--ipv6` networks.
    public func ruleset6(_ networks: [BridgeRules6]) -> String {
        var nat = ["*nat", ":\(postChain) - [0:0]"]
        var filter = ["*filter", ":\(forwardChain) - [0:0]"]
        for n in networks.sorted(by: { $0.bridge < $1.bridge }) {
            let br = n.bridge
            if n.isInternal {
                filter += internalRules(br)
                continue
            }
            nat.append("-A \(postChain) -s \(n.subnet) ! -o \(br) -j MASQUERADE")
            filter += forwardRules(br)
        }
        return (nat + ["COMMIT"] + filter + ["COMMIT"]).joined(separator: "\n") + "\n"
    }

    /// An internal network: traffic stays on its bridge.
    func internalRules(_ br: String) -> [String] {
        ["-A \(forwardChain) -i \(br) ! -o \(br) -j DROP", "-A \(forwardChain) ! -i \(br) -o \(br) -j DROP",
         "-A \(forwardChain) -i \(br) -o \(br) -j ACCEPT"]
    }

    /// Replies back in, and anything out.
    func forwardRules(_ br: String) -> [String] {
        ["-A \(forwardChain) -o \(br) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A \(forwardChain) -i \(br) -j ACCEPT"]
    }

    /// Writes `rules` to a file under `spool` and loads it with `tool` (`iptables-restore`, `ip6tables-restore`).
    func restore(_ tool: String, _ rules: String, spool: String) throws(NetworkError) {
        let binary = try Self.binary(tool)
        let path = spool + "/" + tool + ".rules"
        do { try AtomicFile.write(path, Array(rules.utf8), durable: false) } catch {
            throw .system("write \(path): \(error)")
        }
        try Self.run(binary, ["--noflush", path])
    }

    /// Replaces the IPv6 chains' content and adds their jumps.
    public func apply6(_ networks: [BridgeRules6], spool: String) throws(NetworkError) {
        try restore("ip6tables-restore", ruleset6(networks), spool: spool)
        let ipt = try Self.binary("ip6tables")
        for (table, chain, target) in [("nat", "POSTROUTING", postChain), ("filter", "FORWARD", forwardChain)] {
            let check = (try? Subprocess.run(ipt, ["--wait", "-t", table, "-C", chain, "-j", target]))?.status
            if check != 0 { try Self.run(ipt, ["--wait", "-t", table, "-I", chain, "1", "-j", target]) }
        }
    }

    /// Replaces the chains' content; `spool` is a directory for the rules file.
    public func apply(_ networks: [BridgeRules], spool: String) throws(NetworkError) {
        try restore("iptables-restore", ruleset(networks), spool: spool)
        try installJumps()
    }

    /// The jumps from the built-in chains, added when missing (first of FORWARD, so a host
    /// policy of DROP, as dockerd sets it, does not stop containers' traffic).
    func installJumps() throws(NetworkError) {
        let ipt = try Self.binary("iptables")
        let jumps: [(String, String, [String])] = [
            ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", natChain]),
            ("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", natChain]),
            ("nat", "POSTROUTING", ["-j", postChain]),
            ("filter", "FORWARD", ["-j", forwardChain]),
        ]
        for (table, chain, rule) in jumps {
            let check = (try? Subprocess.run(ipt, ["--wait", "-t", table, "-C", chain] + rule))?.status
            if check != 0 { try Self.run(ipt, ["--wait", "-t", table, "-I", chain, "1"] + rule) }
        }
    }

    static func run(_ path: String, _ args: [String]) throws(NetworkError) {
        let result: (status: Int32, output: String)
        do { result = try Subprocess.run(path, args) } catch { throw .system("\(path): \(error)") }
        guard result.status == 0 else {
            throw .system("\(path.split(separator: "/").last ?? "") \(args.joined(separator: " ")): \(result.output.trimmed)")
        }
    }

    /// Routes 127.0.0.0/8 through a bridge, so DNAT of the host's loopback connections to a
    /// container's address is not dropped as martian.
    public static func allowLocalnet(bridge: String) throws(NetworkError) {
        let path = "/proc/sys/net/ipv4/conf/\(bridge)/route_localnet"
        do { try FileIO.write(path, "1") } catch { throw .system("unable to enable route_localnet on \(bridge) (\(path)): \(error)") }
    }
}

/// Orders rule loads made off the actor that computes the rules: two callers that computed their
/// sets one after the other may reach the blocking pool in the other order, and only the newer set
/// describes the live containers, so an older one is skipped. One load at a time: they share the
/// spool file and each rewrites the whole of Berth's chains.
public final class RuleLoads: @unchecked Sendable {
    private let lock = Lock()
    private var loaded: UInt64 = 0

    public init() {}

    public func load(generation: UInt64, _ body: () throws -> Void) rethrows {
        try lock.locked {
            guard generation > loaded else { return }
            try body()
            loaded = generation
        }
    }
}
