import BerthFuzz
import BerthSystem
import Glibc

/// Built with `-sanitize=fuzzer -D BERTH_LIBFUZZER` (tests/fuzz/run.sh), libFuzzer drives the
/// target named by BERTH_FUZZ_TARGET. Built plainly, it replays the files given as arguments (a
/// finding's reproducer).
let selected: FuzzTarget = {
    let name = getenv("BERTH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileIO.stderr("berth-fuzz: set BERTH_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n")
        exit(2)
    }
    return target
}()

#if BERTH_LIBFUZZER
/// libFuzzer's driver, entered from our own `main` (SwiftPM names an executable's entry point
/// itself, so libFuzzer's `main` cannot be used).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The entry libFuzzer's runtime links against (and the driver is given).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#endif

@main
struct FuzzMain {
    static func main() throws {
        #if BERTH_LIBFUZZER
        _ = selected
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOne))
        #else
        for path in CommandLine.arguments.dropFirst() {
            try FileIO.read(path).withUnsafeBytes { selected.run($0) }
        }
        #endif
    }
}
