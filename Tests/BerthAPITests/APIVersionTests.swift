import BerthAPI
import Testing

struct APIVersionTests {
    /// Numerically, part by part, as moby's `versions.LessThan`: a string comparison would put
    /// 1.9 after 1.24 and refuse the docker CLI of API 1.9's era for the wrong reason.
    @Test func versionsCompareByNumberPartByPart() {
        #expect(APIVersion.precedes("1.9", "1.24"))
        #expect(APIVersion.precedes("1.41", "1.50"))
        #expect(!APIVersion.precedes("1.50", "1.50"))
        #expect(APIVersion.precedes("1.50", "1.50.1"))
        #expect(!APIVersion.precedes("2.0", "1.99"))
        #expect(APIVersion.precedes("x.y", "0.1"))  // not a number: 0, and no trap
    }

    /// An API 1.44 client finds the container by its short ID and hostname on a user network, as
    /// moby adds them back; the default bridge has no aliases.
    @Test func aliasesBefore145NameTheContainerOnUserNetworks() {
        var inspect = ContainerInspect()
        inspect.Id = String(repeating: "ab", count: 32)
        inspect.Config.Hostname = "web"
        var endpoint = EndpointSettings()
        endpoint.Aliases = ["db", "web"]
        inspect.NetworkSettings.Networks = ["mine": endpoint, "bridge": EndpointSettings()]
        inspect.addAliasesBefore145()
        #expect(inspect.NetworkSettings.Networks["mine"]?.Aliases == ["db", "web", "abababababab"])
        #expect(inspect.NetworkSettings.Networks["bridge"]?.Aliases == nil)
    }
}
