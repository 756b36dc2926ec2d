import BerthAPI
import BerthContent
import BerthImage
import BerthOCI
import BerthSnapshot
import BerthSystem
import FoundationEssentials
import CBerthLinux
import Glibc

/// `docker pull`. Layers download in parallel, each streamed at once into its content-store
/// ingest (hashed) and into its extractor (a pipe), so unpacking overlaps the transfer; a layer
/// is committed only when both its blob digest and its diffID check out, in chain order. An
/// interrupted transfer keeps its ingest: the retry, or the next pull, asks for the rest with a
/// Range request.
public struct ImagePuller: Sendable {
    public let store: ImageStore
    public let registry: Registry
    public var maxConcurrentDownloads: Int
    /// Delays between attempts of one blob transfer (seconds); one attempt more than entries.
    public var retryDelays: [Double]

    public init(store: ImageStore, registry: Registry, maxConcurrentDownloads: Int = 3, retryDelays: [Double] = [0.5, 1, 2, 4, 8]) {
        self.store = store
        self.registry = registry
        self.maxConcurrentDownloads = maxConcurrentDownloads
        self.retryDelays = retryDelays
    }

    /// What the registry says the image is, fetched before any progress is sent (so a missing
    /// image is an HTTP error, as Docker's is).
    public struct Resolved: Sendable {
        public let reference: Reference
        let client: RegistryClient
        /// The digest a `RepoDigest` records: the index's if the tag names one.
        public let digest: Digest
        let manifestDigest: Digest
        let manifest: Manifest
        let config: ImageConfig
        /// Documents to store: index (if any), manifest, config.
        let documents: [(Digest, [UInt8])]
    }

    public func resolve(_ reference: Reference, platform: Platform? = nil, credentials: RegistryCredentials?) throws -> Resolved {
        let ref = reference.digest == nil ? reference.withDefaultTag : reference
        let wanted = platform ?? Platform.current
        do {
            return try registry.open(domain: ref.domain, repository: ref.path, credentials: credentials) { client in
                try Self.resolve(ref, client: client, platform: wanted)
            }.1
        } catch let error as RegistryError {
            throw Self.translate(error, ref)
        }
    }

    /// Every tag of the repository `reference` names, as the registry lists them: what a pull of
    /// a name alone fetches (`docker pull --all-tags`, the API's `fromImage` without a tag).
    public func tags(_ reference: Reference, credentials: RegistryCredentials?) throws -> [Reference] {
        do {
            let names = try registry.open(domain: reference.domain, repository: reference.path, credentials: credentials) { try $0.tags() }.1
            return names.map { var tagged = reference; tagged.tag = $0; tagged.digest = nil; return tagged }
        } catch let error as RegistryError {
            throw Self.translate(error, reference)
        }
    }

    /// `GET /distribution/{name}/json`: the descriptor of what the registry holds under
    /// `reference` and the platforms it serves (an index's entries, or a manifest's config),
    /// without a layer fetched.
    public func distribution(_ reference: Reference, credentials: RegistryCredentials?) throws -> (Descriptor, [Platform]) {
        let ref = reference.digest == nil ? reference.withDefaultTag : reference
        do {
            return try registry.open(domain: ref.domain, repository: ref.path, credentials: credentials) { client in
                let (bytes, type, digest) = try client.manifest(ref.digest?.description ?? ref.tag ?? "latest")
                let descriptor = Descriptor(mediaType: type, digest: digest, size: Int64(bytes.count))
                if try Self.kind(bytes, contentType: type) == .index {
                    return (descriptor, try Self.decode(Index.self, bytes, what: "image index").manifests.compactMap(\.platform))
                }
                let manifest = try Self.decode(Manifest.self, bytes, what: "image manifest")
                let configBytes = try client.blob(manifest.config.digest, from: 0).bytes(limit: 16 << 20)
                let actual = SHA256.digest(configBytes)
                guard actual == manifest.config.digest else { throw RegistryError.digestMismatch(expected: manifest.config.digest, actual: actual) }
                let config = try Self.decode(ImageConfig.self, configBytes, what: "image config")
                return (descriptor, [Platform(architecture: config.architecture, os: config.os, variant: config.variant)])
            }.1
        } catch let error as RegistryError {
            throw Self.translate(error, ref)
        }
    }

