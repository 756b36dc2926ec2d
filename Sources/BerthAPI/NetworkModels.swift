/// Network wire models (moby `api/swagger.yaml`: Network, NetworkCreateRequest, EndpointSettings).

public struct EndpointIPAMConfig: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["IPv4Address", "IPv6Address", "LinkLocalIPs"]
    public var IPv4Address: String?
    public var IPv6Address: String?
    public var LinkLocalIPs: [String]?
    public init() {}
}

/// A container's attachment to one network: what was asked (IPAMConfig, Aliases) and, while it
/// runs, what it got (addresses, IDs).
public struct EndpointSettings: Codable, Sendable, Equatable, GoEncodable {
    public var IPAMConfig: EndpointIPAMConfig?
    public var Links: [String]?
    public var Aliases: [String]?
    public var MacAddress: String = ""
    public var DriverOpts: [String: String]?
    /// API 1.48: the endpoint of the highest priority gives the container its default route.
    public var GwPriority: Int = 0
    public var NetworkID: String = ""
    public var EndpointID: String = ""
    public var Gateway: String = ""
    public var IPAddress: String = ""
    public var IPPrefixLen: Int = 0
    public var IPv6Gateway: String = ""
    public var GlobalIPv6Address: String = ""
    public var GlobalIPv6PrefixLen: Int = 0
    public var DNSNames: [String]?
    public init() {}
}

public struct NetworkingConfig: Codable, Sendable {
    public var EndpointsConfig: [String: EndpointSettings]?
    public init() {}
}

public struct IPAMPoolConfig: Codable, Sendable, Equatable, GoEncodable {
    public static let omitEmptyKeys: Set<String> = ["Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"]
    public var Subnet: String?
    public var IPRange: String?
    public var Gateway: String?
    public var AuxiliaryAddresses: [String: String]?
    public init() {}
}

public struct IPAM: Codable, Sendable, Equatable, GoEncodable {
    public var Driver: String? = "default"
    public var Options: [String: String]?  // before Config: dockerd's order
    public var Config: [IPAMPoolConfig]? = []
    public init() {}
}

public struct NetworkCreateRequest: Codable, Sendable {
    public var Name: String = ""
    public var CheckDuplicate: Bool?
    public var Driver: String?
    public var Scope: String?
    public var Internal: Bool?
    public var Attachable: Bool?
    public var Ingress: Bool?
    public var IPAM: IPAM?
    public var EnableIPv6: Bool?
    /// API 1.47: false asks for an IPv6-only network.
    public var EnableIPv4: Bool?
    public var ConfigOnly: Bool?
    public var ConfigFrom: ConfigReference?
    public var Options: [String: String]?
    public var Labels: [String: String]?
    public init() {}
}


public struct NetworkCreateResponse: Codable, Sendable {
    public var Id: String
    public var Warning: String
    public init(Id: String, Warning: String = "") { self.Id = Id; self.Warning = Warning }
}

public struct NetworkContainer: Codable, Sendable {
    public var Name: String = ""
    public var EndpointID: String = ""
    public var MacAddress: String = ""
    public var IPv4Address: String = ""
    public var IPv6Address: String = ""
    public init() {}
}

public struct ConfigReference: Codable, Sendable, Equatable {
    public var Network: String = ""
    public init() {}
}

public struct Network: Codable, Sendable, GoEncodable {
    public var Name: String = ""
    public var Id: String = ""
    public var Created: String = ""
    public var Scope: String = "local"
    public var Driver: String = ""
    public var EnableIPv4: Bool = true
    public var EnableIPv6: Bool = false
    public var IPAM: IPAM = .init()
    public var Internal: Bool = false
    public var Attachable: Bool = false
    public var Ingress: Bool = false
    public var ConfigFrom: ConfigReference = .init()
    public var ConfigOnly: Bool = false
    public var Containers: [String: NetworkContainer] = [:]
    public var Options: [String: String] = [:]
    public var Labels: [String: String] = [:]
    public init() {}
}

public struct NetworkConnectRequest: Codable, Sendable {
    public var Container: String = ""
    public var EndpointConfig: EndpointSettings?
    public var Force: Bool?
    public init() {}
}

public struct NetworkPruneReport: Codable, Sendable {
    public var NetworksDeleted: [String]?
    public init(NetworksDeleted: [String]?) { self.NetworksDeleted = NetworksDeleted }
}
