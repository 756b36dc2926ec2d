/// The one version string every Berth program reports: the Docker release whose CLI and Engine
/// API Berth follows, marked as Berth's.
public enum BerthVersion {
    public static let release = "28.0.0-berth"
    /// berth-runtime's, shown by `berth-runtime --version`, `version` and `info`.
    public static let runtime = "0.1.0"
}
