import BerthSystem
import FoundationEssentials
import Glibc

/// Any JSON value, kept as read: CNI plugin configurations are passed through to the plugins
/// untouched but for the keys the runtime adds (`name`, `cniVersion`, `prevResult`,
/// `runtimeConfig`).
public indirect enum CNIValue: Codable, Equatable, Sendable {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([CNIValue]), object([String: CNIValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([CNIValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: CNIValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public subscript(key: String) -> CNIValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
}

/// A network configuration list (`*.conflist`, or a single plugin's `*.conf`), as libcni loads it.
public struct CNINetwork: Sendable {
    public let name: String
    public let cniVersion: String
    public let plugins: [[String: CNIValue]]
    /// Where it was read from, for messages.
    public let file: String

    /// The first configuration in `directory` in lexical order, as the kubelet's runtimes pick
    /// it; nil when there is none.
    public static func load(directory: String) throws(NetworkError) -> CNINetwork? {
        let names = ((try? FileIO.listDirectory(directory)) ?? []).filter { $0.hasSuffix(".conflist") || $0.hasSuffix(".conf") || $0.hasSuffix(".json") }.sorted()
        guard let first = names.first else { return nil }
        let path = directory + "/" + first
        let value: CNIValue
        do { value = try JSONDecoder().decode(CNIValue.self, from: Data(try FileIO.read(path))) } catch {
            throw .invalid("CNI configuration \(path): \(error)")
        }
        guard case .object(var top) = value else { throw .invalid("CNI configuration \(path): not a JSON object") }
        let version = top["cniVersion"]?.string ?? "0.4.0"
        guard let name = top["name"]?.string, !name.isEmpty else { throw .invalid("CNI configuration \(path): no network name") }
        if case .array(let list)? = top["plugins"] {
            let plugins = list.compactMap { entry -> [String: CNIValue]? in if case .object(let o) = entry { return o }; return nil }
            guard !plugins.isEmpty, plugins.allSatisfy({ $0["type"]?.string != nil }) else {
                throw .invalid("CNI configuration \(path): every plugin needs a type")
            }
            return CNINetwork(name: name, cniVersion: version, plugins: plugins, file: path)
        }
        guard top["type"]?.string != nil else { throw .invalid("CNI configuration \(path): no plugin type") }
        top["name"] = nil
        top["cniVersion"] = nil
        return CNINetwork(name: name, cniVersion: version, plugins: [top], file: path)
    }
}

/// One attachment's identity, as the plugins key their state (IP leases, portmap chains) on it.
public struct CNIAttachment: Sendable {
    public var containerID: String
    public var netns: String
    public var ifName = "eth0"
    /// `K8S_POD_NAMESPACE`, `K8S_POD_NAME`, … passed in CNI_ARGS.
    public var args: [(String, String)] = []
    /// Capability arguments (`portMappings`, `dns`, …), given to the plugins that declare them.
    public var capabilities: [String: CNIValue] = [:]

    public init(containerID: String, netns: String, args: [(String, String)] = [], capabilities: [String: CNIValue] = [:]) {
        self.containerID = containerID; self.netns = netns; self.args = args; self.capabilities = capabilities
    }
}

/// The CNI protocol (SPEC.md, 0.4/1.0): each plugin of a list run in order for ADD with the
/// previous plugin's result, in reverse for DEL; the result of an ADD is kept so its DEL gets it.
public struct CNI: Sendable {
    public let binDirectories: [String]
    /// ADD results, by network and container (libcni's cache, here under the exec root).
    public let cacheDirectory: String

    public init(binDirectories: [String], cacheDirectory: String) {
        self.binDirectories = binDirectories
        self.cacheDirectory = cacheDirectory
    }

    /// The addresses the network gave, as `10.88.0.5/16`.
    public struct Result: Sendable {
        public let raw: CNIValue
        public var addresses: [String] {
            guard case .array(let ips)? = raw["ips"] else { return [] }
            return ips.compactMap { $0["address"]?.string }
        }
    }

    /// Plugins that only pass the previous result on when a capability argument is absent or
    /// empty: portmap's ADD and DEL return at once without `portMappings` (plugins/meta/portmap),
    /// so a pod without hostPorts is spared its exec (a Go binary's start, ~5 ms) both ways.
    static let inertWithout = ["portmap": "portMappings"]

    func isInert(_ plugin: [String: CNIValue], _ attachment: CNIAttachment, previous: CNIValue?) -> Bool {
        guard let type = plugin["type"]?.string, let capability = Self.inertWithout[type], previous != nil else { return false }
        guard case .object(let declared)? = plugin["capabilities"], declared[capability] == .bool(true) else { return true }
        switch attachment.capabilities[capability] {
        case .array(let items)?: return items.isEmpty
        case nil, .null?: return true
        default: return false
        }
    }

    public func add(_ network: CNINetwork, _ attachment: CNIAttachment) throws(NetworkError) -> Result {
        var previous: CNIValue?
        for plugin in network.plugins where !isInert(plugin, attachment, previous: previous) {
            previous = try invoke("ADD", network, plugin, attachment, previous: previous)
        }
        let result = Result(raw: previous ?? .object([:]))
        do {
            try FileIO.makeDirectories(cacheDirectory, mode: 0o700)
            try AtomicFile.write(cachePath(network, attachment), Array(try JSONEncoder().encode(result.raw)), mode: 0o600)
        } catch {
            throw .system("saving the CNI result of \(attachment.containerID): \(error)")
        }
        return result
    }

    /// Every plugin is asked even when one fails (a DEL must release what it can); the first
    /// failure is reported.
    public func delete(_ network: CNINetwork, _ attachment: CNIAttachment) throws(NetworkError) {
        let cached = try? JSONDecoder().decode(CNIValue.self, from: Data(try FileIO.read(cachePath(network, attachment))))
        var failure: NetworkError?
        for plugin in network.plugins.reversed() where !isInert(plugin, attachment, previous: cached) {
            do { _ = try invoke("DEL", network, plugin, attachment, previous: cached) } catch { failure = failure ?? error }
        }
        unlink(cachePath(network, attachment))
        if let failure { throw failure }
    }

    func cachePath(_ network: CNINetwork, _ attachment: CNIAttachment) -> String {
        cacheDirectory + "/" + network.name + "-" + attachment.containerID + "-" + attachment.ifName
    }

    func invoke(_ command: String, _ network: CNINetwork, _ plugin: [String: CNIValue], _ attachment: CNIAttachment,
                previous: CNIValue?) throws(NetworkError) -> CNIValue? {
        let type = plugin["type"]?.string ?? ""
        guard let binary = binDirectories.map({ $0 + "/" + type }).first(where: { access($0, X_OK) == 0 }) else {
            throw .notFound("failed to find plugin \"\(type)\" in path \(binDirectories)")
        }
        var config = plugin
        config["name"] = .string(network.name)
        config["cniVersion"] = .string(network.cniVersion)
        if let previous { config["prevResult"] = previous }
        if case .object(let declared)? = plugin["capabilities"] {
            let given = attachment.capabilities.filter { declared[$0.key] == .bool(true) }
            if !given.isEmpty { config["runtimeConfig"] = .object(given) }
        }
        let input: [UInt8]
        do { input = Array(try JSONEncoder().encode(CNIValue.object(config))) } catch { throw .invalid("CNI configuration of \(type): \(error)") }
        let env = ["CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(attachment.containerID)", "CNI_NETNS=\(attachment.netns)",
                   "CNI_IFNAME=\(attachment.ifName)", "CNI_PATH=\(binDirectories.joined(separator: ":"))",
                   "CNI_ARGS=" + (["IgnoreUnknown=1"] + attachment.args.map { "\($0.0)=\($0.1)" }).joined(separator: ";"),
                   "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        let (status, output): (Int32, [UInt8])
        do { (status, output) = try Subprocess.run(binary, [], env: env, input: input) } catch { throw .system("CNI plugin \(type) \(command): \(error)") }
        let reply = output.isEmpty ? nil : try? JSONDecoder().decode(CNIValue.self, from: Data(output))
        guard status == 0 else {
            let message = reply?["msg"]?.string ?? String(decoding: output, as: UTF8.self)
            let details = reply?["details"]?.string.map { ": " + $0 } ?? ""
            throw .system("plugin type=\"\(type)\" name=\"\(network.name)\" failed (\(command.lowercased())): \(message)\(details)")
        }
        return command == "ADD" ? reply : nil
    }
}
