import Glibc

/// What `/proc/PID/cmdline` shows (and so `ps` and `pgrep -f`), rewritten in place in the memory
/// the kernel gave the argument strings, as setproctitle does (pointing the kernel elsewhere
/// takes CAP_SYS_RESOURCE). A process forked to be something else shows what it is.
public enum ProcessTitle {
    /// Replaces the arguments with `args`; false, leaving them, when they do not fit.
    @discardableResult
    public static func replace(with args: [String]) -> Bool {
        // arg_start and arg_end are /proc/self/stat's fields 48 and 49; the command name before
        // them may hold spaces and parentheses, so the count starts after its last ')'.
        guard let stat = try? FileIO.readString("/proc/self/stat"), let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state, field 3 of the file: field N is fields[N - 3]
        guard fields.count > 46, let start = UInt(fields[45]), let end = UInt(fields[46]), end > start,
              let base = UnsafeMutableRawPointer(bitPattern: start) else { return false }
        let capacity = Int(end - start)
        let bytes: [UInt8] = args.flatMap { Array($0.utf8) + [0] }
        guard bytes.count <= capacity else { return false }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        for (offset, byte) in bytes.enumerated() { base.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
        return true
    }
}