    static func resolve(_ ref: Reference, client: RegistryClient, platform: Platform) throws -> Resolved {
        let (topBytes, topType, topDigest) = try client.manifest(ref.digest?.description ?? ref.tag!)
        var documents = [(topDigest, topBytes)]
        var manifestBytes = topBytes
        var manifestDigest = topDigest
        let kind = try Self.kind(topBytes, contentType: topType)
        if kind == .index {
            let index = try decode(Index.self, topBytes, what: "image index")
            guard let entry = index.manifest(for: platform) else { throw RegistryError.noMatchingPlatform(platform.description) }
            let (bytes, type, digest) = try client.manifest(entry.digest.description)
            guard digest == entry.digest else { throw RegistryError.digestMismatch(expected: entry.digest, actual: digest) }
            guard try Self.kind(bytes, contentType: type) == .manifest else { throw RegistryError.unsupported("index \(topDigest) points at another index") }
            manifestBytes = bytes
            manifestDigest = digest
            documents.append((digest, bytes))
        }
        let manifest = try decode(Manifest.self, manifestBytes, what: "image manifest")
        if let problem = Manifest.depthProblem(layers: manifest.layers.count) { throw RegistryError.unsupported(problem) }
        let response = try client.blob(manifest.config.digest, from: 0)
        let configBytes = try response.bytes(limit: 16 << 20)
        let actual = SHA256.digest(configBytes)
        guard actual == manifest.config.digest else { throw RegistryError.digestMismatch(expected: manifest.config.digest, actual: actual) }
        let config = try decode(ImageConfig.self, configBytes, what: "image config")
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            throw RegistryError.protocolError("manifest has \(manifest.layers.count) layers but its config lists \(config.rootfs.diffIDs.count) diff_ids")
        }
        for layer in manifest.layers where !MediaType.isLayer(layer.mediaType) {
            throw RegistryError.unsupported("unsupported layer media type \(layer.mediaType)")
        }
        documents.append((manifest.config.digest, configBytes))
        return Resolved(reference: ref, client: client, digest: topDigest, manifestDigest: manifestDigest, manifest: manifest,
                        config: config, documents: documents)
    }

    enum Kind { case index, manifest }

    static func kind(_ bytes: [UInt8], contentType: String) throws -> Kind {
        struct Probe: Decodable { var schemaVersion: Int?; var mediaType: String?; var manifests: [EmptyObject]? }
        let probe = try? JSONDecoder().decode(Probe.self, from: Data(bytes))
        let type = probe?.mediaType ?? contentType
        if probe?.schemaVersion == 1 || type.hasPrefix("application/vnd.docker.distribution.manifest.v1") {
            throw RegistryError.unsupported("Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of the image to upgrade it to the OCI Format or Docker Image manifest v2, schema 2.")
        }
        if MediaType.isIndex(type) || probe?.manifests != nil { return .index }
        return .manifest
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], what: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw RegistryError.protocolError("invalid \(what) from the registry: \(error)")
        }
    }

    /// Docker's wording for a registry's refusal.
    static func translate(_ error: RegistryError, _ ref: Reference) -> RegistryError {
        guard case .registry(let status, let code, let message) = error else { return error }
        switch code {
        case "MANIFEST_UNKNOWN": return .manifestNotFound(ref)
        case "NAME_UNKNOWN": return .repositoryNotFound(ref)
        case "DENIED": return .accessDenied(ref, message)
        case "" where status == 404: return .manifestNotFound(ref)
        default: return error
        }
    }

    // MARK: fetching

    /// Downloads and unpacks what `resolved` needs, then names the image. Returns whether the
    /// image was new (Docker's `Downloaded newer image` vs `Image is up to date`), which the last
    /// progress message says unless `finalStatus` is false (a pull of every tag says it once).
    public func fetch(_ resolved: Resolved, finalStatus: Bool = true,
                      progress: @escaping @Sendable (ProgressMessage) -> Void) async throws -> (ImageRecord, Bool) {
        let ref = resolved.reference
        let content = store.content
        let snapshotter = store.snapshotter
        let diffIDs = resolved.config.rootfs.diffIDs
        let chains = ChainID.of(diffIDs)
        progress(ProgressMessage(status: "Pulling from \(ref.path)", id: ref.digest?.description ?? ref.tag ?? "latest"))
        let upToDate = (try? await store.resolve(ref.description))?.id == resolved.manifest.config.digest
        let lease = await store.lease(blobs: Set(resolved.documents.map(\.0) + resolved.manifest.layers.map(\.digest)),
                                      chains: Set(chains.map(\.description)))
        defer { Task { await store.release(lease: lease) } }
        for (digest, bytes) in resolved.documents where !content.exists(digest) { _ = try content.put(bytes, expected: digest) }

        let missing = chains.indices.filter { snapshotter.info(key: chains[$0].description) == nil }
        for (i, layer) in resolved.manifest.layers.enumerated() {
            let id = layer.digest.shortID
            progress(.layer(id, missing.contains(i) ? "Pulling fs layer" : "Already exists"))
        }
        for i in missing.dropFirst(maxConcurrentDownloads) { progress(.layer(resolved.manifest.layers[i].digest.shortID, "Waiting")) }

        let job = LayerJob(puller: self, resolved: resolved, chains: chains, missing: Set(missing), progress: progress)
        try await Threads.run { try Threads.parallel(count: missing.count, width: maxConcurrentDownloads) { try job.run(missing[$0]) } }

        let record = try await store.add(manifestDigest: resolved.manifestDigest, tags: ref.tag == nil ? [] : [ref],
                                         repoDigests: ["\(ref.name)@\(resolved.digest)"]) { step in
            // vfs: layers are unpacked here, in order.
            if step.done { progress(.layer(step.blob.shortID, "Pull complete")) }
        }
        progress(ProgressMessage(status: "Digest: \(resolved.digest)"))
        let isNew = !upToDate || !missing.isEmpty
        if finalStatus { progress(Self.status(isNew: isNew, ref.familiarString)) }
        return (record, isNew)
    }

    public static func status(isNew: Bool, _ name: String) -> ProgressMessage {
        ProgressMessage(status: "Status: \(isNew ? "Downloaded newer image" : "Image is up to date") for \(name)")
    }
}

