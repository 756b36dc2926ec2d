"""Oversized and malformed input is refused with bounded memory and time, and the daemon stays up:
a huge or deeply nested JSON body, a slowloris client, a tar entry declaring 10 GB, and images of
10,000 layers by load and by pull."""
import gzip
import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import time
import urllib.parse
import urllib.request

import pytest
from conftest import api, tar_of
from registry_support import Registry


def rss_kib(daemon):
    for line in open(f"/proc/{daemon.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def raw_connection(daemon):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(daemon.socket)
    return s


def read_all(s):
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_huge_json_body_is_refused_without_holding_it(daemon):
    before = rss_kib(daemon)
    s = raw_connection(daemon)
    try:
        size = 200 << 20
        s.sendall(b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n{\"Env\": [\"" % size)
        chunk = b"A" * (1 << 20)
        try:
            for _ in range(200):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed part way: what is asked
        response = read_all(s)
    finally:
        s.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"larger than 16 MiB" in response
    assert rss_kib(daemon) - before < 64 << 10
    assert api(daemon, "GET", "/_ping")[0] == 200


def test_deeply_nested_and_malformed_json_get_400(daemon):
    for body in [b"[" * 100000 + b"]" * 100000, b'{"Image": ' + b"[" * 100000, b"\xff\xfe\x00", b'{"Image": 5}',
                 b'{"HostConfig": {"Memory": "lots"}}', b"null", b'"x"']:
        status, _, text = api(daemon, "POST", "/v1.50/containers/create", body=body, headers={"Content-Type": "application/json"})
        assert status == 400, (body[:40], status, text[:200])
        assert "message" in json.loads(text)
    assert api(daemon, "GET", "/_ping")[0] == 200


def test_extreme_resource_values_never_trap(daemon):
    # Values at Int64's edge: a limit derived from them (swap = twice the memory) must not overflow.
    big = 9223372036854775807
    for host in ({"Memory": big}, {"Memory": big, "MemorySwap": big}, {"Memory": big // 2 + 1}, {"KernelMemory": big},
                 {"NanoCpus": big}, {"CpuQuota": big}, {"CpuPeriod": -big - 1}, {"PidsLimit": -big - 1},
                 {"MemoryReservation": big}, {"BlkioWeight": 65536}, {"MemorySwappiness": -big - 1}):
        body = json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": host}).encode()
        status, _, text = api(daemon, "POST", "/v1.50/containers/create", body=body, headers={"Content-Type": "application/json"})
        assert status in (201, 400), (host, status, text[:200])
        if status == 201:
            cid = json.loads(text)["Id"]
            assert api(daemon, "POST", f"/v1.50/containers/{cid}/update", body=body[body.index(b'"HostConfig": ') + 14:-1],
                       headers={"Content-Type": "application/json"})[0] in (200, 400)
            removed = api(daemon, "DELETE", f"/v1.50/containers/{cid}?force=1")
            assert removed[0] == 204, removed
    assert api(daemon, "GET", "/_ping")[0] == 200
    # The same written into a running container's cgroup: a pids limit past the kernel's PID
    # ceiling was refused by the kernel and answered 500 (the schema fuzzer found it).
    body = json.dumps({"Image": "busybox", "Cmd": ["sleep", "100"], "HostConfig": {"NetworkMode": "none"}}).encode()
    status, _, text = api(daemon, "POST", "/v1.50/containers/create", body=body, headers={"Content-Type": "application/json"})
    cid = json.loads(text)["Id"]
    try:
        assert api(daemon, "POST", f"/v1.50/containers/{cid}/start")[0] == 204
        for host in ({"PidsLimit": 123250850}, {"PidsLimit": big}, {"CpuShares": big}, {"Memory": big}, {"BlkioWeight": 65536},
                     {"CpuQuota": big}, {"CpusetCpus": "0-99999"}):
            status, _, text = api(daemon, "POST", f"/v1.50/containers/{cid}/update", body=json.dumps(host).encode(),
                                  headers={"Content-Type": "application/json"})
            assert status in (200, 400), (host, status, text[:200])
    finally:
        removed = api(daemon, "DELETE", f"/v1.50/containers/{cid}?force=1")
        assert removed[0] == 204, removed
    # Values read only at start: a log size of 99999999999g overflowed Int64 there and killed berthd.
    for host in ({"LogConfig": {"Type": "json-file", "Config": {"max-size": "99999999999g", "max-file": "99999999999999999999"}}},
                 {"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": big}]}, {"BlkioDeviceWriteIOps": [{"Path": "/nonexistent", "Rate": 1}]},
                 {"BlkioWeightDevice": [{"Path": "/dev/null", "Weight": big}]}):
        body = json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": host}).encode()
        status, _, text = api(daemon, "POST", "/v1.50/containers/create", body=body, headers={"Content-Type": "application/json"})
        assert status in (201, 400), (host, status, text[:200])
        if status == 201:
            cid = json.loads(text)["Id"]
            api(daemon, "POST", f"/v1.50/containers/{cid}/start")
            assert daemon.proc.poll() is None, host
            removed = api(daemon, "DELETE", f"/v1.50/containers/{cid}?force=1")
            assert removed[0] == 204, (host, removed)
    assert api(daemon, "GET", "/_ping")[0] == 200


def test_empty_strings_where_a_separator_was_expected_never_trap(daemon):
    """Each of these split a client's text and took its first part unchecked: an empty string has
    none, and the daemon trapped (found by reading for `[0]` after `split`)."""
    for volumes_from, expected in (([""], "volumes-from specification cannot be an empty string"), ([":"], "No such container"),
                                   ([":ro"], "No such container")):
        body = json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"VolumesFrom": volumes_from}}).encode()
        status, _, text = api(daemon, "POST", "/v1.50/containers/create", body=body, headers={"Content-Type": "application/json"})
        assert status in (400, 404) and expected in text.decode(), (volumes_from, status, text)
    # an events label filter of "" (and "=") matches nothing, as dockerd's
    for label in ("", "=", "a="):
        filters = urllib.parse.quote(json.dumps({"label": [label]}))
        status, _, text = api(daemon, "GET", f"/v1.50/events?since=0&until=1&filters={filters}")
        assert status == 200, (label, status, text[:200])
    # an image whose config holds an empty environment entry, built FROM
    body = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    status, _, text = api(daemon, "POST", "/v1.50/containers/create", body=body, headers={"Content-Type": "application/json"})
    cid = json.loads(text)["Id"]
    try:
        status, _, text = api(daemon, "POST", f"/v1.50/commit?container={cid}&repo=hostile-emptyenv&tag=1",
                              body=json.dumps({"Env": ["", "A=1"]}).encode(), headers={"Content-Type": "application/json"})
        assert status == 201, text
        context = tar_of({"Dockerfile": b"FROM hostile-emptyenv:1\nENV B=$A\n"})
        status, _, text = api(daemon, "POST", "/v1.50/build?t=hostile-emptyenv:2", body=context,
                              headers={"Content-Type": "application/x-tar"})
        assert status == 200 and b"Successfully built" in text, text[-400:]
    finally:
        api(daemon, "DELETE", f"/v1.50/containers/{cid}?force=1")
        api(daemon, "DELETE", "/v1.50/images/hostile-emptyenv:2")
        api(daemon, "DELETE", "/v1.50/images/hostile-emptyenv:1")
    assert api(daemon, "GET", "/_ping")[0] == 200


