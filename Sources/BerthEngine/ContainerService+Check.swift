import BerthDiagnostics
import BerthAPI
import BerthCgroups
import BerthImage
import BerthShimProtocol
import BerthSnapshot
import BerthSystem
import Glibc

/// Crash consistency. A container exists from the moment its record is written (create) until
/// its directory is renamed away (rm); whatever a kill leaves on either side of those points is
/// swept at the next start, and `check` says whether anything is out of place.
extension ContainerService {
    /// The container a snapshot key belongs to (`<id>`, `<id>-init`, `<id>-init-active`), if any.
    static func owner(ofSnapshot key: String) -> String? {
        let id = String(key.prefix(64))
        let rest = key.dropFirst(64)
        guard id.count == 64, id.allSatisfy(\.isHexDigit), rest.isEmpty || rest == "-init" || rest == "-init-active" else { return nil }
        return id
    }

    /// Directories, bundles and snapshots of containers that have no record: a create that died
    /// before its record was written, or an rm that died after its commit point.
    func sweepOrphans() {
        for name in (try? FileIO.listDirectory(config.containersRoot)) ?? [] where containers[name] == nil {  // made at init
            log.attempt("removing the directory of orphaned container \(name)") { try FileIO.removeTree(containerDir(name)) }
        }
        for name in (try? FileIO.listDirectory(config.bundlesRoot)) ?? [] where containers[name] == nil {
            for point in Mounter.mountPoints(under: bundlePath(name)) {
                log.attempt("unmounting \(point) of orphaned container \(name)") { try Mounter.unmount(point, detach: true) }
            }
            log.attempt("removing the bundle of orphaned container \(name)") { try FileIO.removeTree(bundlePath(name)) }
        }
        let snapshotter = images.snapshotter
        // The writable layer first: it is the init layer's child.
        let orphans = snapshotter.list().filter { info in Self.owner(ofSnapshot: info.key).map { containers[$0] == nil } ?? false }
        for info in orphans.sorted(by: { $0.kind == .active && $1.kind != .active }) {
            log.attempt("removing orphaned snapshot \(info.key)") { try snapshotter.remove(key: info.key) }
        }
    }

    /// `berth system check`: the image store's own check, then every container's layers, shim,
    /// mounts and cgroups against its state, then anything under the daemon's roots that no
    /// image or container accounts for.
    public func check() async -> SystemCheckReport {
        var report = SystemCheckReport()
        let imageCheck = await images.check()
        report.Blobs = imageCheck.blobs
        report.Images = imageCheck.images
        report.Problems = imageCheck.problems
        let snapshots = images.snapshotter.list()
        report.Snapshots = snapshots.count
        report.Containers = containers.count
        let byKey = Dictionary(snapshots.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var running = Set<String>()
        for record in containers.values.sorted(by: { $0.id < $1.id }) {
            let id = record.id
            let name = "container \(record.shortID) (\(record.name))"
            let layer = byKey[id], base = byKey[Self.initKey(id)]
            if layer?.kind != .active || layer?.parent != Self.initKey(id) { report.Problems.append("\(name): its writable layer is missing") }
            if base?.kind != .committed { report.Problems.append("\(name): its init layer is missing") }
            if record.state.Running {
                if !(await task(id).isAlive) {
                    report.Problems.append("\(name): marked running but its shim does not answer")
                } else {
                    running.insert(id)
                }
            } else {
                if !Mounter.mountPoints(under: bundlePath(id)).isEmpty { report.Problems.append("\(name): stopped but its rootfs is still mounted") }
                if Cgroups.exists(path: record.cgroupPath) { report.Problems.append("\(name): stopped but its cgroup remains") }
            }
        }
        for info in snapshots where !imageCheck.chains.contains(info.key) && !info.key.hasPrefix(LayerUnpacker.stagingPrefix) {
            if let owner = Self.owner(ofSnapshot: info.key), containers[owner] != nil { continue }
            report.Problems.append("snapshot \(info.key): no image or container uses it")
        }
        var expected = Set(running.flatMap { [bundlePath($0) + "/rootfs", networks.namespaceRoot + "/" + $0] })
        for (volume, users) in volumes.users() where users.contains(where: running.contains) { expected.insert(volumes.store.dataPath(volume)) }
        for root in [config.dataRoot, config.execRoot] {
            for point in Mounter.mountPoints(under: root) where point != root && !expected.contains(point) {
                report.Problems.append("mount \(point): left behind")
            }
        }
        for name in (try? FileIO.listDirectory(networks.namespaceRoot)) ?? [] where !running.contains(name) {
            report.Problems.append("network namespace \(name): left behind")
        }
        return report
    }
}
