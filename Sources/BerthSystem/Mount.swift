import CBerthLinux
import Glibc

/// mount(8)-style option lists split into kernel flags, propagation flags and filesystem data,
/// following the table runc and crun share (the OCI runtime spec defers to mount(8)).
public struct MountOptions: Equatable, Sendable {
    public var flags: UInt = 0
    /// Flags cleared by an option such as `rw` or `suid`, so a remount does not keep them.
    public var clearedFlags: UInt = 0
    public var propagation: [UInt] = []
    public var data: [String] = []
    public var isBind: Bool { flags & MountFlag.bind != 0 }
    public var isRecursive: Bool { flags & MountFlag.rec != 0 }

    public init(_ options: [String]) {
        for option in options {
            if let (set, flag) = Self.table[option] {
                if set { flags |= flag; clearedFlags &= ~flag } else { flags &= ~flag; clearedFlags |= flag }
            } else if let flag = Self.propagationTable[option] {
                propagation.append(flag)
            } else if option == "tmpcopyup" || option == "idmap" || option == "ridmap" {
                continue
            } else {
                data.append(option)
            }
        }
    }

    static let table: [String: (Bool, UInt)] = [
        "ro": (true, MountFlag.rdonly), "rw": (false, MountFlag.rdonly),
        "nosuid": (true, MountFlag.nosuid), "suid": (false, MountFlag.nosuid),
        "nodev": (true, MountFlag.nodev), "dev": (false, MountFlag.nodev),
        "noexec": (true, MountFlag.noexec), "exec": (false, MountFlag.noexec),
        "sync": (true, MountFlag.synchronous), "async": (false, MountFlag.synchronous),
        "dirsync": (true, MountFlag.dirsync), "remount": (true, MountFlag.remount),
        "mand": (true, MountFlag.mandlock), "nomand": (false, MountFlag.mandlock),
        "atime": (false, MountFlag.noatime), "noatime": (true, MountFlag.noatime),
        "diratime": (false, MountFlag.nodiratime), "nodiratime": (true, MountFlag.nodiratime),
        "bind": (true, MountFlag.bind), "rbind": (true, MountFlag.bind | MountFlag.rec),
        "relatime": (true, MountFlag.relatime), "norelatime": (false, MountFlag.relatime),
        "strictatime": (true, MountFlag.strictatime), "nostrictatime": (false, MountFlag.strictatime),
        "silent": (true, MountFlag.silent), "loud": (false, MountFlag.silent),
    ]

    static let propagationTable: [String: UInt] = [
        "private": MountFlag.private, "rprivate": MountFlag.private | MountFlag.rec,
        "shared": MountFlag.shared, "rshared": MountFlag.shared | MountFlag.rec,
        "slave": MountFlag.slave, "rslave": MountFlag.slave | MountFlag.rec,
        "unbindable": MountFlag.unbindable, "runbindable": MountFlag.unbindable | MountFlag.rec,
    ]

    public static func propagation(named name: String) -> UInt? { propagationTable[name] }
}

/// Linux MS_* values (sys/mount.h); spelled out because Swift imports them inconsistently.
public enum MountFlag {
    public static let rdonly: UInt = 1
    public static let nosuid: UInt = 2
    public static let nodev: UInt = 4
    public static let noexec: UInt = 8
    public static let synchronous: UInt = 16
    public static let remount: UInt = 32
    public static let mandlock: UInt = 64
    public static let dirsync: UInt = 128
    public static let noatime: UInt = 1024
    public static let nodiratime: UInt = 2048
    public static let bind: UInt = 4096
    public static let move: UInt = 8192
    public static let rec: UInt = 16384
    public static let silent: UInt = 32768
    public static let unbindable: UInt = 1 << 17
    public static let `private`: UInt = 1 << 18
    public static let slave: UInt = 1 << 19
    public static let shared: UInt = 1 << 20
    public static let relatime: UInt = 1 << 21
    public static let strictatime: UInt = 1 << 24
    /// Flags a bind remount must keep when the source mount has them locked (user namespaces).
    public static let lockable: UInt = rdonly | nosuid | nodev | noexec | noatime | nodiratime | relatime
}

public enum Mounter {
    /// mount(2); `label` names the object in errors (the container path, not /proc/self/fd/N).
    public static func mount(_ source: String?, _ target: String, type: String?, flags: UInt, data: String? = nil, label: String? = nil) throws {
        try sys("mount", label ?? target) { berth_mount(source, target, type, flags, data) }
    }

    public static func unmount(_ target: String, detach: Bool = false) throws {
        try sys("umount", target) { berth_umount2(target, detach ? 2 /* MNT_DETACH */ : 0) }
    }

    /// Flags (ST_* equal MS_* for the lockable ones) of the mount holding `path`.
    public static func currentFlags(_ path: String) -> UInt {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return UInt(st.f_flag) & MountFlag.lockable
    }

    /// Mount points under `prefix` from /proc/self/mountinfo, deepest first (safe unmount order).
    public static func mountPoints(under prefix: String) -> [String] {
        guard let text = try? FileIO.readString("/proc/self/mountinfo") else { return [] }
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescapeMountPath(String(fields[4]))
            return point == prefix || point.hasPrefix(prefix + "/") ? point : nil
        }
        return points.sorted { $0.count > $1.count }
    }

    static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
