"""A small SPDY/3.1 client for Kubernetes' streaming protocols, as moby/spdystream speaks them for
the kubelet and kubectl: remote command (`v4.channel.k8s.io`: an error, stdin, stdout, stderr and
resize stream, each opened by the client with a `streamType` header) and port forwarding
(`portforward.k8s.io`: an error and a data stream per request, paired by `requestID`). Enough to
drive containerd's streaming server and berthd's with the same test."""
import socket
import struct
import threading
import zlib

# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): its
# length-prefixed words, then its raw tail; 1423 bytes.
WORDS = ["options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language",
         "accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base", "content-encoding",
         "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type", "date", "etag",
         "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
         "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
         "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
         "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive",
         "origin"]
TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden"
        "404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
        "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(len(w).to_bytes(4, "big") + w.encode() for w in WORDS) + TAIL.encode()
assert len(DICTIONARY) == 1423

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01


class Stream:
    def __init__(self, sid, headers):
        self.id, self.headers = sid, headers
        self.data = bytearray()
        self.replied = self.fin = self.reset = False


class SPDYConnection:
    def __init__(self, url, protocols, timeout=30):
        assert url.startswith("http://"), url
        hostport, _, path = url[len("http://"):].partition("/")
        host, _, port = hostport.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        request = (f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                   + "".join(f"X-Stream-Protocol-Version: {p}\r\n" for p in protocols) + "Content-Length: 0\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed during the upgrade: {head!r}")
            head += chunk
        head, _, self.pending = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.response_headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        self.protocol = self.response_headers.get("x-stream-protocol-version")
        self.deflate = zlib.compressobj(zdict=DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.streams, self.next_id = {}, 1
        self.cond = threading.Condition()
        self.closed = False
        self.lock = threading.Lock()
        if self.status == 101:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    # writing

    def _send(self, frame):
        with self.lock:
            self.sock.sendall(frame)

    def _control(self, kind, flags, payload):
        self._send(struct.pack(">HHI", 0x8000 | 3, kind, flags << 24 | len(payload)) + payload)

    def _header_block(self, headers):
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            raw += struct.pack(">I", len(name)) + name.lower().encode() + struct.pack(">I", len(value)) + value.encode()
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def open(self, headers, wait=True, timeout=30):
        """Opens a stream (SYN_STREAM) and waits for the server's SYN_REPLY."""
        with self.cond:
            sid = self.next_id
            self.next_id += 2
            stream = self.streams[sid] = Stream(sid, headers)
        self._control(SYN_STREAM, 0, struct.pack(">II", sid, 0) + b"\x00\x00" + self._header_block(headers))
        if wait:
            self.wait(lambda: stream.replied or stream.reset or self.closed, timeout)
            assert stream.replied, f"stream {headers} was not accepted"
        return stream

    def write(self, stream, data, fin=False):
        self._send(struct.pack(">II", stream.id, (FLAG_FIN if fin else 0) << 24 | len(data)) + data)

    def close_stream(self, stream):
        self.write(stream, b"", fin=True)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # reading

    def wait(self, predicate, timeout=30):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def _recv(self, n):
        while len(self.pending) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.pending += chunk
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def _headers(self, block):
        raw = self.inflate.decompress(block)
        count, = struct.unpack(">I", raw[:4])
        at, headers = 4, {}
        for _ in range(count):
            n, = struct.unpack(">I", raw[at:at + 4]); name = raw[at + 4:at + 4 + n].decode(); at += 4 + n
            n, = struct.unpack(">I", raw[at:at + 4]); value = raw[at + 4:at + 4 + n].decode(); at += 4 + n
            headers[name] = value
        return headers

    def _read(self):
        try:
            while True:
                head = self._recv(8)
                word, = struct.unpack(">I", head[:4])
                flags, length = head[4], int.from_bytes(head[5:8], "big")
                payload = self._recv(length)
                with self.cond:
                    if word & 0x80000000:
                        kind = word & 0xffff
                        if kind == SYN_REPLY:
                            sid, = struct.unpack(">I", payload[:4])
                            self._headers(payload[4:])
                            if sid in self.streams:
                                self.streams[sid].replied = True
                        elif kind == RST_STREAM:
                            sid, = struct.unpack(">I", payload[:4])
                            if sid in self.streams:
                                self.streams[sid].reset = True
                        elif kind in (SYN_STREAM, HEADERS):
                            self._headers(payload[10:] if kind == SYN_STREAM else payload[4:])
                        elif kind == PING:
                            threading.Thread(target=self._control, args=(PING, 0, payload), daemon=True).start()
                        elif kind == GOAWAY:
                            pass
                    else:
                        stream = self.streams.get(word & 0x7fffffff)
                        if stream is not None:
                            stream.data += payload
                            stream.fin = stream.fin or bool(flags & FLAG_FIN)
                    self.cond.notify_all()
        except (EOFError, OSError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()
