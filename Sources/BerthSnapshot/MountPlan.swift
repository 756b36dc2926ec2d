import BerthSystem
import CBerthLinux
import Glibc

/// How to mount a snapshot: a bind of one directory, or an overlay of a layer chain.
public enum MountPlan: Equatable, Sendable {
    case bind(source: String, readOnly: Bool)
    /// `lowers` nearest layer first; no upper means a read-only overlay (at least two lowers).
    case overlay(lowers: [String], upper: String?, work: String?)

    /// Mounts at `target` (which must exist).
    public func mount(at target: String) throws {
        switch self {
        case .bind(let source, let readOnly):
            try Mounter.mount(source, target, type: nil, flags: MountFlag.bind | MountFlag.rec)
            if readOnly {
                try Mounter.mount(nil, target, type: nil, flags: MountFlag.bind | MountFlag.remount | MountFlag.rdonly)
            }
        case .overlay(let lowers, let upper, let work):
            try Self.mountOverlay(lowers: lowers, upper: upper, work: work, target: target)
        }
    }

    /// The new mount API first: one `lowerdir+` per layer has no length limit (kernel 6.8+).
    /// Older kernels take the classic option string, which must fit in a page.
    static func mountOverlay(lowers: [String], upper: String?, work: String?, target: String) throws {
        var packed: [CChar] = []
        for lower in lowers { packed += lower.utf8CString }
        let rc = packed.withUnsafeBufferPointer { buffer in
            berth_mount_overlay(buffer.baseAddress, UInt(buffer.count), upper, work, target, upper == nil ? 1 : 0)
        }
        if rc == 0 { return }
        guard errno == EINVAL || errno == ENOSYS else { throw SystemError("mount overlay", target) }
        var options = "lowerdir=" + lowers.joined(separator: ":")
        if let upper, let work { options += ",upperdir=\(upper),workdir=\(work)" }
        guard options.utf8.count < Int(getpagesize()) - 1 else { throw SnapshotError.tooManyLayers(lowers.count) }
        try Mounter.mount("overlay", target, type: "overlay", flags: upper == nil ? MountFlag.rdonly : 0, data: options)
    }
}
