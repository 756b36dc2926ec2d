import Testing
@testable import BerthSystem

@Suite struct MountOptionsTests {
    @Test func splitsFlagsPropagationAndData() {
        let o = MountOptions(["rbind", "ro", "nosuid", "rprivate", "size=64k", "mode=755"])
        #expect(o.flags == MountFlag.bind | MountFlag.rec | MountFlag.rdonly | MountFlag.nosuid)
        #expect(o.isBind && o.isRecursive)
        #expect(o.propagation == [MountFlag.private | MountFlag.rec])
        #expect(o.data == ["size=64k", "mode=755"])
    }

    @Test func laterOptionsOverrideEarlierOnes() {
        let o = MountOptions(["ro", "rw", "noexec", "exec", "suid"])
        #expect(o.flags == 0)
        #expect(o.clearedFlags == MountFlag.rdonly | MountFlag.noexec | MountFlag.nosuid)
    }

    @Test func ignoresOptionsHandledElsewhere() {
        #expect(MountOptions(["tmpcopyup", "idmap"]) == MountOptions([]))
    }
}
