/// Headers of `POST /build` that carry what BuildKit's session would: sent by `berth build`
/// (the docker CLI sends these only to BuildKit), each base64url-encoded JSON.
public enum BuildHeaders {
    /// `{"id": "<base64 value>"}`: the secrets of `--secret`, in memory only on both sides.
    public static let secrets = "X-Berth-Build-Secrets"
    /// `{"id": "<agent socket>"}`: the agents of `--ssh`, sockets on the daemon's machine.
    public static let ssh = "X-Berth-Build-SSH"
}
