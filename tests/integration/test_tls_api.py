"""The API over TCP off loopback: refused without `--tlsverify`; with it, the docker CLI and the
Python SDK get in with a client certificate signed by the daemon's CA, and nothing else does
(no certificate, one from another CA, plain HTTP). The listener is 0.0.0.0; every connection goes
to 127.0.0.1."""
import os
import socket
import ssl
import subprocess

import pytest

from conftest import BERTHD, DOCKER, TIMEOUT, Daemon
from registry_support import free_port, make_ca, make_cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca_key, ca_crt = make_ca(d, "ca")
    server = make_cert(d, ca_key, ca_crt, "server")
    client = make_cert(d, ca_key, ca_crt, "client", "extendedKeyUsage=clientAuth")
    other_key, other_crt = make_ca(d, "other-ca")
    stranger = make_cert(d, other_key, other_crt, "stranger", "extendedKeyUsage=clientAuth")
    return {"dir": d, "ca": ca_crt, "server": server, "client": client, "stranger": stranger}


def test_off_loopback_without_tlsverify_is_refused(tmp_path, pki):
    (tmp_path / "daemon.json").write_text("{}")
    for extra in ([], ["--tls", "--tlscert", pki["server"][1], "--tlskey", pki["server"][0]]):
        r = subprocess.run([BERTHD, "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "exec"), "--bridge", "none",
                            "--config-file", str(tmp_path / "daemon.json"), "-H", f"tcp://0.0.0.0:{free_port()}", *extra],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode != 0
        assert "a TCP listener off loopback needs TLS client certificates" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def tls_daemon(pki, rootfs_template):
    port = free_port()
    d = Daemon(extra_args=["-H", f"tcp://0.0.0.0:{port}", "--tlsverify", "--tlscacert", pki["ca"],
                           "--tlscert", pki["server"][1], "--tlskey", pki["server"][0]])
    d.port = port
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, check=True, timeout=60)
        yield d
    finally:
        d.stop()


def docker_tls(d, pki, key_crt, *args, stdin=None):
    key, crt = key_crt
    env = dict(os.environ, DOCKER_CONFIG=os.path.join(d.base, "cli"))
    env.pop("DOCKER_HOST", None)
    return subprocess.run([DOCKER, "-H", f"tcp://127.0.0.1:{d.port}", "--tlsverify", "--tlscacert", pki["ca"], "--tlscert", crt, "--tlskey", key, *args],
                          capture_output=True, text=True, timeout=60, env=env, input=stdin)


def test_docker_cli_with_a_client_certificate(tls_daemon, pki):
    r = docker_tls(tls_daemon, pki, pki["client"], "run", "--rm", "busybox", "echo", "over tls")
    assert r.returncode == 0 and r.stdout == "over tls\n", r.stderr
    # a hijacked stream (attach with stdin) through TLS, both ways
    r = docker_tls(tls_daemon, pki, pki["client"], "run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", stdin="piped\n")
    assert r.returncode == 0 and r.stdout == "PIPED\n", r.stderr
    r = docker_tls(tls_daemon, pki, pki["client"], "version", "--format", "{{.Server.Version}}")
    assert r.returncode == 0 and r.stdout.strip()


def test_python_sdk_with_a_client_certificate(tls_daemon, pki, monkeypatch):
    import docker  # make deps installs the SDK
    # requests prefers these to the client's own CA, with dockerd as with berthd
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    tls = docker.tls.TLSConfig(client_cert=(pki["client"][1], pki["client"][0]), ca_cert=pki["ca"], verify=True)
    client = docker.DockerClient(base_url=f"https://127.0.0.1:{tls_daemon.port}", tls=tls, timeout=60)
    try:
        assert client.containers.run("busybox", ["echo", "sdk"], remove=True) == b"sdk\n"
    finally:
        client.close()


def handshake(port, ca, cert=None):
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(cert[1], cert[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        return s.recv(4096)


def test_without_a_trusted_certificate_nothing_gets_in(tls_daemon, pki):
    assert handshake(tls_daemon.port, pki["ca"], pki["client"]).startswith(b"HTTP/1.1 200")
    for cert in (None, pki["stranger"]):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            handshake(tls_daemon.port, pki["ca"], cert)
    r = docker_tls(tls_daemon, pki, pki["stranger"], "ps")
    assert r.returncode != 0
    # plain HTTP gets nothing back but a closed connection
    with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"OK" not in s.recv(4096)
    assert tls_daemon.proc.poll() is None
