import Glibc

/// Column alignment as docker's tabwriter (`minwidth 10, padding 3`): every cell but the last of
/// a row is padded to its column's widest cell plus three spaces.
public enum Table {
    public static func render(_ rows: [[String]]) -> String {
        var widths: [Int] = []
        for row in rows {
            for (i, cell) in row.enumerated().dropLast() {
                let w = max(cell.count + 3, 10)
                if i < widths.count { widths[i] = max(widths[i], w) } else { widths.append(w) }
            }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined()
        }.map { $0 + "\n" }.joined()
    }

    /// Rows from a rendered template (tab-separated cells), header first for `table` formats.
    public static func fromTemplate(_ lines: [String]) -> String {
        render(lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) })
    }
}
