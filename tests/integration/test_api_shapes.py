"""Request shapes that clients other than ours send, checked end to end: API 1.44+'s several
endpoints with aliases and per-endpoint MAC addresses in one create, legacy links, IPv6
networks, `ps` COMMAND quoting and PORTS of a container that never ran."""
import json
import subprocess

import pytest


@pytest.fixture
def nets(daemon):
    daemon.ok("network", "create", "--subnet", "10.231.1.0/24", "shape-a")
    daemon.ok("network", "create", "--subnet", "10.231.2.0/24", "shape-b")
    yield
    daemon.docker("network", "rm", "shape-a", "shape-b")


def test_two_endpoints_with_aliases_and_macs_in_one_create(docker, nets):
    # the docker CLI 28 sends both networks in EndpointsConfig (API 1.44+)
    docker.ok("run", "-d", "--name", "shape-multi", "--network", "name=shape-a,alias=alpha,mac-address=02:42:0a:e7:01:09",
              "--network", "name=shape-b,alias=beta", "busybox", "sleep", "100")
    try:
        nets = json.loads(docker.ok("inspect", "shape-multi"))[0]["NetworkSettings"]["Networks"]
        assert set(nets) == {"shape-a", "shape-b"}
        assert "alpha" in nets["shape-a"]["Aliases"] and "beta" in nets["shape-b"]["Aliases"]
        assert nets["shape-a"]["MacAddress"] == "02:42:0a:e7:01:09"
        addr = docker.ok("exec", "shape-multi", "cat", "/sys/class/net/eth0/address").strip()
        assert addr == "02:42:0a:e7:01:09"
    finally:
        docker.docker("rm", "-f", "shape-multi")


def test_legacy_links_give_env_and_hosts(docker):
    docker.ok("run", "-d", "--name", "shape-target", "-e", "SECRET=42", "--expose", "8080", "busybox", "sleep", "100")
    try:
        out = docker.ok("run", "--rm", "--name", "shape-linker", "--link", "shape-target:db", "busybox", "sh", "-c", "env; cat /etc/hosts")
        assert "DB_NAME=/shape-linker/db" in out and "DB_ENV_SECRET=42" in out
        assert "DB_PORT_8080_TCP_PORT=8080" in out
        ip = json.loads(docker.ok("inspect", "shape-target"))[0]["NetworkSettings"]["IPAddress"]
        assert any(line.startswith(ip + "\tdb ") for line in out.splitlines())
        r = docker.docker("run", "--rm", "--link", "no-such-container:x", "busybox", "true")
        assert r.returncode != 0
    finally:
        docker.docker("rm", "-f", "shape-target")


def test_ipv6_network(docker):
    docker.ok("network", "create", "--ipv6", "--subnet", "fd42:b3::/64", "shape-v6")
    try:
        net = json.loads(docker.ok("network", "inspect", "shape-v6"))[0]
        assert net["EnableIPv6"] is True
        assert any(c["Subnet"] == "fd42:b3::/64" for c in net["IPAM"]["Config"])
        docker.ok("run", "-d", "--name", "shape-v6a", "--network", "shape-v6", "--ip6", "fd42:b3::f00d", "busybox", "sleep", "100")
        ep = json.loads(docker.ok("inspect", "shape-v6a"))[0]["NetworkSettings"]["Networks"]["shape-v6"]
        assert ep["GlobalIPv6Address"] == "fd42:b3::f00d" and ep["GlobalIPv6PrefixLen"] == 64 and ep["IPv6Gateway"] == "fd42:b3::1"
        assert "fd42:b3::f00d/64" in docker.ok("exec", "shape-v6a", "ip", "-6", "addr", "show", "eth0")
        # traffic out of the IPv6 subnet is masqueraded, in the daemon's own ip6tables chain
        nat6 = subprocess.run(["ip6tables", "-t", "nat", "-S"], capture_output=True, text=True, timeout=30).stdout
        assert any("-s fd42:b3::/64" in line and "MASQUERADE" in line for line in nat6.splitlines()), nat6
        # a second container reaches the first over IPv6 on the bridge
        out = docker.ok("run", "--rm", "--network", "shape-v6", "busybox", "ping", "-6", "-c", "1", "-W", "5", "fd42:b3::f00d")
        assert "1 packets received" in out
    finally:
        docker.docker("rm", "-f", "shape-v6a")
        docker.docker("network", "rm", "shape-v6")


def test_ps_command_quoting_and_ports_of_a_created_container(daemon):
    daemon.ok("create", "--name", "shape-created", "-p", "127.0.0.1::80", "busybox", "sh", "-c", "while true; do sleep 1; done")
    try:
        row = json.loads(daemon.ok("ps", "-a", "--filter", "name=shape-created", "--format", "{{json .}}"))
        assert row["Command"] == "\"sh -c 'while true; do sleep 1; done'\"" or row["Command"].startswith("\"sh -c 'while")
        assert row["Ports"] == ""
    finally:
        daemon.docker("rm", "-f", "shape-created")
