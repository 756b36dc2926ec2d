import BerthAPI
import BerthBuild
import BerthDiagnostics
import BerthSystem
import FoundationEssentials
import Glibc
import Logging

/// The build cache: a step's key (parent image, instruction, the build args it sees, the
/// checksum of what it copies) → the image that step made. Kept in `<data-root>/build/cache.json`
/// so it survives restarts; an entry whose image is gone is simply a miss.
public actor BuildCache {
    let path: String
    let log = Logger(label: "berth.build")
    var entries: [String: String] = [:]

    public init(root: String) throws {
        try FileIO.makeDirectories(root, mode: 0o700)
        path = root + "/cache.json"
        if let bytes = try? FileIO.read(path), let saved = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) {
            entries = saved
        }
    }

    func lookup(_ key: String) -> String? { entries[key] }

    func store(_ key: String, _ image: String) {
        guard entries[key] != image else { return }
        entries[key] = image
        persist()
    }

    func persist() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Not fsynced: losing the cache in a crash costs a rebuild, never a wrong image.
        log.attempt("saving the build cache \(path)") { try AtomicFile.write(path, Array(try encoder.encode(entries)), mode: 0o600, durable: false) }
    }

    /// Forgets every entry; returns the images they named (for the caller to remove if unused).
    public func clear() -> [String] {
        let images = Array(Set(entries.values))
        entries = [:]
        persist()
        return images
    }

    // MARK: RUN --mount=type=cache

    /// The directories of `RUN --mount=type=cache`, kept across builds in `<root>/mounts`, one
    /// per cache id; how many steps use each, and the steps waiting for a `sharing=locked` one.
    var mountsRoot: String { AtomicFile.parentDirectory(of: path) + "/mounts" }
    var mountUsers: [String: Int] = [:]
    var lockWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// A cache id as a file name: every byte outside `[A-Za-z0-9.-]` as `_xx`, so ids map to
    /// names one to one (`/root/.cache` → `_2froot_2f.cache`).
    static func directoryName(_ id: String) -> String {
        id.utf8.map { b -> String in
            let c = Character(Unicode.Scalar(b))
            if (c.isASCII && (c.isLetter || c.isNumber)) || c == "." || c == "-" { return String(c) }
            let hex = String(b, radix: 16)
            return "_" + (hex.count == 1 ? "0" + hex : hex)
        }.joined()
    }

    /// The cache's directory for one step, made on first use with the mount's owner and mode;
    /// `release` it when the step ends. `locked` waits for other users, `private` gets a fresh
    /// directory (thrown away afterwards) while the cache is in use, `shared` just shares.
    public func acquireMount(_ mount: RunMount, id: String) async throws -> (path: String, key: String) {
        var key = Self.directoryName(id)
        switch mount.sharing {
        case .locked:
            while mountUsers[key, default: 0] > 0 { await withCheckedContinuation { lockWaiters[key, default: []].append($0) } }
        case .private:
            if mountUsers[key, default: 0] > 0 { key = "private-" + UUID().uuidString }
        case .shared:
            break
        }
        let dir = mountsRoot + "/" + key
        if !FileIO.exists(dir) {
            try FileIO.makeDirectories(mountsRoot, mode: 0o700)
            try FileIO.makeDirectories(dir, mode: mode_t(mount.mode ?? 0o755))
            chmod(dir, mode_t(mount.mode ?? 0o755))
            chown(dir, mount.uid ?? 0, mount.gid ?? 0)
        }
        mountUsers[key, default: 0] += 1
        return (dir, key)
    }

    public func releaseMount(_ key: String) {
        mountUsers[key, default: 1] -= 1
        guard mountUsers[key] == 0 else { return }
        mountUsers[key] = nil
        if key.hasPrefix("private-") {  // never seen again
            log.attempt("removing private cache mount \(key)") { try FileIO.removeTree(mountsRoot + "/" + key) }
        }
        if let next = lockWaiters[key]?.first {
            lockWaiters[key]?.removeFirst()
            next.resume()
        }
    }

    /// A cache id back from its directory name (`directoryName`'s inverse).
    static func cacheID(_ name: String) -> String {
        var bytes: [UInt8] = []
        var rest = Substring(name)
        while let c = rest.first {
            if c == "_", rest.count >= 3, let b = UInt8(rest.dropFirst().prefix(2), radix: 16) {
                bytes.append(b)
                rest = rest.dropFirst(3)
            } else {
                bytes += Array(String(c).utf8)
                rest = rest.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `system df`'s records: each cache mount's directory, its size walked on the blocking pool.
    public func mountRecords() async -> [BuildCacheRecord] {
        let root = mountsRoot
        let names = ((try? FileIO.listDirectory(root)) ?? []).filter { !$0.hasPrefix("private-") }.sorted()
        let users = mountUsers
        return (try? await Threads.run {
            names.map { name -> BuildCacheRecord in
                var st = stat()
                stat(root + "/" + name, &st)
                let modified = Timestamp.format(st.st_mtim)
                return BuildCacheRecord(ID: name, Type: "exec.cachemount", Description: "cached mount (id: \(Self.cacheID(name)))",
                                        InUse: users[name] != nil, Shared: false, Size: FileIO.diskUsage(root + "/" + name),
                                        CreatedAt: Timestamp.format(st.st_ctim), LastUsedAt: modified, UsageCount: 0)
            }
        }) ?? []
    }

    /// `builder prune`: the cache mounts no step uses that `selects` takes, least recently used
    /// first, until what stays is within `keepBytes` (0: no bound, all go); returns their names
    /// and the bytes freed. What could not be removed is not reported (and is tried next time).
    public func pruneMounts(keepBytes: Int64, selects: @Sendable (BuildCacheRecord) -> Bool) async -> (ids: [String], reclaimed: Int64) {
        let records = await mountRecords()
        var total = records.reduce(Int64(0)) { $0 + $1.Size }
        var ids: [String] = []
        var reclaimed: Int64 = 0
        for record in records.sorted(by: { ($0.LastUsedAt ?? "") < ($1.LastUsedAt ?? "") }) where selects(record) {
            if keepBytes > 0 && total <= keepBytes { break }
            guard mountUsers[record.ID] == nil else { continue }
            do { try FileIO.removeTree(mountsRoot + "/" + record.ID) } catch {
                log.warning("builder prune: removing cache mount \(record.ID): \(error)")
                continue
            }
            ids.append(record.ID)
            reclaimed += record.Size
            total -= record.Size
        }
        return (ids, reclaimed)
    }
}
