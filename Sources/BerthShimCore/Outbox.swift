import Glibc

/// Bytes waiting for one client's socket. The shim never blocks on a client: a reader slower
/// than the container is served from here as its socket takes bytes, and the poll loop decides,
/// from `pending` and `stalledSince`, whether to slow the producer or drop the client.
struct Outbox {
    private var bytes: [UInt8] = []
    private var head = 0
    /// When the queue last went over the bound with no byte taken since; nil while the client
    /// keeps up or makes progress.
    private(set) var stalledSince: Double?

    /// Above this a producer waits for the client (Docker slows a container for a slow attach
    /// rather than losing its output).
    static let bound = 1 << 20
    /// A client that takes nothing for this long while over the bound is stalled (a stopped
    /// `docker attach`, a berthd under SIGSTOP): attach clients are dropped so the log goes on.
    static let stallGrace = 2.0

    var pending: Int { bytes.count - head }
    var isFull: Bool { pending > Self.bound }

    mutating func append(_ header: [UInt8], _ payload: ArraySlice<UInt8>, now: Double) {
        bytes += header
        bytes += payload
        if isFull, stalledSince == nil { stalledSince = now }
    }

    /// Writes what the socket takes without waiting. Returns false when the connection is broken.
    mutating func flush(to fd: Int32, now: Double) -> Bool {
        while pending > 0 {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + head, pending, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            if n <= 0 { return false }
            head += n
            stalledSince = nil
        }
        if head == bytes.count {
            bytes.removeAll(keepingCapacity: bytes.capacity <= Self.bound * 2)
            head = 0
        } else if head >= Self.bound {
            bytes.removeFirst(head)
            head = 0
        }
        if isFull, stalledSince == nil { stalledSince = now }
        return true
    }

    func stalled(now: Double) -> Bool {
        guard let since = stalledSince else { return false }
        return now - since >= Self.stallGrace
    }
}
