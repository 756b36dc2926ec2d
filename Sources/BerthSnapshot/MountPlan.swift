import BerthSystem
import CBerthLinux
import Glibc

/// How to mount a snapshot: a bind of one directory, or an overlay of a layer chain.
public enum MountPlan: Equatable, Sendable {
    case bind(source: String, readOnly: Bool)
    /// `lowers` nearest layer first; no upper means a read-only overlay (at least two lowers).
    case overlay(lowers: [String], upper: String?, work: String?)

    /// Mounts at `target` (which must exist); with `idmap`, every file shows shifted by its maps.
    public func mount(at target: String, idmap: IDMap? = nil) throws {
        switch self {
        case .bind(let source, let readOnly):
            if let idmap {
                guard berth_mount_idmapped_bind(source, target, idmap.usernsFD) == 0 else { throw IDMap.unsupported(SystemError("mount idmapped", target)) }
            } else {
                try Mounter.mount(source, target, type: nil, flags: MountFlag.bind | MountFlag.rec)
            }
            if readOnly {
                try Mounter.mount(nil, target, type: nil, flags: MountFlag.bind | MountFlag.remount | MountFlag.rdonly)
            }
        case .overlay(let lowers, let upper, let work):
            try Self.mountOverlay(lowers: lowers, upper: upper, work: work, target: target, idmap: idmap)
        }
    }

    /// The new mount API first: one `lowerdir+` per layer has no length limit (kernel 6.8+).
    /// Older kernels take the classic option string, which must fit in a page.
    static func mountOverlay(lowers: [String], upper: String?, work: String?, target: String, idmap: IDMap?) throws {
        var packed: [CChar] = []
        for lower in lowers { packed += lower.utf8CString }
        let parent = upper.map(AtomicFile.parentDirectory(of:)) ?? ""
        func name(_ path: String?) -> String? { path.map { String($0.dropFirst(parent.count + 1)) } }
        let rc = packed.withUnsafeBufferPointer { buffer in
            if let idmap {
                precondition(work.map(AtomicFile.parentDirectory(of:)) == upper.map(AtomicFile.parentDirectory(of:)), "upper and work share a parent")
                return berth_mount_overlay(buffer.baseAddress, UInt(buffer.count), parent, name(upper), name(work), target, upper == nil ? 1 : 0,
                                           idmap.usernsFD, idmap.uid, idmap.gid)
            }
            return berth_mount_overlay(buffer.baseAddress, UInt(buffer.count), nil, upper, work, target, upper == nil ? 1 : 0, -1, 0, 0)
        }
        if rc == 0 { return }
        if idmap != nil { throw IDMap.unsupported(SystemError("mount overlay", target)) }
        guard errno == EINVAL || errno == ENOSYS else { throw SystemError("mount overlay", target) }
        var options = "lowerdir=" + lowers.joined(separator: ":")
        if let upper, let work { options += ",upperdir=\(upper),workdir=\(work)" }
        guard options.utf8.count < Int(getpagesize()) - 1 else { throw SnapshotError.tooManyLayers(lowers.count) }
        try Mounter.mount("overlay", target, type: "overlay", flags: upper == nil ? MountFlag.rdonly : 0, data: options)
    }
}

/// `--userns-remap`: a container's root is `uid`/`gid` on the host. Its rootfs is mounted through
/// idmapped layers, so the layers stay stored once, with their real IDs, shared with containers
/// that run without remapping (Docker keeps a second, chowned copy of every image instead).
public struct IDMap: Sendable, Equatable {
    public let usernsFD: Int32
    public let uid: UInt32
    public let gid: UInt32
    public let size: UInt32

    /// A user namespace with `0 uid size` and `0 gid size` maps, held for the daemon's life.
    public init(uid: UInt32, gid: UInt32, size: UInt32) throws {
        let fd = berth_make_userns("0 \(uid) \(size)", "0 \(gid) \(size)")
        guard fd >= 0 else { throw SystemError("create a user namespace for", "--userns-remap") }
        usernsFD = fd
        self.uid = uid; self.gid = gid; self.size = size
    }

    /// Runs `body` on this thread as the remapped root for file system access, as writes through
    /// an idmapped rootfs must be (host root has no ID there). No suspension may happen inside.
    public func asRemappedRoot<T>(_ body: () throws -> T) rethrows -> T {
        let saved = berth_enter_fsids(uid, gid)
        defer { berth_leave_fsids(saved) }
        return try body()
    }

    static func unsupported(_ error: SystemError) -> Error {
        guard [EINVAL, ENOSYS, EPERM].contains(error.errno) else { return error }
        return SnapshotError.idmapUnsupported(error.description)
    }
}
