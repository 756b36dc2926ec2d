import BerthAPI
import BerthArchive
import BerthBuild
import BerthOCI
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc

/// The parsers that take input from outside — Dockerfiles and .dockerignore, tars (plain and
/// compressed), image references, API and image JSON — driven with arbitrary bytes. Each run must
/// return or throw; a crash, a hang or a broken invariant is a finding. libFuzzer drives them
/// through `berth-fuzz`; the unit tests replay the committed corpus.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case dockerfile, tar, reference, json

    public func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .dockerfile:
            let text = String(decoding: data, as: UTF8.self)
            _ = try? Dockerfile(parsing: text)
            let rules = IgnoreRules(text)
            _ = rules.excludes("a/b/c.txt")
        case .tar:
            Self.readTar(data)
        case .reference:
            let text = String(decoding: data, as: UTF8.self)
            guard let reference = try? Reference(parsing: text) else { return }
            // What is printed must parse back to the same reference (tags and digests survive).
            guard let again = try? Reference(parsing: reference.description), again == reference else {
                fatalError("reference \(text.debugDescription) prints as \(reference.description.debugDescription), which does not parse back")
            }
        case .json:
            let bytes = Data(UnsafeRawBufferPointer(data))
            let decoder = JSONDecoder()
            _ = try? decoder.decode(ContainerConfig.self, from: bytes)
            _ = try? decoder.decode(ContainerCreateExtras.self, from: bytes)
            _ = try? decoder.decode(Manifest.self, from: bytes)
            _ = try? decoder.decode(Index.self, from: bytes)
            _ = try? decoder.decode(ImageConfig.self, from: bytes)
        }
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
