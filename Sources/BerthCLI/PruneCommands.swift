import BerthAPI
import BerthSystem
import Glibc

/// Every `prune`: docker's warning and `[y/N]` prompt (skipped by `-f`), the endpoint, and the
/// report as docker prints it. `system prune` runs the same pruners in docker's order and adds up
/// the space.
extension CLI {
    /// One kind of object a prune removes.
    struct Pruner {
        let path: String
        let deletedKey: String
        let title: String
        /// The whole report ends with a blank line after the list, except for networks alone.
        let blankAfterList: Bool
    }

    static let containerPruner = Pruner(path: "/containers/prune", deletedKey: "ContainersDeleted", title: "Deleted Containers:", blankAfterList: true)
    static let networkPruner = Pruner(path: "/networks/prune", deletedKey: "NetworksDeleted", title: "Deleted Networks:", blankAfterList: false)
    static let volumePruner = Pruner(path: "/volumes/prune", deletedKey: "VolumesDeleted", title: "Deleted Volumes:", blankAfterList: true)
    static let imagePruner = Pruner(path: "/images/prune", deletedKey: "ImagesDeleted", title: "Deleted Images:", blankAfterList: true)
    static let buildPruner = Pruner(path: "/build/prune", deletedKey: "CachesDeleted", title: "Deleted build cache objects:", blankAfterList: true)

    /// Asks as docker asks; true to go on. `-f` goes on without asking; an answer other than y
    /// (or no answer: stdin at its end) is a no, after which docker prints nothing more.
    func confirmed(_ warning: String, force: Bool) -> Bool {
        if force { return true }
        out(warning + (warning.hasSuffix("\n") ? "" : " ") + "[y/N] ")
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while read(0, &byte, 1) == 1, byte != 10 { answer.append(byte) }
        return String(decoding: answer, as: UTF8.self).trimmed.lowercased() == "y"
    }

    /// Runs one pruner; returns the report text and the space reclaimed.
    func runPruner(_ pruner: Pruner, filters: [String], query extra: [(String, String)] = [], inSystemPrune: Bool = false) throws -> (String, Int64) {
        let report = try client.call("POST", pruner.path, query: (filters.isEmpty ? [] : [("filters", Self.filtersJSON(filters))]) + extra)
        var text = ""
        if pruner.deletedKey == "ImagesDeleted" {
            let items = report["ImagesDeleted"]?.array ?? []
            if !items.isEmpty {
                text += pruner.title + "\n"
                for item in items {
                    if let u = item["Untagged"]?.string { text += "untagged: \(u)\n" }
                    if let d = item["Deleted"]?.string { text += "deleted: \(d)\n" }
                }
                text += "\n"
            }
        } else {
            let deleted = report[pruner.deletedKey]?.array.compactMap(\.string) ?? []
            if !deleted.isEmpty {
                text += pruner.title + "\n" + deleted.map { $0 + "\n" }.joined() + (pruner.blankAfterList || inSystemPrune ? "\n" : "")
            }
        }
        return (text, Int64(report["SpaceReclaimed"]?.int ?? 0))
    }

    static let pruneFlags: [Flags.Spec] = [.init("f", "force"), .init(nil, "filter", value: true)]

    func containerPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.pruneFlags)
        guard confirmed("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?", force: f.bool("force")) else { return 0 }
        let (text, space) = try runPruner(Self.containerPruner, filters: f.all("filter"))
        out(text + "Total reclaimed space: \(Size.human(space))\n")
        return 0
    }

    func imagePrune(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.pruneFlags + [.init("a", "all")])
        let what = f.bool("all") ? "all images without at least one container associated to them" : "all dangling images"
        guard confirmed("WARNING! This will remove \(what).\nAre you sure you want to continue?", force: f.bool("force")) else { return 0 }
        let (text, space) = try runPruner(Self.imagePruner, filters: f.all("filter") + (f.bool("all") ? ["dangling=false"] : []))
        out(text + "Total reclaimed space: \(Size.human(space))\n")
        return 0
    }

    func networkPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.pruneFlags)
        guard confirmed("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
                        force: f.bool("force")) else { return 0 }
        out(try runPruner(Self.networkPruner, filters: f.all("filter")).0)  // docker reports no space for networks
        return 0
    }

    func volumePrune(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.pruneFlags + [.init("a", "all")])
        let what = f.bool("all") ? "all local volumes" : "anonymous local volumes"
        guard confirmed("WARNING! This will remove \(what) not used by at least one container.\nAre you sure you want to continue?",
                        force: f.bool("force")) else { return 0 }
        let (text, space) = try runPruner(Self.volumePruner, filters: f.all("filter") + (f.bool("all") ? ["all=true"] : []))
        out(text + "Total reclaimed space: \(Size.human(space))\n")
        return 0
    }

    func builderPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.pruneFlags + [.init("a", "all"), .init(nil, "keep-storage", value: true)])
        let what = f.bool("all") ? "all build cache" : "all dangling build cache"
        guard confirmed("WARNING! This will remove \(what). Are you sure you want to continue?", force: f.bool("force")) else { return 0 }
        let keep = try Self.byteSize(f, "keep-storage") ?? 0
        let (text, space) = try runPruner(Self.buildPruner, filters: f.all("filter"),
                                          query: (f.bool("all") ? [("all", "1")] : []) + (keep != 0 ? [("keep-storage", String(keep))] : []))
        out(text + "Total reclaimed space: \(Size.human(space))\n")
        return 0
    }

    /// `system prune [-a] [--volumes] [-f] [--filter k=v]`: stopped containers, unused networks,
    /// (anonymous volumes,) dangling or unused images and the build cache, as docker does.
    func systemPrune(_ args: [String]) throws -> Int32 {
        let f = try Flags(args, specs: Self.pruneFlags + [.init("a", "all"), .init(nil, "volumes")])
        let all = f.bool("all"), filters = f.all("filter")
        var warnings = ["all stopped containers", "all networks not used by at least one container"]
        if f.bool("volumes") { warnings.append("all anonymous volumes not used by at least one container") }
        warnings.append(all ? "all images without at least one container associated to them" : "all dangling images")
        warnings.append(all ? "all build cache" : "unused build cache")
        var warning = "WARNING! This will remove:\n" + warnings.map { "  - \($0)\n" }.joined()
        if !filters.isEmpty { warning += "\n  Items to be pruned will be filtered with:\n" + filters.map { "  - \($0)\n" }.joined() }
        guard confirmed(warning + "\nAre you sure you want to continue?", force: f.bool("force")) else { return 0 }
        var steps: [(Pruner, [String])] = [(Self.containerPruner, filters), (Self.networkPruner, filters)]
        if f.bool("volumes") { steps.append((Self.volumePruner, filters)) }
        steps.append((Self.imagePruner, filters + (all ? ["dangling=false"] : [])))
        steps.append((Self.buildPruner, filters))
        var total: Int64 = 0
        for (pruner, filters) in steps {
            let extra = pruner.path == Self.buildPruner.path && all ? [("all", "1")] : []
            let (text, space) = try runPruner(pruner, filters: filters, query: extra, inSystemPrune: true)
            out(text)
            total += space
        }
        out("Total reclaimed space: \(Size.human(total))\n")
        return 0
    }
}
