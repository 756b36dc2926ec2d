import BerthArchive
import BerthSystem
import Glibc

/// berth-bench-extract LAYER.tar DIR: unpacks one layer with Berth's extractor (in-root, the
/// overlay whiteout form, libarchive underneath), for `bench/extract.sh` to time against GNU tar.
guard CommandLine.arguments.count == 3 else {
    FileIO.stderr("usage: berth-bench-extract LAYER.tar DIR\n")
    exit(2)
}
let (layer, target) = (CommandLine.arguments[1], CommandLine.arguments[2])
do {
    let fd = try sys("open", layer) { open(layer, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    try FileIO.makeDirectories(target)
    _ = try LayerExtractor(root: target, whiteouts: .overlay).extract(try TarReader(fd: fd))
} catch {
    FileIO.stderr("berth-bench-extract: \(error)\n")
    exit(1)
}
