/// One `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
public struct AuthChallenge: Equatable, Sendable {
    public var scheme: String
    public var parameters: [String: String]

    public var realm: String? { parameters["realm"] }

    /// Every challenge in a header value (several may share one header, comma-separated).
    public static func parse(_ header: String) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        var chars = Substring(header)
        func skipSpace() { while let c = chars.first, c == " " || c == "\t" || c == "," { chars = chars.dropFirst() } }
        func token() -> String {
            let t = chars.prefix(while: { $0 != " " && $0 != "\t" && $0 != "=" && $0 != "," })
            chars = chars.dropFirst(t.count)
            return String(t)
        }
        while true {
            skipSpace()
            let scheme = token()
            if scheme.isEmpty { break }
            var challenge = AuthChallenge(scheme: scheme.lowercased(), parameters: [:])
            while true {
                skipSpace()
                let save = chars
                let name = token()
                guard !name.isEmpty, chars.first == "=" else { chars = save; break }
                chars = chars.dropFirst()
                var value = ""
                if chars.first == "\"" {
                    chars = chars.dropFirst()
                    while let c = chars.first, c != "\"" {
                        if c == "\\", let next = chars.dropFirst().first { value.append(next); chars = chars.dropFirst(2); continue }
                        value.append(c)
                        chars = chars.dropFirst()
                    }
                    chars = chars.dropFirst()
                } else {
                    value = token()
                }
                challenge.parameters[name.lowercased()] = value
            }
            challenges.append(challenge)
        }
        return challenges
    }
}
