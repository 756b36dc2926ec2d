import Testing
@testable import BerthCgroups

@Suite struct CgroupStatsTests {
    /// v1's blkio files as the kernel writes them: per-operation lines (a device's `Total` left
    /// out, `Sync`/`Async` kept only where every operation is wanted) and the two files with no
    /// operation; a malformed line is skipped, not a trap.
    @Test func readsV1BlkioLines() {
        let serviced = "8:0 Read 12\n8:0 Write 3\n8:0 Sync 15\n8:0 Async 0\n8:0 Total 15\nTotal 15\n"
        let rw = CgroupStats.blkioEntries(serviced, readWriteOnly: true).map { "\($0.0):\($0.1) \($0.2) \($0.3)" }
        #expect(rw == ["8:0 read 12", "8:0 write 3"])
        #expect(CgroupStats.blkioEntries(serviced, readWriteOnly: false).count == 4)
        let sectors = CgroupStats.blkioEntries("8:0 2048\nbad line here too\n259:1 x\n", readWriteOnly: false)
        #expect(sectors.count == 1 && sectors[0].2 == "" && sectors[0].3 == 2048)
        #expect(CgroupStats.blkioEntries(nil, readWriteOnly: false).isEmpty)
    }
}
