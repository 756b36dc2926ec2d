"""Networks and volumes through the docker CLI and `berth`: bridges with real veths, netfilter
port publishing reached from the host's loopback, the embedded DNS, volumes that outlive their
containers. Traffic goes only to 127.0.0.1 and to addresses inside namespaces these tests made."""
import json
import os
import socket
import subprocess
import time
import uuid

import pytest

from conftest import TIMEOUT, chain_prefix


def inspect(docker, name, fmt):
    return docker.ok("inspect", "-f", fmt, name).strip()


def http_get(port, path="/hostname", host="127.0.0.1", timeout=5):
    """One HTTP/1.0 GET over a plain socket (busybox httpd answers)."""
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                return data.decode(errors="replace")
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def veths_on(bridge):
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True, timeout=TIMEOUT).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]


@pytest.fixture
def network(docker):
    """A user-defined network, removed afterwards (its containers first)."""
    name = "tn" + uuid.uuid4().hex[:6]
    docker.ok("network", "create", name)
    yield name
    ids = docker.docker("ps", "-aq", "--filter", f"network={name}").stdout.split()
    if ids:
        docker.docker("rm", "-f", *ids)
    docker.docker("network", "rm", name)


def test_default_bridge_gives_an_address_route_and_inspect(docker):
    out = docker.ok("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf")
    assert " eth0 " in out and ("inet 172." in out or "inet 192.168." in out)
    assert "default via " in out
    cid = docker.ok("run", "-d", "busybox", "sleep", "60").strip()
    ns = json.loads(docker.ok("inspect", "-f", "{{json .NetworkSettings}}", cid))
    ip, gw = ns["IPAddress"], ns["Gateway"]
    assert ip and gw and ns["IPPrefixLen"] > 0
    assert ns["MacAddress"] == "02:42:" + ":".join(f"{int(o):02x}" for o in ip.split("."))
    assert ns["Networks"]["bridge"]["IPAddress"] == ip
    # the gateway (the bridge) answers from inside, and the container's address from the host
    docker.ok("exec", cid, "ping", "-c1", "-W2", gw)
    assert subprocess.run(["busybox", "ping", "-c1", "-W2", ip], capture_output=True, timeout=TIMEOUT).returncode == 0
    assert len(veths_on(docker.bridge)) >= 1
    docker.ok("stop", "-t", "0", cid)
    assert inspect(docker, cid, "{{.NetworkSettings.IPAddress}}") == ""
    docker.ok("rm", cid)
    assert wait_for(lambda: veths_on(docker.bridge) == [])  # deleted in the background