def test_slowloris_connections_are_closed_and_others_served(daemon):
    clients = [raw_connection(daemon) for _ in range(40)]
    stop = threading.Event()

    def dribble():
        # one header byte a second: each request head would take minutes to arrive
        for s in clients:
            s.sendall(b"GET /v1.50/info HTTP/1.1\r\nHost: x\r\n")
        while not stop.is_set():
            for s in clients:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            stop.wait(1)

    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    try:
        started = time.time()
        # the daemon serves others meanwhile
        for _ in range(5):
            assert api(daemon, "GET", "/_ping")[0] == 200
            time.sleep(0.5)
        for s in clients:
            # a generous bound for the socket read only; the check is that the daemon closed them
            s.settimeout(max(1, 60 - (time.time() - started)))
            assert read_all(s) == b""  # closed by the daemon, nothing answered
    finally:
        stop.set()
        t.join(timeout=5)
        for s in clients:
            s.close()


def declared_10gb_tar(name):
    """A tar whose first entry's header declares 10 GB (base-256 size field) and holds 1 MB."""
    info = tarfile.TarInfo(name)
    info.size = 10 << 30
    return info.tobuf(format=tarfile.GNU_FORMAT) + b"{" * (1 << 20)


@pytest.mark.parametrize("name", ["manifest.json", "blobs/sha256/" + "ab" * 32, "layer.tar"])
def test_load_of_a_10gb_declared_entry_fails_cleanly(daemon, name, tmp_path):
    before = rss_kib(daemon)
    status, _, body = api(daemon, "POST", "/v1.50/images/load?quiet=1", body=declared_10gb_tar(name),
                          headers={"Content-Type": "application/x-tar"})
    # the load stream's error line, as dockerd reports a broken archive
    assert status == 200 and json.loads(body)["error"] == "invalid tar archive: Truncated tar archive", body
    assert rss_kib(daemon) - before < 64 << 10  # the 10 GB the header declares were never allocated
    path = tmp_path / "big.tar"
    path.write_bytes(declared_10gb_tar(name))
    r = daemon.docker("load", "-i", str(path))
    assert r.returncode != 0 and "Truncated tar archive" in r.stderr
    assert api(daemon, "GET", "/_ping")[0] == 200


