import BerthRuntimeCore
import BerthShimProtocol
import BerthSystem
import CBerthLinux
import FoundationEssentials
import Glibc

/// `berth-shim --template`: berthd's warm shim. A container's shim is forked from it instead of
/// exec'd, which spares each start the loader and the Swift runtime's start-up (≈1 ms) and the
/// cold JSON decoding of its config, spec and record (≈1 ms: the type metadata and witness
/// tables it instantiates) and the seccomp program's lookup. Those are made once, here, on the first
/// request, and every shim forked after shares their pages copy-on-write instead of dirtying its own.
///
/// A request is one SEQPACKET message on fd 0: the config's path, carrying the descriptor the new
/// shim reports on (`ShimReady`). The template forks and goes back to waiting, so starts do not
/// queue behind one another; the kernel reaps the shims. berthd's end closing (its exit, or a
/// crash) ends the template, and the shims carry on.
public enum ShimTemplate {
    public static func serve(control: Int32 = 0) -> Never {
        signal(SIGCHLD, SIG_IGN)
        var warm = false
        var name = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        while true {
            let report = berth_recv_fd(control, &name, name.count)
            guard report >= 0 else {
                if errno == EINTR { continue }
                exit(0)
            }
            let path = String(cString: name)
            if !warm {
                warm = true
                warmUp(configPath: path)
                // What the warm-up freed and the code it ran (`berth_release_before_forking`).
                // Then the heap's holes, so that shims allocate on pages of their own.
                berth_release_before_forking()
                berth_fill_heap_holes()
            }
            let pid = fork()
            if pid == 0 {
                signal(SIGCHLD, SIG_DFL)  // the shim waits for its container's processes
                close(control)
                ProcessTitle.replace(with: [CommandLine.arguments[0], path])
                guard let config = Shim.loadConfig(path) else {
                    ShimReady.fail(report, "cannot read the shim's config \(path)")
                    exit(1)
                }
                Shim.serve(config, report: report)
            }
            if pid < 0 { ShimReady.fail(report, "fork of the shim template: \(errnoText(errno))") }
            close(report)
        }
    }

    /// What every shim decodes and compiles: its config, the spec and its seccomp program, the
    /// lean record, a request and a reply. Failures do not matter here: the shim itself meets them and reports them.
    static func warmUp(configPath: String) {
        guard let config = Shim.loadConfig(configPath) else { return }
        _ = try? Runtime.warmUp(bundle: config.bundle, root: config.runtimeRoot)
        _ = try? JSONDecoder().decode(ShimRequest.self, from: Data(#"{"op":"start"}"#.utf8))
        _ = try? JSONEncoder().encode(ShimReply(pid: 1))
    }
}
