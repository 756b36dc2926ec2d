import BerthSystem
import CBerthLinux
import Glibc

/// What `docker info` says about this engine's identity and storage: a persistent ID (a UUID
/// made at first boot under the data root, as dockerd 23+ keeps one) and the file system the
/// data root lives on.
public enum EngineIdentity {
    /// The engine's ID, made and stored atomically the first time.
    public static func id(dataRoot: String) throws -> String {
        let path = dataRoot + "/engine-id"
        if let text = try? FileIO.readString(path), !text.trimmed.isEmpty { return text.trimmed }
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let uuid = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
            .joined(separator: "-")
        try AtomicFile.write(path, Array((uuid + "\n").utf8), mode: 0o644)
        return uuid
    }

    /// The backing file system of `path` in dockerd's words (`extfs`, `xfs`, `btrfs`, …).
    public static func backingFilesystem(_ path: String) -> String {
        let type = berth_statfs_type(path)
        guard type >= 0 else { return "<unknown>" }
        switch UInt32(truncatingIfNeeded: type) {
        case 0xEF53: return "extfs"
        case 0x5846_5342: return "xfs"
        case 0x9123_683E: return "btrfs"
        case 0x0102_1994: return "tmpfs"
        case 0x794C_7630: return "overlayfs"
        case 0x2FC1_2FC1: return "zfs"
        case 0xF2F5_2010: return "f2fs"
        case 0x6573_5546: return "fuse"
        default: return "<unknown>"
        }
    }
}