def layer_tar():
    return tar_of({"hello": b"hi\n"})


def test_load_of_10000_layers_is_refused(daemon, tmp_path):
    layer = layer_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id] * 10000}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["deep:latest"], "Layers": ["layer.tar"] * 10000}]).encode()
    path = tmp_path / "deep.tar"
    path.write_bytes(tar_of({"layer.tar": layer, "config.json": config, "manifest.json": manifest}))
    r = daemon.docker("load", "-i", str(path))
    assert r.returncode != 0 and "max depth exceeded" in r.stderr, r.stderr
    assert daemon.docker("image", "inspect", "deep:latest").returncode != 0


def push_blob(registry, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.urlopen(urllib.request.Request(f"http://{registry.host}/v2/{repo}/blobs/uploads/", method="POST"), timeout=30)
    location = start.headers["Location"]
    sep = "&" if "?" in location else "?"
    url = location if location.startswith("http") else f"http://{registry.host}{location}"
    urllib.request.urlopen(urllib.request.Request(f"{url}{sep}digest={digest}", data=data, method="PUT",
                                                  headers={"Content-Type": "application/octet-stream"}), timeout=30)
    return digest, len(data)


def test_pull_of_10000_layers_is_refused_before_fetching_layers(daemon):
    registry = Registry()
    try:
        layer = gzip.compress(layer_tar())
        diff_id = "sha256:" + hashlib.sha256(layer_tar()).hexdigest()
        layer_digest, layer_size = push_blob(registry, "deep", layer)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id] * 10000}}).encode()
        config_digest, config_size = push_blob(registry, "deep", config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}] * 10000,
        }).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://{registry.host}/v2/deep/manifests/latest", data=manifest, method="PUT",
                                                      headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}), timeout=60)
        r = daemon.docker("pull", f"{registry.host}/deep:latest", timeout=60)
        assert r.returncode != 0 and "max depth exceeded" in r.stderr, r.stderr
        # refused before any layer was fetched: neither the blob nor a download of it is kept
        assert not os.path.exists(os.path.join(daemon.data, "content", "blobs", "sha256", layer_digest.split(":")[1]))
        assert os.listdir(os.path.join(daemon.data, "content", "ingest")) == []
    finally:
        registry.stop()


