/// What goes wrong with an archive, phrased for the user who supplied it.
public enum ArchiveError: Error, CustomStringConvertible, Equatable {
    /// libarchive refused the bytes (not a tar, truncated, corrupt compression).
    case malformed(String)
    /// An entry tried to leave the extraction root.
    case escapes(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .malformed(let m): return "invalid tar archive: \(m)"
        case .escapes(let p): return "invalid tar entry \"\(p)\": path escapes the extraction root"
        case .unsupported(let m): return "unsupported tar entry: \(m)"
        }
    }
}
