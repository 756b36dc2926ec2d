"""The endpoints where berthd once trapped, driven with hostile input over the raw socket: attach
and exec hijacks with every kind of detach-key value and input split at random points (a
`detachKeys=,` and a sequence split across reads each killed berthd), exec bodies and query
values of the wrong shape. berthd must answer each with Docker's status (101, 200, 201, 400, 404,
409 — never 5xx) and be alive and serving at the end. The counts go to
tests/results/hostile-streams.json."""
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

from conftest import REPO, api

DETACH_SPECS = ["", ",", ",,", "ctrl-", "ctrl-@", "ctrl-p,ctrl-q", "ctrl-p", "a,b", "ctrl-\\", "ctrl-[,ctrl-]", "é", "ctrl-pp",
                "ctrl-p,", "x" * 5000, "ctrl-p," * 300 + "ctrl-q", "\x00", "%", "ctrl-z,ctrl-z,ctrl-z"]


def hijack(path, sock_path, body=b"", timeout=5):
    """Sends a request asking for an upgrade; returns (socket, status)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    s.sendall(head + body)
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return s, status


def feed(s, rng, keys):
    """Random bytes with pieces of detach sequences, in random splits, then a half-close."""
    payload = bytearray()
    for _ in range(rng.randint(1, 8)):
        payload += rng.choice([bytes([0x10]), bytes([0x11]), bytes([0x10, 0x11]), bytes([rng.randrange(256)]), b"hello\n", keys])
    i = 0
    try:
        while i < len(payload):
            n = rng.randint(1, 4)
            s.sendall(bytes(payload[i:i + n]))
            i += n
        s.shutdown(socket.SHUT_WR)
        s.settimeout(0.3)
        while s.recv(4096):
            pass
    except OSError:
        pass  # a detach closes the connection under us: expected
    finally:
        s.close()


def test_hijacked_endpoints_and_query_values_never_kill_berthd(daemon):
    rng = random.Random(int(os.environ.get("BERTH_HOSTILE_SEED", "16")))
    cid = json.loads(api(daemon, "POST", "/containers/create", json.dumps({"Image": "busybox:latest", "Cmd": ["cat"], "Tty": True,
                                                                           "OpenStdin": True}).encode(),
                         {"Content-Type": "application/json"})[2])["Id"]
    counts = {"attach": 0, "exec": 0, "queries": 0, "statuses": {}}

    def seen(status):
        counts["statuses"][str(status)] = counts["statuses"].get(str(status), 0) + 1
        assert status < 500 and status != 0, f"berthd answered {status}"

    try:
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        deadline = time.time() + 60
        rounds = 0
        while rounds < 150 and time.time() < deadline:
            rounds += 1
            spec = rng.choice(DETACH_SPECS)
            q = urllib.parse.urlencode({"stream": 1, "stdin": 1, "stdout": 1, "detachKeys": spec})
            s, status = hijack(f"/containers/{cid}/attach?{q}", daemon.socket)
            seen(status)
            counts["attach"] += 1
            if status == 101:
                feed(s, rng, spec.encode()[:4])
            else:
                s.close()
            # exec: the body's detach keys, tty or not, then the same hostile input
            body = json.dumps({"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True, "Tty": rng.random() < 0.5,
                               "DetachKeys": rng.choice(DETACH_SPECS)}).encode()
            status, _, out = api(daemon, "POST", f"/containers/{cid}/exec", body, {"Content-Type": "application/json"})
            seen(status)
            counts["exec"] += 1
            if status == 201:
                start = rng.choice([b'{"Tty":true}', b'{"Tty":false}', b'{}', b'{"Detach":"yes"}', b'[]', b'{"Tty":null}', b''])
                s, status = hijack(f"/exec/{json.loads(out)['Id']}/start", daemon.socket, start)
                seen(status)
                if status == 101:
                    feed(s, rng, b"\x10\x11")
                else:
                    s.close()
            # query values of every wrong shape
            for path in ("/containers/json?filters=" + urllib.parse.quote(rng.choice(['{"status":["running"]}', "{", "[]", '{"a":1}', "x" * 3000])),
                         f"/containers/{cid}/logs?stdout=1&tail=" + rng.choice(["-1", "all", "x", "99999999999999999999", ""]),
                         "/events?until=" + rng.choice(["0", "-5", "1e99", "x", "1.5", "9700000000.5", "-9300000000"]),
                         f"/containers/{cid}/resize?h=" + rng.choice(["-1", "99999999", "x"]) + "&w=" + rng.choice(["0", "-3", "65536"]),
                         "/containers/json?limit=" + rng.choice(["-1", "x", "99999999999999999999"])):
                status = api(daemon, "GET" if "resize" not in path else "POST", path)[0]
                seen(status)
                counts["queries"] += 1
        assert daemon.proc.poll() is None, "berthd died"
        assert api(daemon, "GET", "/_ping")[0] == 200
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
        os.makedirs(os.path.join(REPO, "tests", "results"), exist_ok=True)
        with open(os.path.join(REPO, "tests", "results", "hostile-streams.json"), "w") as f:
            json.dump(counts, f, indent=1, sort_keys=True)
            f.write("\n")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_connections_the_client_ends_are_closed(daemon):
    """A client that half-closes (or closes) after its answer: berthd closes its side too. It
    kept such connections in CLOSE-WAIT, one descriptor lost per client (1,600 under the schema
    fuzzer before it slowed to a halt)."""
    ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    before = open_fds(daemon.proc.pid)
    for i in range(300):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(daemon.socket)
        s.sendall(ping)
        answer = b""
        while not answer.endswith(b"OK"):
            chunk = s.recv(4096)
            assert chunk, answer
            answer += chunk
        if i % 3 == 0:
            s.close()  # gone without a word
            continue
        if i % 3 == 1:
            s.sendall(ping)  # a second request, the half-close right behind it
        s.shutdown(socket.SHUT_WR)
        rest = b""
        while True:
            chunk = s.recv(4096)  # berthd's close ends this; a timeout fails the test
            if not chunk:
                break
            rest += chunk
        assert rest.count(b"HTTP/1.1 200") == (1 if i % 3 == 1 else 0), rest
        s.close()
    deadline = time.time() + 10
    while open_fds(daemon.proc.pid) > before + 5 and time.time() < deadline:
        time.sleep(0.1)
    assert open_fds(daemon.proc.pid) <= before + 5, f"{before} descriptors before 300 connections, {open_fds(daemon.proc.pid)} after"


def test_a_stopped_shim_holds_up_only_its_own_container(daemon):
    """One container's shim under SIGSTOP: requests about it get an error once the shim's reply
    limit passes, and every other container is served meanwhile. The engine once asked shims on
    its actor with no limit: one stopped shim hung `top`, and with it every container operation."""
    def create(cmd):
        return json.loads(api(daemon, "POST", "/containers/create", json.dumps({"Image": "busybox:latest", "Cmd": cmd,
                              "HostConfig": {"NetworkMode": "none"}}).encode(), {"Content-Type": "application/json"})[2])["Id"]
    stuck = create(["sleep", "1000"])
    other = create(["sleep", "1000"])
    shim = None
    try:
        assert api(daemon, "POST", f"/containers/{stuck}/start")[0] == 204
        shim = int(subprocess.run(["pgrep", "-f", f"berth-shim .*/{stuck}/shim.json"], capture_output=True, text=True).stdout.split()[0])
        os.kill(shim, signal.SIGSTOP)
        answer = {}
        def ask_top():
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(90)  # past the shim's reply limit (30 s)
            client.connect(daemon.socket)
            client.sendall(f"GET /containers/{stuck}/top HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := client.recv(65536):
                reply += chunk
            client.close()
            answer["top"] = (int(reply.split(b" ")[1]), None, reply)
        asking = threading.Thread(target=ask_top)
        asking.start()
        time.sleep(1)  # the top is now waiting on the stopped shim
        served = [api(daemon, "POST", f"/containers/{other}/start")[0], api(daemon, "GET", f"/containers/{other}/top")[0],
                  api(daemon, "POST", f"/containers/{other}/pause")[0], api(daemon, "POST", f"/containers/{other}/unpause")[0],
                  api(daemon, "GET", "/containers/json")[0]]
        assert served == [204, 200, 204, 204, 200], served
        assert asking.is_alive(), "the top answered although the shim is stopped"
        asking.join(60)  # the shim's reply limit is 30 s
        assert not asking.is_alive()
        status, _, body = answer["top"]
        assert status == 500 and b"did not answer" in body, (status, body)
        os.kill(shim, signal.SIGCONT)
        shim = None
        assert api(daemon, "GET", f"/containers/{stuck}/top")[0] == 200
    finally:
        if shim:
            os.kill(shim, signal.SIGCONT)
        api(daemon, "DELETE", f"/containers/{stuck}?force=1")
        api(daemon, "DELETE", f"/containers/{other}?force=1")


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_a_stalled_attach_costs_bounded_memory_and_the_log_keeps_everything(daemon):
    """A client that attaches and stops reading while the container writes tens of MB/s: berthd
    drops it from the stream past a bounded backlog instead of holding the output, and the
    container's log keeps growing (issue 18's scenario: berthd went from 35 to 340 MB)."""
    cid = json.loads(api(daemon, "POST", "/containers/create",
                         json.dumps({"Image": "busybox:latest", "Cmd": ["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | while true; do head -c 4194304; sleep 0.05; done"]}).encode(),
                         {"Content-Type": "application/json"})[2])["Id"]
    try:
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        before = rss_kib(daemon.proc.pid)
        s, status = hijack(f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1", daemon.socket)
        assert status == 101
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
        log = json.loads(api(daemon, "GET", f"/containers/{cid}/json")[2])["LogPath"]
        sizes = [os.path.getsize(log)]
        peak = before
        # until 48 MiB more went by (several times the bound), however long this machine takes
        deadline = time.time() + 300
        while sizes[-1] - sizes[0] < 48 << 20:
            assert time.time() < deadline, f"the container logged only {(sizes[-1] - sizes[0]) >> 20} MiB in 300 s"
            time.sleep(0.5)
            peak = max(peak, rss_kib(daemon.proc.pid))
            sizes.append(os.path.getsize(log))
        s.close()
        growth_mib = (peak - before) / 1024
        print(f"stalled attach: berthd RSS grew {growth_mib:.1f} MiB while the container wrote {(sizes[-1] - sizes[0]) >> 20} MiB of log")
        # the output that went by is several times the bound, so a berthd holding it would show
        assert growth_mib < 32, growth_mib
        assert sizes[-1] > sizes[len(sizes) // 2] > sizes[0], sizes  # the log kept growing throughout
        assert daemon.proc.poll() is None
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def stalled_get(path, sock_path):
    """A GET whose response nobody reads: the smallest receive buffer, never drained."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(sock_path)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def test_stalled_logs_events_and_stats_clients_cost_bounded_memory(daemon):
    """`logs -f`, `events` and `stats` clients that stop reading while a container writes tens of
    MB/s and hundreds of events go by: berthd writes to them only as fast as they take (the writes
    are awaited), keeps serving others, and its memory stays within a small bound."""
    cid = json.loads(api(daemon, "POST", "/containers/create",
                         json.dumps({"Image": "busybox:latest", "Cmd": ["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | while true; do head -c 4194304; sleep 0.05; done"],
                                     "HostConfig": {"NetworkMode": "none"}}).encode(), {"Content-Type": "application/json"})[2])["Id"]
    clients = []
    try:
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        before = rss_kib(daemon.proc.pid)
        clients = [stalled_get(f"/containers/{cid}/logs?follow=1&stdout=1&stderr=1", daemon.socket),
                   stalled_get("/events", daemon.socket), stalled_get(f"/containers/{cid}/stats", daemon.socket)]
        log = json.loads(api(daemon, "GET", f"/containers/{cid}/json")[2])["LogPath"]
        start_size = os.path.getsize(log)
        peak = before
        for _ in range(150):  # 300 events (pause, unpause) for the stalled events client
            assert api(daemon, "POST", f"/containers/{cid}/pause")[0] == 204
            assert api(daemon, "POST", f"/containers/{cid}/unpause")[0] == 204
            peak = max(peak, rss_kib(daemon.proc.pid))
        for _ in range(10):
            time.sleep(0.5)
            peak = max(peak, rss_kib(daemon.proc.pid))
        written = (os.path.getsize(log) - start_size) >> 20
        growth_mib = (peak - before) / 1024
        print(f"stalled logs -f, events, stats: berthd RSS grew {growth_mib:.1f} MiB while {written} MiB of log and 300 events went by")
        assert written >= 32, written
        assert growth_mib < 32, growth_mib
        assert api(daemon, "GET", "/_ping")[0] == 200 and daemon.proc.poll() is None
    finally:
        for s in clients:
            s.close()
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def demux(data):
    """Docker's multiplexed stream → (stdout, stderr, rest)."""
    out, err, i = bytearray(), bytearray(), 0
    while i + 8 <= len(data):
        n = int.from_bytes(data[i + 4:i + 8], "big")
        if i + 8 + n > len(data):
            break
        (out if data[i] == 1 else err).extend(data[i + 8:i + 8 + n])
        i += 8 + n
    return bytes(out), bytes(err), data[i:]


