import BerthAPI
import BerthArchive
import BerthBuild
import BerthEngine
import BerthOCI
import BerthServer
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The parsers that take input from outside — Dockerfiles and .dockerignore, tars (plain and
/// compressed), image references, API and image JSON, and what arrives in query strings and on
/// hijacked streams (detach keys, filters) — driven with arbitrary bytes. Each run must
/// return or throw; a crash, a hang or a broken invariant is a finding. libFuzzer drives them
/// through `berth-fuzz`; the unit tests replay the committed corpus.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case dockerfile, tar, reference, json, query, extract, auth, http

    public func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .dockerfile:
            let text = String(decoding: data, as: UTF8.self)
            _ = try? Dockerfile(parsing: text)
            let rules = IgnoreRules(text)
            _ = rules.excludes("a/b/c.txt")
            // the last line also as a path matched against the rest, and as words to expand
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if let last = lines.last {
                _ = IgnoreRules(lines.dropLast().joined(separator: "\n")).excludes(String(last))
                _ = try? ShellLexer().words(String(last), ["A": "x y", "EMPTY": "", "HOME": "/root"])
                _ = try? ShellLexer(escape: "`").words(String(last), ["A": "1"], split: false)
            }
        case .tar:
            Self.readTar(data)
        case .query:
            Self.query(data)
        case .http:
            Self.http(data)
        case .extract:
            Self.extract(data)
        case .auth:
            // X-Registry-Auth: base64url of a JSON object, as the server reads it
            let text = String(decoding: data, as: UTF8.self)
            var b64 = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            while b64.utf8.count % 4 != 0 { b64 += "=" }
            if let decoded = Data(base64Encoded: b64) { _ = try? WireDecoder.decode(RegistryAuth.self, from: Array(decoded)) }
            _ = try? WireDecoder.decode(RegistryAuth.self, from: Array(data))
        case .reference:
            let text = String(decoding: data, as: UTF8.self)
            guard let reference = try? Reference(parsing: text) else { return }
            // What is printed must parse back to the same reference (tags and digests survive).
            guard let again = try? Reference(parsing: reference.description), again == reference else {
                fatalError("reference \(text.debugDescription) prints as \(reference.description.debugDescription), which does not parse back")
            }
        case .json:
            // request bodies as berthd reads them; what decodes encodes to JSON that decodes back to
            // the same encoding (omitempty may drop an empty field once, never change a value)
            if let config = try? WireDecoder.decode(ContainerConfig.self, from: Array(data)) {
                guard let first = try? WireEncoder.encode(config),
                      let again = try? WireDecoder.decode(ContainerConfig.self, from: first),
                      let second = try? WireEncoder.encode(again), second == first else {
                    fatalError("a decoded ContainerConfig does not survive encode and decode")
                }
            }
            _ = try? WireDecoder.decode(ContainerCreateExtras.self, from: Array(data))
            _ = try? WireDecoder.decode(NetworkCreateRequest.self, from: Array(data))
            _ = try? WireDecoder.decode(ExecConfig.self, from: Array(data))
            // images' JSON, as pulls and loads read it
            let bytes = Data(UnsafeRawBufferPointer(data))
            let decoder = JSONDecoder()
            _ = try? decoder.decode(Manifest.self, from: bytes)
            _ = try? decoder.decode(Index.self, from: bytes)
            _ = try? decoder.decode(ImageConfig.self, from: bytes)
        }
    }

    /// The first line is a `detachKeys` value (or a `filters` JSON), the rest a client's stream:
    /// the stream scanned whole and split at every point must detach the same way and forward the
    /// same bytes (berthd once trapped on `detachKeys=,` and on sequences split across reads).
    static func query(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        let cut = bytes.firstIndex(of: 10) ?? bytes.count
        let spec = String(decoding: bytes[..<cut], as: UTF8.self)
        _ = try? WireDecoder.decode([String: [String]].self, from: Array(bytes[..<cut]))
        _ = try? WireDecoder.decode([String: String?].self, from: Array(bytes[..<cut]))
        guard let keys = try? DetachKeys(parsing: spec) else { return }
        let stream = Array(bytes[min(cut + 1, bytes.count)...].prefix(64))
        var whole = DetachKeyScanner(keys)
        let expected = whole.scan(stream)
        for split in 0...stream.count {
            var scanner = DetachKeyScanner(keys)
            let first = scanner.scan(stream[..<split])
            let second = first.detached ? (forward: [UInt8](), detached: true) : scanner.scan(stream[split...])
            guard first.forward + second.forward == expected.forward, second.detached == expected.detached else {
                fatalError("detach keys \(spec.debugDescription) scan differently when the input is split at \(split)")
            }
        }
    }

    /// Bytes as they arrive on berthd's socket: NIO's HTTP/1 decoder (llhttp, C) reads the request
    /// heads, then each head goes through what berthd does with it before a handler runs (version
    /// prefix, query string, route matching) and every query parameter parser the routes use.
    static func http(_ data: UnsafeRawBufferPointer) {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        guard (try? channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))) != nil else {
            fatalError("the HTTP decoder could not be added")
        }
        _ = try? channel.writeInbound(channel.allocator.buffer(bytes: data))
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            guard case .head(let head) = part else { continue }
            let request = Router.parse(head, body: [], bodyFile: nil)
            let segments = request.path.split(separator: "/").map(String.init)
            for pattern in [["containers", "{id}", "json"], ["images", "{name...}", "json"], ["distribution", "{name...}", "json"], ["exec", "{id}", "start"]] {
                if let params = Router.match(pattern, segments), params.count != pattern.filter({ $0.hasPrefix("{") }).count {
                    fatalError("\(request.path.debugDescription) matched \(pattern) with \(params.count) parameters")
                }
            }
            for name in request.query.keys {
                _ = request.flag(name)
                _ = request.int(name)
                _ = request.dimension(name)
            }
            _ = try? ContainerService.parseFilters(request.query("filters"))
            _ = try? request.query("since").map(APIRequest.eventTime)
            _ = try? request.query("until").map(APIRequest.eventTime)
            _ = try? request.query("signal").map(Signal.parse)
            _ = request.query("size").flatMap(ContainerService.parseSize)
            _ = try? DetachKeys(parsing: request.query("detachKeys"))
            _ = try? BuildOptions(request: request)
        }
    }

    /// A layer extracted for real into a scratch directory: nothing may land outside it (the
    /// directory's parent holds a canary every run checks), and a failure is an error, never a trap.
    static func extract(_ data: UnsafeRawBufferPointer) {
        let base = "/tmp/berth-fuzz-extract-\(getpid())"
        let root = base + "/root"
        try? FileIO.removeTree(base)
        guard (try? FileIO.makeDirectories(root, mode: 0o755)) != nil else { fatalError("mkdir \(root)") }
        defer { try? FileIO.removeTree(base) }
        let fd = berth_memfd("berth-fuzz")
        guard fd >= 0 else { fatalError("memfd_create: \(errno)") }
        defer { close(fd) }
        guard (try? FileIO.writeAll(fd, data, path: "memfd")) != nil, lseek(fd, 0, SEEK_SET) == 0 else { return }
        guard let reader = try? TarReader(fd: fd) else { return }
        _ = try? LayerExtractor(root: root, whiteouts: .overlay).extract(reader)
        let outside = ((try? FileIO.listDirectory(base)) ?? []).filter { $0 != "root" }
        if !outside.isEmpty { fatalError("extraction wrote outside its root: \(outside)") }
    }

    /// Every entry's header and up to 1 MiB of its data, from an in-memory file.
    static func readTar(_ data: UnsafeRawBufferPointer) {
        let fd = berth_memfd("berth-fuzz")
        guard fd >= 0 else { fatalError("memfd_create: \(errno)") }
        defer { close(fd) }
        guard (try? FileIO.writeAll(fd, data, path: "memfd")) != nil, lseek(fd, 0, SEEK_SET) == 0 else { return }
        guard let reader = try? TarReader(fd: fd) else { return }
        for _ in 0..<10_000 {
            guard let entry = try? reader.next() else { return }
            _ = try? TarEntry.clean(entry.path)
            _ = try? reader.readData(limit: 1 << 20)
        }
    }
}
