"""berthd through the Python docker SDK (pip `docker`), unchanged, plus raw API error handling."""
import io
import json
import socket
import tarfile
import time

import pytest
from conftest import api, tar_of

import docker as docker_sdk  # noqa: E402  (make deps installs the SDK; missing, the run fails)


@pytest.fixture
def client(docker):
    c = docker_sdk.DockerClient(base_url=docker.host, timeout=60)
    yield c
    c.close()


def http_get(port, request):
    """The reply to `request` on a published port; httpd may still be starting when run returns
    (on either engine), so a refused connection is retried for a while."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request)
                return s.recv(4096)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_sdk_run_logs_exec_stop_remove(client):
    assert client.ping()
    assert client.containers.run("busybox", ["echo", "sdk says hi"], remove=True) == b"sdk says hi\n"
    c = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 300"], detach=True, name="sdk1",
                              environment={"K": "v"}, labels={"suite": "sdk"})
    try:
        for _ in range(50):
            if c.logs() == b"started\n":
                break
            time.sleep(0.1)
        assert c.logs() == b"started\n"
        assert c.attach(stdout=True, stderr=True, logs=True, stream=False) == b"started\n"
        code, out = c.exec_run(["sh", "-c", "echo $K; exit 3"])
        assert (code, out) == (3, b"v\n")
        c.reload()
        assert c.status == "running" and c.labels["suite"] == "sdk"
        assert [x.name for x in client.containers.list(filters={"label": "suite=sdk"})] == ["sdk1"]
        stats = c.stats(stream=False)
        assert stats["memory_stats"]["usage"] > 0 and stats["pids_stats"]["current"] >= 1
        c.pause()
        c.reload()
        assert c.status == "paused"
        c.unpause()
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 137
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    with pytest.raises(docker_sdk.errors.NotFound):
        client.containers.get("sdk1")


def test_sdk_networks_ports_and_volumes(client):
    net = client.networks.create("sdknet", labels={"suite": "sdk"})
    vol = client.volumes.create("sdkvol", labels={"suite": "sdk"})
    c = None
    try:
        assert client.networks.get("sdknet").attrs["Labels"] == {"suite": "sdk"}
        c = client.containers.run("busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], detach=True, name="sdkweb",
                                  network="sdknet", ports={"80/tcp": ("127.0.0.1", None)},
                                  volumes={"sdkvol": {"bind": "/data", "mode": "rw"}})
        c.reload()
        port = int(c.ports["80/tcp"][0]["HostPort"])
        assert b"200 OK" in http_get(port, b"GET /hostname HTTP/1.0\r\n\r\n")
        assert c.attrs["NetworkSettings"]["Networks"]["sdknet"]["IPAddress"]
        assert [m["Name"] for m in c.attrs["Mounts"]] == ["sdkvol"]
        net.reload()
        assert list(net.containers)[0].name == "sdkweb"
        out = client.containers.run("busybox", ["nslookup", "sdkweb"], network="sdknet", remove=True)
        assert c.attrs["NetworkSettings"]["Networks"]["sdknet"]["IPAddress"].encode() in out
        assert vol.name in [v.name for v in client.volumes.list(filters={"label": "suite=sdk"})]
    finally:
        if c:
            c.remove(force=True)
        net.remove()
        vol.remove()
    with pytest.raises(docker_sdk.errors.NotFound):
        client.networks.get("sdknet")


def test_sdk_archive_and_images(client):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True)
    try:
        payload = b"through put_archive\n"
        assert c.put_archive("/tmp", tar_of({"put.txt": payload}))
        stream, stat = c.get_archive("/tmp/put.txt")
        assert stat["name"] == "put.txt" and stat["size"] == len(payload)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
            assert t.extractfile("put.txt").read() == payload
        image = c.commit(repository="sdk-commit", tag="v1")
        assert "sdk-commit:v1" in image.tags
        assert any("sdk-commit:v1" in i.tags for i in client.images.list())
        assert client.images.get("sdk-commit:v1").id == image.id
        client.images.remove("sdk-commit:v1")
    finally:
        c.remove(force=True)


def test_api_errors_keep_the_daemon_up(docker):
    status, _, body = api(docker, "POST", "/v1.50/containers/create", body=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and "message" in json.loads(body)
    status, _, body = api(docker, "GET", "/v1.50/containers/doesnotexist/json")
    assert status == 404 and json.loads(body)["message"] == "No such container: doesnotexist"
    status, _, body = api(docker, "POST", "/v1.50/containers/create", body=b'{"Image": "Bad Name"}',
                          headers={"Content-Type": "application/json"})
    assert status == 400 and "invalid reference format" in json.loads(body)["message"]
    status, headers, _ = api(docker, "HEAD", "/_ping")
    assert status == 200 and headers.get("Api-Version") == "1.50"
    status, _, _ = api(docker, "GET", "/v1.24/version")
    assert status == 200
    status, _, _ = api(docker, "GET", "/v1.50/no/such/endpoint")
    assert status == 404
    assert docker.ok("version", "--format", "{{.Server.Version}}")


def test_sdk_run_returns_all_output_every_time(client):
    """docker-py's run() follows the logs, waits, removes the container and only then reads the
    followed stream: the lines must survive the removal, every time."""
    for i in range(20):
        out = client.containers.run("busybox", ["sh", "-c", f"echo one {i}; echo two {i}"], remove=True)
        assert out == f"one {i}\ntwo {i}\n".encode()
    assert client.containers.list(all=True) == []
