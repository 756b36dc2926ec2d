/// Go's text/tabwriter as docker (`minwidth 10, padding 3`) and runc (`minwidth 12, padding 3`)
/// print their tables: every cell but a row's last is padded to its column's widest cell plus
/// `padding`, and to at least `minWidth`. A row's last cell is not part of a column, as a Go
/// line's text after its last tab is not.
public enum TabWriter {
    public static func render(_ rows: [[String]], minWidth: Int, padding: Int = 3) -> String {
        var widths: [Int] = []
        for row in rows {
            for (i, cell) in row.enumerated().dropLast() {
                let w = max(cell.count + padding, minWidth)
                if i < widths.count { widths[i] = max(widths[i], w) } else { widths.append(w) }
            }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined()
        }.map { $0 + "\n" }.joined()
    }
}
