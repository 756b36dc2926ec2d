import FoundationEssentials
import GRPCCore
import Testing
@testable import BerthCRI

/// The streaming server's pure parts: its single-use token cache, the protocol it picks from a
/// client's offer, the URLs it accepts (any text a client sends), and the statuses it ends with.
@Suite struct StreamingTests {
    let exec = StreamRequests.Request.exec(containerID: "c", command: ["sh"], tty: false, stdin: true, stdout: true, stderr: true)

    @Test func aTokenIsUsedOnceForItsKindAndExpires() throws {
        let requests = StreamRequests()
        let token = try requests.insert(exec, now: 100)
        #expect(requests.contains(token, kind: "exec", now: 100))
        #expect(requests.take(token, kind: "attach", now: 100) == nil)  // another kind's URL does not reach it
        #expect(requests.take(token, kind: "exec", now: 100) == exec)
        #expect(requests.take(token, kind: "exec", now: 100) == nil)
        let late = try requests.insert(exec, now: 100)
        #expect(!requests.contains(late, kind: "exec", now: 100 + StreamRequests.lifetime + 1))
        #expect(requests.take(late, kind: "exec", now: 100 + StreamRequests.lifetime + 1) == nil)
    }

    @Test func atMostCapacityRequestsWaitAndExpiredOnesMakeRoom() throws {
        let requests = StreamRequests()
        for _ in 0..<StreamRequests.capacity { _ = try requests.insert(exec, now: 0) }
        #expect(throws: RPCError.self) { try requests.insert(exec, now: 1) }
        _ = try requests.insert(exec, now: StreamRequests.lifetime + 1)
    }

    @Test(arguments: [
        (["v5.channel.k8s.io, v4.channel.k8s.io"], ChannelProtocol.v5),
        (["v4.channel.k8s.io", "v5.channel.k8s.io"], .v4),  // the client's order
        (["base64.channel.k8s.io", "channel.k8s.io"], .v1),
        ([], .unnamed),
    ] as [([String], ChannelProtocol)])
    func theClientsFirstServedProtocolIsChosen(offer: [String], chosen: ChannelProtocol) {
        #expect(ChannelProtocol.negotiate(offer, supported: StreamingServer.supported("exec")) == chosen)
    }

    @Test func portForwardingServesV4AndUnnamedOnly() {
        #expect(ChannelProtocol.negotiate(["v5.channel.k8s.io"], supported: StreamingServer.supported("portforward")) == nil)
        #expect(ChannelProtocol.negotiate(["v5.channel.k8s.io", "v4.channel.k8s.io"], supported: StreamingServer.supported("portforward")) == .v4)
        #expect(ChannelProtocol.negotiate(["", " , "], supported: StreamingServer.supported("portforward")) == .unnamed)
    }

    @Test(arguments: ["/", "", "/exec", "/exec/", "/exec/a/b", "/run/a", "?", "/exec/?port=1", "//exec//"])
    func urlsThatNameNoRequestAreNotRoutes(uri: String) {
        #expect(StreamingServer.route(uri) == nil)
    }

    @Test func aRouteKeepsItsQueryWhateverItHolds() throws {
        let route = try #require(StreamingServer.route("/portforward/tok?port=80&=&port&&port=x=y&port=8080"))
        #expect(route.kind == "portforward" && route.token == "tok")
        #expect(route.query.map { "\($0.0)=\($0.1)" } == ["port=80", "=", "port=", "port=x=y", "port=8080"])
    }

    @Test func statusesAreTheKubeletsJSON() throws {
        struct Status: Decodable {
            struct Cause: Decodable { var reason: String?; var message: String }
            struct Details: Decodable { var causes: [Cause] }
            var status: String; var reason: String?; var message: String?; var details: Details?; var code: Int?
        }
        let success = try JSONDecoder().decode(Status.self, from: Data(StreamStatus.success.json))
        #expect(success.status == "Success" && success.reason == nil)
        let exited = try JSONDecoder().decode(Status.self, from: Data(StreamStatus.exited(code: 7, command: ["sh", "-c", "exit 7"]).json))
        #expect(exited.status == "Failure" && exited.reason == "NonZeroExitCode")
        #expect(exited.details?.causes.first?.reason == "ExitCode" && exited.details?.causes.first?.message == "7")
        #expect(exited.message?.contains("[sh -c exit 7]") == true)
        let failed = try JSONDecoder().decode(Status.self, from: Data(StreamStatus.internalError("no shim").json))
        #expect(failed.reason == "InternalError" && failed.code == 500)
        // v1 has no JSON: the error channel gets an error's text, and nothing for a success
        #expect(StreamStatus.success.message(for: .v1) == nil)
        #expect(StreamStatus.internalError("x").message(for: .v1) == [3, UInt8(ascii: "x")])
        #expect(StreamStatus.success.message(for: .v4)?.first == 3)
    }

    @Test func forwardedPortsAreNumbersAUserMeantAndFewEnoughForOneByteOfChannels() throws {
        #expect(try StreamingServer.forwardedPorts([("port", "80"), ("other", "x"), ("port", "65535")]).get() == [80, 65535])
        for bad in ["x", "0", "65536", "-1", ""] {
            #expect(throws: StreamingServer.RefusalReason.self) { try StreamingServer.forwardedPorts([("port", bad)]).get() }
        }
        let many = (1...UInt16(StreamingServer.maxPorts + 1)).map { ("port", String($0)) }
        #expect(throws: StreamingServer.RefusalReason.self) { try StreamingServer.forwardedPorts(many).get() }
        #expect(StreamingServer.maxPorts * 2 <= 255)  // every port's two channels fit the channel byte
    }
}
