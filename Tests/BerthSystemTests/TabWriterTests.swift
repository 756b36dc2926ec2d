import BerthSystem
import Testing

@Suite struct TabWriterTests {
    @Test func runcListsHeaderAsRuncPrintsIt() {
        // `runc --root /empty list` (runc 1.1.5): tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
        let header = TabWriter.render([["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]], minWidth: 12)
        #expect(header == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n")
    }

    @Test func aColumnTakesItsWidestCellPlusPaddingAndALinesLastCellIsNotAColumn() {
        let text = TabWriter.render([["a", "b", "c"], ["longer-than-min", "x"]], minWidth: 10)
        #expect(text == "a                 b         c\nlonger-than-min   x\n")
    }
}
