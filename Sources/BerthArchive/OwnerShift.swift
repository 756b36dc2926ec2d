/// Owners as a running container's idmapped rootfs shows them (`--userns-remap`): on the mount
/// they are `uid`/`gid` higher than in the container and in its archives. Reading subtracts,
/// writing adds; an owner outside the range reads as the overflow ID, as the kernel shows it.
public struct OwnerShift: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32

    public static let none = OwnerShift(uid: 0, gid: 0)

    public init(uid: UInt32, gid: UInt32) { self.uid = uid; self.gid = gid }

    static let overflowID: UInt32 = 65534

    func toArchive(uid value: UInt32) -> UInt32 { value >= uid ? value - uid : Self.overflowID }
    func toArchive(gid value: UInt32) -> UInt32 { value >= gid ? value - gid : Self.overflowID }
    func toMount(uid value: UInt32) -> UInt32 { value &+ uid }
    func toMount(gid value: UInt32) -> UInt32 { value &+ gid }
}
