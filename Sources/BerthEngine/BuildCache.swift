import BerthSystem
import FoundationEssentials

/// The build cache: a step's key (parent image, instruction, the build args it sees, the
/// checksum of what it copies) → the image that step made. Kept in `<data-root>/build/cache.json`
/// so it survives restarts; an entry whose image is gone is simply a miss.
public actor BuildCache {
    let path: String
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
        if let bytes = try? encoder.encode(entries) { try? AtomicFile.write(path, Array(bytes), mode: 0o600, durable: false) }
    }

    /// Forgets every entry; returns the images they named (for the caller to remove if unused).
    public func clear() -> [String] {
        let images = Array(Set(entries.values))
        entries = [:]
        persist()
        return images
    }
}
