import BerthOCI
import BerthSystem
import Glibc

/// `--user name|uid[:group|gid]` against the image's /etc/passwd and /etc/group, read through
/// the container root (a symlinked /etc/passwd cannot point the daemon at the host's).
enum UserResolver {
    struct Entry { let name: String; let id: UInt32; let gid: UInt32?; let members: [String] }

    static func resolve(_ spec: String, rootfs: String, groupAdd: [String]) throws -> Spec.User {
        let root = try RootedPath(root: rootfs)
        let passwd = entries(read("/etc/passwd", root), passwd: true)
        let groups = entries(read("/etc/group", root), passwd: false)
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let userPart = parts.first ?? ""
        var uid: UInt32 = 0, gid: UInt32 = 0, name = "root"
        if userPart.isEmpty {
            // root
        } else if let n = UInt32(userPart) {
            uid = n
            if let e = passwd.first(where: { $0.id == n }) { gid = e.gid ?? 0; name = e.name } else { name = "" }
        } else if let e = passwd.first(where: { $0.name == userPart }) {
            uid = e.id; gid = e.gid ?? 0; name = e.name
        } else {
            throw EngineError.invalid("unable to find user \(userPart): no matching entries in passwd file")
        }
        if parts.count > 1 {
            gid = try groupID(parts[1], groups)
        }
        var additional = groups.filter { $0.members.contains(name) && !name.isEmpty }.map(\.id)
        for g in groupAdd { additional.append(try groupID(g, groups)) }
        return Spec.User(uid: uid, gid: gid, additionalGids: additional.isEmpty ? nil : additional)
    }

    static func groupID(_ text: String, _ groups: [Entry]) throws -> UInt32 {
        if let n = UInt32(text) { return n }
        guard let g = groups.first(where: { $0.name == text }) else {
            throw EngineError.invalid("unable to find group \(text): no matching entries in group file")
        }
        return g.id
    }

    static func read(_ path: String, _ root: RootedPath) -> String {
        guard let fd = try? root.open(path, flags: O_RDONLY) else { return "" }
        defer { close(fd) }
        return String(decoding: (try? FileIO.readAll(fd)) ?? [], as: UTF8.self)
    }

    static func entries(_ text: String, passwd: Bool) -> [Entry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, let id = UInt32(f[2]) else { return nil }
            return Entry(name: String(f[0]), id: id, gid: passwd ? UInt32(f[3]) : nil,
                         members: passwd ? [] : f[3].split(separator: ",").map(String.init))
        }
    }
}