@pytest.mark.parametrize("content, expected", [
    (None, "no such file or directory"),
    ('{"mtu": 1400, "bogus": 1, "also-bogus": true}', "the following directives don't match any configuration option: also-bogus, bogus"),
    ('{"mtu": "big"}', "mtu"),
    ('{"mtu": ', "unexpected end of JSON input"),
])
def test_a_bad_daemon_json_stops_berthd_with_the_reason(tmp_path, content, expected):
    """As dockerd: a named config file that is missing, has unknown keys, a wrong type or bad JSON
    stops the daemon, naming the file and the reason."""
    import subprocess
    from conftest import BERTHD, TIMEOUT
    config = tmp_path / "daemon.json"
    if content is not None:
        config.write_text(content)
    r = subprocess.run([BERTHD, "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "exec"), "--bridge", "none",
                        "--config-file", str(config), "-H", f"unix://{tmp_path}/s.sock"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0
    assert str(config) in r.stderr and expected in r.stderr, r.stderr


def test_berthd_started_from_path_finds_its_shim(tmp_path, rootfs_template):
    """`berthd` typed as a command (argv[0] without a directory) still finds berth-shim beside it."""
    import subprocess
    from conftest import BERTHD, DOCKER, TIMEOUT, remove_chains, chain_prefix
    config = tmp_path / "daemon.json"
    config.write_text("{}")
    sock = tmp_path / "s.sock"
    env = dict(os.environ, PATH=os.path.dirname(BERTHD) + ":" + os.environ.get("PATH", ""))
    exec_root = str(tmp_path / "exec")
    proc = subprocess.Popen(["berthd", "--data-root", str(tmp_path / "data"), "--exec-root", exec_root, "--bridge", "none",
                             "--config-file", str(config), "-H", f"unix://{sock}"], cwd="/", env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    client = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(tmp_path / "cli"))
    try:
        deadline = time.time() + 20
        while subprocess.run([DOCKER, "version"], env=client, capture_output=True, timeout=TIMEOUT).returncode != 0:
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.1)
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([DOCKER, "import", "-", "pathcheck:1"], input=tar, env=client, capture_output=True, timeout=60).returncode == 0
        r = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "pathcheck:1", "echo", "from-path"], env=client,
                           capture_output=True, text=True, timeout=60)
        assert r.stdout == "from-path\n", r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            if line.split()[4].startswith(str(tmp_path)):
                subprocess.run(["umount", "-l", line.split()[4]], timeout=TIMEOUT)
        remove_chains(chain_prefix(exec_root))


def test_a_null_build_arg_is_unset_never_the_daemons_environment(daemon):
    """`buildargs={"X": null}` means "declared, no value" (the client resolves values from its own
    environment): berthd once filled it from its own environment, handing any API client the
    daemon's variables, credentials included."""
    with open(f"/proc/{daemon.proc.pid}/environ", "rb") as f:
        environ = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    # a variable of berthd's that a container would not have on its own
    key, value = next((k.decode(), v) for k, v in sorted(environ.items())
                      if k not in (b"PATH", b"HOME", b"HOSTNAME", b"TERM", b"PWD", b"SHELL", b"USER", b"LOGNAME")
                      and len(v) >= 8 and k.replace(b"_", b"").isalnum())
    dockerfile = f'FROM busybox:latest\nARG {key}\nRUN echo "value=[${key}]"\n'.encode()
    query = urllib.parse.urlencode({"buildargs": json.dumps({key: None}), "rm": "1"})
    status, _, out = api(daemon, "POST", f"/v1.41/build?{query}", body=tar_of({"Dockerfile": dockerfile}),
                         headers={"Content-Type": "application/x-tar"})
    assert status == 200, out
    assert b"value=[]" in out, out[-2000:]
    assert value not in out, f"the daemon's {key} reached the build"