/// One pull's layer work, shared by its transfer threads.
final class LayerJob: @unchecked Sendable {
    let puller: ImagePuller
    let resolved: ImagePuller.Resolved
    let chains: [Digest]
    let progress: @Sendable (ProgressMessage) -> Void
    /// Committed (or already present) layers, by index: a layer commits after its parent.
    let committed: [Latch<Void>]
    let unpacker: LayerUnpacker
    var content: ContentStore { puller.store.content }

    init(puller: ImagePuller, resolved: ImagePuller.Resolved, chains: [Digest], missing: Set<Int>,
         progress: @escaping @Sendable (ProgressMessage) -> Void) {
        self.puller = puller
        self.resolved = resolved
        self.chains = chains
        self.progress = progress
        unpacker = LayerUnpacker(snapshotter: puller.store.snapshotter)
        committed = chains.indices.map { i in
            let latch = Latch<Void>()
            if !missing.contains(i) { latch.arrive(.success(())) }
            return latch
        }
    }

    func run(_ index: Int) throws {
        do {
            try transfer(index)
            committed[index].arrive(.success(()))
        } catch {
            committed[index].arrive(.failure(error))
            throw error
        }
    }

    func transfer(_ index: Int) throws {
        let layer = resolved.manifest.layers[index]
        let id = layer.digest.shortID
        let diffID = resolved.config.rootfs.diffIDs[index]
        let independent = unpacker.snapshotter.extractsIndependently
        guard let writer = try ingest(layer.digest) else {
            // The blob is here already (an earlier pull, or a load): unpack it.
            if independent { try unpackStored(index) } else { progress(.layer(id, "Download complete")) }
            return
        }
        if writer.offset > 0 { puller.registry.log("resuming \(layer.digest) at byte \(writer.offset) of \(layer.size)") }

        // Extraction runs beside the transfer, reading what the transfer writes into a pipe.
        var extraction: Latch<(key: String, bytes: Int64)>?
        var pipeWrite: Int32 = -1
        if independent {
            var fds: [Int32] = [0, 0]
            try sys("pipe2", "") { berth_pipe_cloexec(&fds) }
            let latch = Latch<(key: String, bytes: Int64)>()
            let readEnd = fds[0], unpacker = self.unpacker
            Threads.detach {
                let result = Result { try unpacker.extract(fd: readEnd, diffID: diffID, chain: self.chains[index], parent: nil) }
                close(readEnd)  // a failed extractor breaks the pipe; the transfer carries on into the ingest
                latch.arrive(result)
            }
            extraction = latch
            pipeWrite = fds[1]
        }
        var downloadError: Error?
        do {
            try replay(writer, into: &pipeWrite, path: layer.digest.description)
            try download(layer, into: writer, pipe: &pipeWrite)
        } catch {
            downloadError = error
        }
        if pipeWrite >= 0 { close(pipeWrite) }
        let extracted = extraction.map { latch in Result { try latch.wait() } }
        func dropStaged() { if case .success(let staged)? = extracted { try? unpacker.snapshotter.remove(key: staged.key) } }  // else an interrupted unpack, which the next start's repair removes
        if let downloadError { dropStaged(); throw downloadError }

        progress(.layer(id, "Verifying Checksum"))
        do {
            try writer.commit(expected: layer.digest, size: layer.size)
        } catch let error as ContentError {
            dropStaged()
            if case .digestMismatch(let expected, let actual) = error { throw RegistryError.digestMismatch(expected: expected, actual: actual) }
            throw RegistryError.protocolError("blob \(layer.digest): \(error)")
        }
        progress(.layer(id, "Download complete"))
        guard let extracted else { return }  // vfs: store.add unpacks in order
        let staged = try extracted.get()
        progress(.layer(id, "Extracting", current: layer.size, total: layer.size))
        try commitInOrder(index, key: staged.key)
    }

