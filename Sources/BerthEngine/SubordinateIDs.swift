import BerthSystem
import Glibc

/// `--userns-remap`'s ranges, as dockerd finds them: `default` is the `dockremap` user (made,
/// with ranges of its own, when missing); otherwise `user`, `user:group`, `uid` or `uid:gid`,
/// whose first ranges in /etc/subuid and /etc/subgid (by name or by number) are used.
public enum SubordinateIDs {
    public struct Range: Equatable, Sendable {
        public var uid: UInt32
        public var gid: UInt32
        public var size: UInt32
    }

    public static let defaultUser = "dockremap"

    public static func resolve(_ value: String, subuid: String = "/etc/subuid", subgid: String = "/etc/subgid") throws -> Range {
        let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
        guard let first = parts.first, !first.isEmpty else { throw EngineError.invalid("invalid --userns-remap value \"\(value)\": use default, user, user:group, uid or uid:gid") }
        if first == "default" { try makeDefaultUser(subuid: subuid, subgid: subgid) }
        let user = first == "default" ? defaultUser : first
        let group = parts.count == 2 ? parts[1] : user
        let userKeys = try keys(user, lookup: { getpwnam($0).map { ($0.pointee.pw_uid, String(cString: $0.pointee.pw_name)) } },
                                byID: { getpwuid($0).map { ($0.pointee.pw_uid, String(cString: $0.pointee.pw_name)) } }, kind: "user")
        let groupKeys = try keys(group, lookup: { getgrnam($0).map { ($0.pointee.gr_gid, String(cString: $0.pointee.gr_name)) } },
                                 byID: { getgrgid($0).map { ($0.pointee.gr_gid, String(cString: $0.pointee.gr_name)) } }, kind: "group")
        guard let uids = firstRange(in: (try? FileIO.readString(subuid)) ?? "", for: userKeys) else {
            throw EngineError.invalid("no subordinate user IDs for \(user) in \(subuid): add a line such as \(user):100000:65536")
        }
        guard let gids = firstRange(in: (try? FileIO.readString(subgid)) ?? "", for: groupKeys) else {
            throw EngineError.invalid("no subordinate group IDs for \(group) in \(subgid): add a line such as \(group):100000:65536")
        }
        return Range(uid: uids.start, gid: gids.start, size: min(uids.count, gids.count))
    }

    /// The names an entry may use for this user or group: its name and its number.
    static func keys(_ nameOrID: String, lookup: (String) -> (UInt32, String)?, byID: (UInt32) -> (UInt32, String)?, kind: String) throws -> [String] {
        if let id = UInt32(nameOrID) { return [nameOrID] + (byID(id).map { [$0.1] } ?? []) }
        guard let (id, name) = lookup(nameOrID) else { throw EngineError.invalid("--userns-remap: no such \(kind): \(nameOrID)") }
        return [name, String(id)]
    }

    /// The first `name:start:count` line for any of `keys`.
    static func firstRange(in text: String, for keys: [String]) -> (start: UInt32, count: UInt32)? {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":").map { String($0).trimmed }
            guard f.count == 3, keys.contains(f[0]), let start = UInt32(f[1]), let count = UInt32(f[2]), count > 0 else { continue }
            return (start, count)
        }
        return nil
    }

    /// dockerd's `default`: a system user `dockremap`, with 65536 IDs past every range already given out.
    static func makeDefaultUser(subuid: String, subgid: String) throws {
        if getpwnam(defaultUser) == nil {
            let (status, output) = try Subprocess.run("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/bin/false", "--user-group", defaultUser])
            guard status == 0 else { throw EngineError.invalid("cannot create the \(defaultUser) user for --userns-remap=default: \(output.trimmed)") }
        }
        for file in [subuid, subgid] {
            let text = (try? FileIO.readString(file)) ?? ""
            if firstRange(in: text, for: [defaultUser]) != nil { continue }
            let end = text.split(separator: "\n").compactMap { line -> UInt64? in
                let f = line.split(separator: ":")
                guard f.count == 3, let start = UInt64(f[1]), let count = UInt64(f[2]) else { return nil }
                return start + count
            }.max() ?? 0
            let start = max(100_000, end)
            let body = text + (text.isEmpty || text.hasSuffix("\n") ? "" : "\n") + "\(defaultUser):\(start):65536\n"
            try AtomicFile.write(file, Array(body.utf8), mode: 0o644)
        }
    }
}
