import BerthEngine
import BerthSystem
import Glibc
import Testing

@Suite struct EngineErrorTests {
    @Test func theLogShowsACauseTheClientsWordsLeaveOut() {
        let denied = SystemError("openat", "/srv/data", errno: EACCES)
        let error = EngineError.notFound("Could not find the file /srv/data in container web", cause: denied)
        #expect(error.description == "Could not find the file /srv/data in container web")
        #expect(describeWithCauses(error) == "Could not find the file /srv/data in container web (cause: \(denied))")
    }

    @Test func aCauseAlreadyQuotedIsNotRepeated() {
        let lower = SystemError("write", "/sys/fs/cgroup/cpu/cpu.shares", errno: EINVAL)
        let error = EngineError.internalError("Cannot update container x: \(lower)", cause: lower)
        #expect(describeWithCauses(error) == error.description)
    }

    @Test func causesAreFollowedThroughEveryLevel() {
        let bottom = SystemError("mount", "/var/lib/berth/volumes/v", errno: EPERM)
        let middle = EngineError.internalError("volume v could not be mounted", cause: bottom)
        let top = EngineError.conflict("container c could not start", cause: middle)
        #expect(describeWithCauses(top) == "container c could not start (cause: volume v could not be mounted) (cause: \(bottom))")
    }

    @Test func errorsAreCaughtByKindWhateverTheirType() {
        #expect(ErrorCode.of(EngineError.conflict("busy")) == .conflict)
        #expect(ErrorCode.of(EngineError.notModified) == .notModified)
        #expect(ErrorCode.of(SystemError("open", errno: ENOENT)) == nil)
    }
}
