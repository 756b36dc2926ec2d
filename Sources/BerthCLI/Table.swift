import BerthSystem

/// docker's tables: Go's tabwriter with `minwidth 10, padding 3`.
public enum Table {
    public static func render(_ rows: [[String]]) -> String { TabWriter.render(rows, minWidth: 10) }

    /// Rows from a rendered template (tab-separated cells), header first for `table` formats.
    public static func fromTemplate(_ lines: [String]) -> String {
        render(lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) })
    }
}