def test_a_slow_attach_loses_nothing(daemon):
    """A client reading more slowly than the container writes gets every byte, as from dockerd
    (which slows the container): the lag is held back in the shim, not dropped, and berthd holds
    at most its bound meanwhile."""
    size = 24 << 20
    cid = json.loads(api(daemon, "POST", "/containers/create",
                         json.dumps({"Image": "busybox:latest", "Cmd": ["sh", "-c", f"head -c {size} /dev/zero | tr '\\0' a"]}).encode(),
                         {"Content-Type": "application/json"})[2])["Id"]
    try:
        s, status = hijack(f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1", daemon.socket, timeout=60)
        assert status == 101
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        before = rss_kib(daemon.proc.pid)
        peak, data = before, bytearray()
        # the head's line end was consumed by hijack(); the blank line after it may remain
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) % (1 << 20) < 65536:
                peak = max(peak, rss_kib(daemon.proc.pid))
            time.sleep(0.03)  # ≈ 2 MB/s, far slower than the container writes
        s.close()
        body = bytes(data)
        body = body[body.index(b"\r\n\r\n") + 4:] if b"\r\n\r\n" in body[:512] else body.lstrip(b"\r\n")
        out, err, rest = demux(body)
        expected = b"a" * size
        print(f"slow attach: {len(out) >> 20} MiB received of {len(expected) >> 20} MiB; berthd RSS grew {(peak - before) / 1024:.1f} MiB")
        assert out == expected, (len(out), len(expected), out[-40:])
        assert err == b"" and rest == b""
        assert (peak - before) / 1024 < 32
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_a_stopped_berthd_does_not_stop_a_containers_log(daemon):
    """berthd under SIGSTOP stops taking an attached stream's frames: the shim, which never blocks
    on a socket, drops that stream after its grace and the container goes on writing its log."""
    cid = json.loads(api(daemon, "POST", "/containers/create",
                         json.dumps({"Image": "busybox:latest", "Cmd": ["sh", "-c", "yes 0123456789abcdefghij | while true; do head -c 1048576; sleep 0.1; done"]}).encode(),
                         {"Content-Type": "application/json"})[2])["Id"]
    s = None
    try:
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        s, status = hijack(f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1", daemon.socket)
        assert status == 101
        log = json.loads(api(daemon, "GET", f"/containers/{cid}/json")[2])["LogPath"]
        os.kill(daemon.proc.pid, 19)  # SIGSTOP
        try:
            time.sleep(3)  # the shim's grace (2 s) for a stream nobody takes
            first = os.path.getsize(log)
            time.sleep(3)
            grown = os.path.getsize(log) - first
        finally:
            os.kill(daemon.proc.pid, 18)  # SIGCONT
        print(f"berthd stopped: the log grew {grown >> 20} MiB in 3 s")
        assert grown >> 20 >= 5, grown
        assert api(daemon, "GET", "/_ping")[0] == 200
    finally:
        if s:
            s.close()
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_attach_with_logs_replays_a_big_log_in_bounded_memory(daemon):
    """`attach?logs=1` of a container with 100 MB of log, the client slow to read: berthd
    replays the log a block at a time behind the client (it held the whole log in memory, twice),
    and the client gets every line once."""
    lines, width = 100_000, 999
    cid = json.loads(api(daemon, "POST", "/containers/create",
                         json.dumps({"Image": "busybox:latest",
                                     "Cmd": ["sh", "-c", f"head -c {lines * width} /dev/zero | tr '\\0' a | fold -w {width}; echo; sleep 1000"]}).encode(),
                         {"Content-Type": "application/json"})[2])["Id"]
    try:
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        log = json.loads(api(daemon, "GET", f"/containers/{cid}/json")[2])["LogPath"]
        deadline, last = time.time() + 120, -1
        while time.time() < deadline and os.path.getsize(log) != last:  # until the container is done writing
            last = os.path.getsize(log)
            time.sleep(1)
        before = rss_kib(daemon.proc.pid)
        s, status = hijack(f"/containers/{cid}/attach?logs=1&stream=0&stdout=1&stderr=1", daemon.socket, timeout=60)
        assert status == 101
        peak, data = before, bytearray()
        time.sleep(2)  # the client takes nothing for a while
        peak = max(peak, rss_kib(daemon.proc.pid))
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
            if len(data) % (8 << 20) < (1 << 20):
                peak = max(peak, rss_kib(daemon.proc.pid))
        s.close()
        body = bytes(data)
        body = body[body.index(b"\r\n\r\n") + 4:] if b"\r\n\r\n" in body[:512] else body.lstrip(b"\r\n")
        out, err, rest = demux(body)
        growth = (peak - before) / 1024
        print(f"attach logs=1 of {len(out) >> 20} MiB: berthd RSS grew {growth:.1f} MiB")
        assert out.split() == [b"a" * width] * lines, (len(out), out[-40:])
        assert growth < 32, growth
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_a_client_flooding_stdin_costs_bounded_memory(daemon):
    """A client that writes to a container's stdin faster than the container reads (here: never):
    berthd and the shim stop reading the client past a bounded backlog, so the client's writes
    block instead of piling up in either process."""
    cid = json.loads(api(daemon, "POST", "/containers/create",
                         json.dumps({"Image": "busybox:latest", "Cmd": ["sleep", "60"], "OpenStdin": True}).encode(),
                         {"Content-Type": "application/json"})[2])["Id"]
    try:
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        shim = int(subprocess.run(["pgrep", "-f", f"berth-shim .*{cid}"], capture_output=True, text=True).stdout.split()[0])
        before, shim_before = rss_kib(daemon.proc.pid), rss_kib(shim)
        s, status = hijack(f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1", daemon.socket)
        assert status == 101
        s.settimeout(0.5)
        sent, chunk, peak, shim_peak = 0, b"x" * 65536, before, shim_before
        deadline = time.time() + 8
        while time.time() < deadline:
            try:
                sent += s.send(chunk)
            except socket.timeout:
                pass  # the client is held back: what the test wants
            peak, shim_peak = max(peak, rss_kib(daemon.proc.pid)), max(shim_peak, rss_kib(shim))
        s.close()
        growth, shim_growth = (peak - before) / 1024, (shim_peak - shim_before) / 1024
        print(f"stdin flood: the client got {sent >> 20} MiB in; berthd RSS +{growth:.1f} MiB, shim +{shim_growth:.1f} MiB")
        assert growth < 32 and shim_growth < 32, (growth, shim_growth)
        assert sent >> 20 < 64, f"{sent >> 20} MiB taken from a client whose container reads nothing"
        assert daemon.proc.poll() is None
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