def test_network_none_and_host(docker):
    links = docker.ok("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    assert "127.0.0.1" in docker.ok("run", "--rm", "--network", "none", "busybox", "ip", "-o", "addr")
    host_links = docker.ok("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    assert docker.bridge in host_links
    assert docker.ok("run", "--rm", "--network", "host", "busybox", "hostname").strip() == socket.gethostname()


def test_network_container_mode_shares_the_stack(docker):
    cid = docker.ok("run", "-d", "busybox", "sleep", "60").strip()
    ip = inspect(docker, cid, "{{.NetworkSettings.IPAddress}}")
    out = docker.ok("run", "--rm", "--network", f"container:{cid}", "busybox", "ip", "-o", "-4", "addr")
    assert f"inet {ip}/" in out
    docker.ok("rm", "-f", cid)


def test_user_network_resolves_names_and_aliases(docker, network):
    docker.ok("run", "-d", "--name", network + "-peer", "--network", network, "--network-alias", "db", "busybox",
              "httpd", "-f", "-p", "80", "-h", "/etc")
    peer_ip = inspect(docker, network + "-peer", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network)
    out = docker.ok("run", "--rm", "--network", network, "busybox", "sh", "-c",
                    f"cat /etc/resolv.conf; nslookup db; ping -c1 -W2 {network}-peer && "
                    f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 db 80")
    assert "nameserver 127.0.0.11" in out
    assert f"Address: {peer_ip}" in out
    assert "1 packets received" in out
    assert "200 OK" in out
    info = json.loads(docker.ok("network", "inspect", network))[0]
    assert [c["Name"] for c in info["Containers"].values()] == [network + "-peer"]
    assert info["IPAM"]["Config"][0]["Subnet"]
    r = docker.docker("network", "rm", network)
    assert r.returncode != 0 and "has active endpoints" in r.stderr


def test_published_ports_answer_on_loopback(docker):
    name = "pub" + uuid.uuid4().hex[:6]
    docker.ok("run", "-d", "--name", name, "-p", "127.0.0.1::80", "--expose", "81", "-P", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    mapping = docker.ok("port", name, "80").strip()
    host_ip, host_port = mapping.rsplit(":", 1)
    assert host_ip == "127.0.0.1"
    reply = http_get(int(host_port))
    assert "200 OK" in reply and inspect(docker, name, "{{.Config.Hostname}}") in reply
    ports = docker.ok("ps", "--filter", f"name={name}", "--format", "{{.Ports}}")
    assert f"127.0.0.1:{host_port}->80/tcp" in ports and "->81/tcp" in ports
    # a fixed host port taken by another container is refused in Docker's words
    fixed = int(host_port)
    r = docker.docker("run", "-d", "--name", name + "x", "-p", f"127.0.0.1:{fixed}:80", "busybox", "sleep", "5")
    assert r.returncode != 0 and "port is already allocated" in r.stderr
    docker.docker("rm", "-f", name + "x")
    docker.ok("rm", "-f", name)
    nat = subprocess.run(["iptables", "-t", "nat", "-S", chain_prefix(docker.exec_root)], capture_output=True, text=True, timeout=TIMEOUT).stdout
    assert f"--dport {host_port}" not in nat


def test_custom_subnet_static_ip_connect_and_disconnect(docker):
    name = "tsub" + uuid.uuid4().hex[:6]
    net_id = docker.ok("network", "create", "--subnet", "10.199.7.0/24", "--gateway", "10.199.7.254", "--label", "t=1", name).strip()
    try:
        r = docker.docker("network", "create", "--subnet", "10.199.7.128/25", name + "b")
        assert r.returncode != 0 and "overlaps" in r.stderr
        assert name in docker.ok("network", "ls", "--filter", "label=t=1", "--format", "{{.Name}}")
        cid = docker.ok("run", "-d", "--network", name, "--ip", "10.199.7.9", "busybox", "sleep", "60").strip()
        out = docker.ok("exec", cid, "ip", "-o", "-4", "addr")
        assert "10.199.7.9/24" in out
        assert "default via 10.199.7.254" in docker.ok("exec", cid, "ip", "route")
        other = docker.ok("run", "-d", "busybox", "sleep", "60").strip()
        docker.ok("network", "connect", "--alias", "second", name, other)
        assert "eth1" in docker.ok("exec", other, "ip", "-o", "link")
        docker.ok("exec", other, "ping", "-c1", "-W2", "10.199.7.9")
        docker.ok("network", "disconnect", name, other)
        assert "eth1" not in docker.ok("exec", other, "ip", "-o", "link")
        docker.ok("rm", "-f", cid, other)
    finally:
        docker.docker("network", "rm", name)
    assert subprocess.run(["ip", "link", "show", "br-" + net_id[:12]], capture_output=True, timeout=TIMEOUT).returncode != 0


def test_link_local_ips_and_gateway_priority(docker):
    """`--link-local-ip` puts the addresses on the container's interface (/16 as libnetwork
    masks them); `gw-priority` picks the network whose gateway is the default route, at start,
    on `network connect` and on `network disconnect` of the route's network; the flags and `--network` fields of docker 28, from both CLIs."""
    tag = uuid.uuid4().hex[:6]
    nets = [f"gwa{tag}", f"gwb{tag}", f"gwc{tag}"]
    for i, net in enumerate(nets):
        docker.ok("network", "create", "--subnet", f"10.198.{10 + i}.0/24", net)
    try:
        cid = docker.ok("run", "-d", "--network", nets[0], "--link-local-ip", "169.254.7.7", "busybox", "sleep", "60").strip()
        assert "inet 169.254.7.7/16" in docker.ok("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0")
        assert inspect(docker, cid, "{{json (index .NetworkSettings.Networks \"%s\").IPAMConfig.LinkLocalIPs}}" % nets[0]) == '["169.254.7.7"]'
        bad = docker.docker("run", "--rm", "--network", nets[0], "--link-local-ip", "not-an-ip", "busybox", "true")
        assert bad.returncode != 0 and "invalid link-local IP address: not-an-ip" in bad.stderr, bad.stderr
        two = docker.ok("run", "-d", "--network", nets[0], "--network", f"name={nets[1]},gw-priority=5", "busybox", "sleep", "60").strip()
        assert "default via 10.198.11.1" in docker.ok("exec", two, "ip", "route")
        docker.ok("network", "connect", "--gw-priority", "9", "--link-local-ip", "169.254.9.9", nets[2], two)
        routes = docker.ok("exec", two, "ip", "route")
        assert "default via 10.198.12.1" in routes and "default via 10.198.11.1" not in routes, routes
        assert "169.254.9.9/16" in docker.ok("exec", two, "ip", "-o", "-4", "addr")
        # leaving the network of the default route moves it to the next priority, as libnetwork
        docker.ok("network", "disconnect", nets[2], two)
        assert "default via 10.198.11.1" in docker.ok("exec", two, "ip", "route")
        docker.ok("network", "disconnect", nets[1], two)
        assert "default via 10.198.10.1" in docker.ok("exec", two, "ip", "route")
        docker.ok("rm", "-f", cid, two)
    finally:
        for net in nets:
            docker.docker("network", "rm", net)


def test_network_create_refuses_what_berth_does_not_run_by_name(docker):
    for args, words in ((["--ipam-driver", "nosuch"], 'plugin "nosuch" not found'), (["--ingress"], "Ingress network can only be global scope"),
                        (["--scope", "swarm"], "swarm is not active"), (["--ipv4=false", "--ipv6"], "IPv6-only"),
                        (["--config-only"], "config-only")):
        name = "refuse" + uuid.uuid4().hex[:6]
        r = docker.docker("network", "create", *args, name)
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
        assert docker.docker("network", "inspect", name).returncode != 0
    name = "ipam" + uuid.uuid4().hex[:6]
    docker.ok("network", "create", "--ipam-driver", "default", "--ipam-opt", "k=v", "--scope", "local", "--ipv4", name)
    try:
        assert inspect(docker, name, "{{.IPAM.Driver}} {{.IPAM.Options}} {{.Scope}} {{.EnableIPv4}}") == "default map[k:v] local true"
    finally:
        docker.docker("network", "rm", name)


def test_ports_and_names_survive_daemon_kill9(daemon):
    docker = daemon
    name = "live" + uuid.uuid4().hex[:6]
    docker.ok("run", "-d", "--name", name, "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    port = int(docker.ok("port", name, "80").strip().rsplit(":", 1)[1])
    docker.kill9()
    docker.start()
    assert "200 OK" in http_get(port)
    docker.ok("rm", "-f", name)
    assert wait_for(lambda: veths_on(docker.bridge) == [])
    assert os.listdir(os.path.join(docker.exec_root, "netns")) == []


def test_volumes_outlive_containers_and_copy_image_content(docker):
    vol = "tv" + uuid.uuid4().hex[:6]
    docker.ok("volume", "create", "--label", "k=v", vol)
    try:
        docker.ok("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        assert docker.ok("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "cat", "/data/f") == "kept\n"
        r = docker.docker("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "touch", "/data/g")
        assert r.returncode != 0 and "Read-only file system" in r.stderr
        info = json.loads(docker.ok("volume", "inspect", vol))[0]
        assert info["Driver"] == "local" and info["Labels"] == {"k": "v"} and info["Scope"] == "local"
        assert os.path.exists(os.path.join(info["Mountpoint"], "f"))
        cid = docker.ok("run", "-d", "-v", f"{vol}:/data", "busybox", "sleep", "60").strip()
        mounts = json.loads(docker.ok("inspect", "-f", "{{json .Mounts}}", cid))
        assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == vol and mounts[0]["Destination"] == "/data"
        r = docker.docker("volume", "rm", vol)
        assert r.returncode != 0 and "volume is in use" in r.stderr
        assert docker.ok("run", "--rm", "--volumes-from", cid, "busybox", "cat", "/data/f") == "kept\n"
        docker.ok("rm", "-f", cid)
        # a new named volume is filled from the image's content at its path, unless nocopy
        fresh = vol + "c"
        assert "passwd" in docker.ok("run", "--rm", "-v", f"{fresh}:/etc", "busybox", "ls", "/etc")
        assert docker.ok("run", "--rm", "--mount", f"source={fresh}x,target=/etc,volume-nocopy", "busybox", "ls", "/etc").strip() == ""
        docker.ok("volume", "rm", fresh, fresh + "x")
    finally:
        docker.docker("volume", "rm", "-f", vol)


def test_anonymous_volumes_binds_and_tmpfs(docker, tmp_path):
    cid = docker.ok("create", "-v", "/scratch", "busybox", "true").strip()
    anon = inspect(docker, cid, "{{(index .Mounts 0).Name}}")
    assert len(anon) == 64 and anon in docker.ok("volume", "ls", "-q", "--filter", "dangling=false")
    docker.ok("rm", "-v", cid)
    assert anon not in docker.ok("volume", "ls", "-q")
    host_dir = str(tmp_path / "made" / "by-v")
    docker.ok("run", "--rm", "-v", f"{host_dir}:/x", "busybox", "touch", "/x/y")
    assert os.path.exists(os.path.join(host_dir, "y"))
    r = docker.docker("run", "--rm", "--mount", f"type=bind,source={tmp_path}/missing,target=/x", "busybox", "true")
    assert r.returncode != 0 and "bind source path does not exist" in r.stderr
    out = docker.ok("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "busybox", "df", "-k", "/t")
    assert "tmpfs" in out and " 1024 " in out
    tmpvol = "tt" + uuid.uuid4().hex[:6]
    docker.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m", tmpvol)
    out = docker.ok("run", "--rm", "-v", f"{tmpvol}:/t", "busybox", "df", "-k", "/t")
    assert "tmpfs" in out and " 2048 " in out
    docker.ok("volume", "rm", tmpvol)
    vol = "tp" + uuid.uuid4().hex[:6]
    docker.ok("volume", "create", vol)
    assert vol in docker.ok("volume", "prune", "-a", "-f")
    assert vol not in docker.ok("volume", "ls", "-q")