    /// An ingest to append to, or nil when the blob is already stored. Waits while another pull
    /// holds the same blob's ingest.
    func ingest(_ digest: Digest) throws -> ContentWriter? {
        while true {
            if content.exists(digest) { return nil }
            do { return try content.writer(ref: "pull-" + digest.hex) } catch ContentError.locked {
                usleep(100_000)
            }
        }
    }

    func unpackStored(_ index: Int) throws {
        let layer = resolved.manifest.layers[index]
        let fd = try content.open(layer.digest)
        defer { close(fd) }
        progress(.layer(layer.digest.shortID, "Extracting", current: layer.size, total: layer.size))
        let staged = try unpacker.extract(fd: fd, diffID: resolved.config.rootfs.diffIDs[index], chain: chains[index], parent: nil)
        try commitInOrder(index, key: staged.key)
    }

    func commitInOrder(_ index: Int, key: String) throws {
        do {
            if index > 0 { try committed[index - 1].wait() }
            try unpacker.commit(key: key, chain: chains[index], parent: index > 0 ? chains[index - 1] : nil)
        } catch {
            try? unpacker.snapshotter.remove(key: key)  // else an interrupted unpack, which the next start's repair removes
            throw error
        }
        progress(.layer(resolved.manifest.layers[index].digest.shortID, "Pull complete"))
    }

    /// Feeds the extractor what an earlier, interrupted transfer already stored.
    func replay(_ writer: ContentWriter, into pipe: inout Int32, path: String) throws {
        guard pipe >= 0, writer.offset > 0 else { return }
        let fd = try sys("open", writer.dataPath) { open(writer.dataPath, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var left = writer.offset
        while left > 0, pipe >= 0 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(min(Int64($0.count), left))) }
            guard n > 0 else { throw SystemError("read", writer.dataPath) }
            buffer.withUnsafeBytes { feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), pipe: &pipe) }
            left -= Int64(n)
        }
    }

    /// Writes to the extractor; a broken pipe (the extractor gave up) stops the feeding only.
    func feed(_ bytes: UnsafeRawBufferPointer, pipe: inout Int32) {
        guard pipe >= 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let n = write(pipe, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { close(pipe); pipe = -1; return }
            offset += n
        }
    }

    /// The rest of the blob into `writer` (and the pipe), with retries that resume at the
    /// ingest's offset.
    func download(_ layer: Descriptor, into writer: ContentWriter, pipe: inout Int32) throws {
        let id = layer.digest.shortID
        var attempt = 0
        var lastReport = 0.0
        while writer.offset < layer.size {
            do {
                let offset = writer.offset
                let response = try resolved.client.blob(layer.digest, from: offset)
                var skip = response.status == 206 ? 0 : offset
                if offset > 0 { puller.registry.log("\(layer.digest): resumed at byte \(offset) (HTTP \(response.status))") }
                try response.read { block in
                    var bytes = block
                    if skip > 0 {
                        let n = Int(min(skip, Int64(bytes.count)))
                        skip -= Int64(n)
                        bytes = UnsafeRawBufferPointer(rebasing: bytes[n...])
                        if bytes.isEmpty { return }
                    }
                    guard writer.offset + Int64(bytes.count) <= layer.size else {
                        throw RegistryError.protocolError("blob \(layer.digest) is larger than the \(layer.size) bytes its manifest declares")
                    }
                    try writer.write(bytes)
                    feed(bytes, pipe: &pipe)
                    let now = Monotonic.now()
                    if now - lastReport >= 0.1 {
                        lastReport = now
                        progress(.layer(id, "Downloading", current: writer.offset, total: layer.size))
                    }
                }
                if writer.offset < layer.size { throw RegistryError.connection("connection closed at byte \(writer.offset) of \(layer.size)") }
                progress(.layer(id, "Downloading", current: writer.offset, total: layer.size))
            } catch let error as RegistryError where error.isTransient && attempt < puller.retryDelays.count {
                let delay = puller.retryDelays[attempt]
                attempt += 1
                puller.registry.log("download of \(layer.digest) failed at byte \(writer.offset) (\(error)); retrying in \(delay)s")
                progress(.layer(id, "Retrying in \(Int(delay.rounded(.up))) second\(delay > 1 ? "s" : "")"))
                usleep(UInt32(delay * 1_000_000))
            }
        }
    }
}
