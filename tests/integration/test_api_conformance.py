"""Answers checked against Docker's swagger (API 1.41) side by side with dockerd 20.10: the same
objects made on both engines (a running container with a healthcheck, published port, volume
and label; an exec; a network; a volume; busybox), then every read endpoint that describes them.
Each body is validated as Go writes it (`swagger_conformance`); dockerd's answers are validated
too, so the checker is known to accept the reference, and berthd may not break a rule dockerd
keeps. The generated requests of test_api_schema.py are checked by the same rules."""
import json
import os

import pytest

from conftest import BERTH, Daemon, UnixHTTP, run_captured
from peer_engines import engines  # noqa: F401 (a fixture)
from swagger_conformance import Swagger, swagger_error

SWAGGER = "/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml"


def request(engine, method, path, body=None, version="1.41"):
    conn = UnixHTTP(engine.socket)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, f"/v{version}" + path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode()
    finally:
        conn.close()


def make_objects(engine):
    """The same objects on either engine; returns the path parameters that name them."""
    engine.docker("rm", "-f", "conf-c")
    engine.docker("network", "rm", "conf-net")
    engine.docker("volume", "rm", "conf-vol")
    assert engine.docker("network", "create", "--subnet", "10.232.7.0/24", "conf-net").returncode == 0
    assert engine.docker("volume", "create", "--label", "k=v", "conf-vol").returncode == 0
    run = engine.docker("run", "-d", "--name", "conf-c", "--network", "conf-net", "-p", "127.0.0.1::80", "-v", "conf-vol:/data",
                        "--label", "k=v", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sh", "-c",
                        "echo hello > /tmp/f; exec sleep 1000")
    assert run.returncode == 0, run.stderr
    status, _, text = request(engine, "POST", "/containers/conf-c/exec", {"Cmd": ["true"]})
    assert status == 201, text
    exec_id = json.loads(text)["Id"]
    assert request(engine, "POST", f"/exec/{exec_id}/start", {"Detach": True})[0] == 200
    return {"id": "conf-c", "exec": exec_id, "image": "busybox:latest", "network": "conf-net", "volume": "conf-vol"}


READS = [
    ("GET", "/containers/json", "/containers/json?all=1&size=1"),
    ("GET", "/containers/{id}/json", "/containers/{id}/json?size=1"),
    ("GET", "/containers/{id}/top", "/containers/{id}/top"),
    ("GET", "/containers/{id}/changes", "/containers/{id}/changes"),
    ("GET", "/containers/{id}/stats", "/containers/{id}/stats?stream=0"),
    ("GET", "/exec/{id}/json", "/exec/{exec}/json"),
    ("GET", "/images/json", "/images/json?all=1"),
    ("GET", "/images/{name}/json", "/images/{image}/json"),
    ("GET", "/images/{name}/history", "/images/{image}/history"),
    ("GET", "/networks", "/networks"),
    ("GET", "/networks/{id}", "/networks/{network}"),
    ("GET", "/volumes", "/volumes"),
    ("GET", "/volumes/{name}", "/volumes/{volume}"),
    ("GET", "/info", "/info"),
    ("GET", "/version", "/version"),
    ("GET", "/system/df", "/system/df"),
    ("POST", "/containers/create", None),  # 201 with Id and Warnings
]


def answers(engine, names):
    found = {}
    swagger = Swagger(SWAGGER)
    for method, template, path in READS:
        if path is None:
            status, kind, text = request(engine, method, "/containers/create?name=conf-created", {"Image": "busybox:latest", "Cmd": ["true"]})
        else:
            status, kind, text = request(engine, method, path.format(**names))
        assert status in (200, 201), (engine, template, status, text[:300])
        found[template] = swagger.violations(method, template, status, kind, text)
    return found


def test_read_endpoints_answer_as_the_swagger_says_beside_dockerd(engines):
    dockerd, berthd = engines
    results = {}
    for name, engine in (("dockerd", dockerd), ("berthd", berthd)):
        try:
            results[name] = answers(engine, make_objects(engine))
        finally:
            engine.docker("rm", "-f", "conf-c", "conf-created")
            engine.docker("network", "rm", "conf-net")
            engine.docker("volume", "rm", "conf-vol")
    for name, found in results.items():
        print(f"\n{name}: {len(READS)} answers, swagger rules broken: {sum(map(len, found.values()))} {json.dumps(found)}")
    # every rule dockerd breaks is a known error of the swagger's; berthd breaks no other
    for name in ("dockerd", "berthd"):
        unexplained = {t: [v for v in vs if not swagger_error(t, v)] for t, vs in results[name].items()}
        assert not any(unexplained.values()), (name, unexplained)


def test_an_image_list_leaves_the_counts_to_system_df_as_dockerd(engines):
    """dockerd counts an image's containers and shared size only for `system df`; a plain list
    answers -1 for both, and the docker CLI shows that as N/A, as berth's does."""
    for engine in engines:
        engine.docker("create", "--name", "conf-count", "busybox:latest", "true")
        try:
            listed = json.loads(request(engine, "GET", "/images/json")[2])
            counted = json.loads(request(engine, "GET", "/system/df")[2])["Images"]
            shown = engine.docker("images", "--format", "{{.Containers}}", "busybox:latest").stdout
        finally:
            engine.docker("rm", "-f", "conf-count")
        mine = [i for i in listed if "busybox:latest" in (i["RepoTags"] or [])]
        assert mine and mine[0]["Containers"] == -1 and mine[0]["SharedSize"] == -1, (engine, mine)
        mine = [i for i in counted if "busybox:latest" in (i["RepoTags"] or [])]
        assert mine and mine[0]["Containers"] == 1 and mine[0]["SharedSize"] >= 0, (engine, mine)
        assert shown == "N/A\n", (engine, shown)
    berth = run_captured([BERTH, "images", "--format", "{{.Containers}}", "busybox:latest"], env=engines[1].env())
    assert berth.stdout == "N/A\n", berth.stdout + berth.stderr


def test_a_client_newer_than_the_daemon_is_refused_and_berth_negotiates_down(engines, tmp_path):
    """dockerd's version middleware refuses an API newer than its own (20.10 serves 1.41) or
    older than its minimum, in the same words berthd uses; the docker CLI pings and speaks the
    daemon's version, and berth's CLI settles on it when refused, before a request and before an
    upload (an import's body), so it drives an older dockerd too."""
    dockerd, berthd = engines
    for engine, newest in ((dockerd, "1.41"), (berthd, "1.50")):
        status, _, text = request(engine, "GET", "/version", version="1.99")
        assert status == 400 and json.loads(text)["message"] == f"client version 1.99 is too new. Maximum supported API version is {newest}", text
        status, _, text = request(engine, "GET", "/version", version="1.5")
        # an API before 1.24 had its errors in plain text
        assert status == 400 and text.startswith("client version 1.5 is too old. Minimum supported API version is "), text
    env = dockerd.env()
    shown = run_captured([BERTH, "images", "--format", "{{.Repository}}:{{.Tag}}", "busybox:latest"], env=env)
    assert shown.returncode == 0 and shown.stdout == "busybox:latest\n", shown.stdout + shown.stderr
    version = run_captured([BERTH, "version"], env=env)
    assert "API version:       1.41 (downgraded from 1.50)" in version.stdout, version.stdout + version.stderr
    (tmp_path / "f").write_text("x")
    archive = tmp_path / "one.tar"
    assert run_captured(["tar", "-C", str(tmp_path), "-cf", str(archive), "f"]).returncode == 0
    try:
        imported = run_captured([BERTH, "import", str(archive), "conf-imported:1"], env=env)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        assert dockerd.docker("image", "inspect", "conf-imported:1").returncode == 0
    finally:
        dockerd.docker("rmi", "conf-imported:1")
    pinned = run_captured([BERTH, "version", "--format", "{{.Client.APIVersion}}"], env=dict(berthd.env(), DOCKER_API_VERSION="1.43"))
    assert pinned.stdout == "1.43\n", pinned.stdout + pinned.stderr


def test_disconnecting_the_default_routes_network_moves_the_route_as_dockerd(engines):
    """A container on three networks loses the one its default route goes through: dockerd 20.10
    routes through the next (by gw-priority, then network name) and so does berthd; leaving a
    network the route does not use leaves the route alone."""
    for engine in engines:
        nets = ["confgwa", "confgwb", "confgwc"]
        for i, net in enumerate(nets):
            engine.docker("network", "rm", net)
            assert engine.docker("network", "create", "--subnet", f"10.231.{1 + i}.0/24", net).returncode == 0
        try:
            run = engine.docker("run", "-d", "--name", "confgw", "--network", nets[0], "busybox", "sleep", "1000")
            assert run.returncode == 0, run.stderr
            for net in nets[1:]:
                assert engine.docker("network", "connect", net, "confgw").returncode == 0
            routes = engine.docker("exec", "confgw", "ip", "route").stdout
            assert "default via 10.231.1.1 dev eth0" in routes, (engine, routes)
            assert engine.docker("network", "disconnect", nets[0], "confgw").returncode == 0
            routes = engine.docker("exec", "confgw", "ip", "route").stdout
            assert "default via 10.231.2.1 dev eth1" in routes, (engine, routes)
            assert engine.docker("network", "disconnect", nets[2], "confgw").returncode == 0
            routes = engine.docker("exec", "confgw", "ip", "route").stdout
            assert "default via 10.231.2.1 dev eth1" in routes and "10.231.3" not in routes, (engine, routes)
        finally:
            engine.docker("rm", "-f", "confgw")
            for net in nets:
                engine.docker("network", "rm", net)


def kinds(value, path=""):
    """Every key's path in a JSON document, with the kind of its value (Go's nil is `null`), a
    list's first element standing for all; an ID in a key is written `<id>`."""
    kind = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}.get(type(value), "null")
    found = {path: kind} if path else {}
    if isinstance(value, dict):
        for key, member in value.items():
            found.update(kinds(member, f"{path}/{'<id>' if len(key) == 64 else key}"))
    if isinstance(value, list) and value:
        found.update(kinds(value[0], path + "/0"))
    return found


# Where berthd's answer differs from dockerd's in shape, and why: a key's path (and what is under it), or a key's name.
SHAPE_DIFFERENCES = {
    # the lists the docker CLI sends empty are filled so, and `berth`'s containers look like docker's
    *(f"/HostConfig/{key}" for key in ("BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps")),
    "/HostConfig/Runtime",  # dockerd 20.10 names the runtime only once the container has started
    "DNSNames", "GwPriority", "EnableIPv4",  # fields of newer APIs (berthd serves 1.50)
    # an image's layer has no work or merged directory in berthd (its container's does)
    "/images/{name}/json /GraphDriver/Data/WorkDir", "/images/{name}/json /GraphDriver/Data/MergedDir",
    "/images/{name}/json /ContainerConfig/Cmd",  # an imported image's: dockerd leaves it empty, berthd repeats its command
    # empty, not Go's nil
    "/images/json /Labels", "/images/json /RepoDigests", "/system/df /Images/0/Labels", "/system/df /Images/0/RepoDigests",
    "/system/df /BuildCache",
    "ExecIDs",  # the detached exec of make_objects may or may not have ended on either engine
    # every key of this kernel's memory.stat (dockerd's cgroups library reads a fixed, older set)
    "/containers/{id}/stats /memory_stats/stats",
    "/info /Runtimes",  # named for what each engine runs
    "/info /DefaultAddressPools",  # the peer dockerd is given pools of its own; berthd's are its defaults
}


def shapes(engine, names):
    """The kinds of every key of each read endpoint's answer (of a list, the element that is one of
    `make_objects`'), and of a container created with only an image and a command."""
    found = {}
    ours = {"/containers/json": lambda c: "/conf-c" in c["Names"], "/images/json": lambda i: "busybox:latest" in (i["RepoTags"] or []),
            "/networks": lambda n: n["Name"] == "conf-net"}
    for method, template, path in READS:
        if path is None:
            continue
        document = json.loads(request(engine, method, path.format(**names))[2])
        if template in ours:
            document = next(d for d in document if ours[template](d))
        found.update({template + " " + p: k for p, k in kinds(document).items()})
    status, _, text = request(engine, "POST", "/containers/create?name=conf-shape", {"Image": "busybox:latest", "Cmd": ["true"]})
    assert status == 201, text
    try:
        inspect = json.loads(request(engine, "GET", "/containers/conf-shape/json")[2])
        layers = inspect["GraphDriver"]["Data"]
        assert all(os.path.isdir(d) for d in [layers["UpperDir"], layers["WorkDir"], *layers["LowerDir"].split(":")]), layers
        found.update({"created " + p: k for p, k in kinds(inspect).items()})
    finally:
        engine.docker("rm", "-f", "conf-shape")
    return found


def test_answers_have_dockerds_shape_key_by_key(engines):
    """Each read endpoint's answer, beside dockerd's, key by key: the same keys, and each value of
    the same kind. Go's zero where moby's field is a value (`"Privileged": false`, `"Memory": 0`,
    `"Domainname": ""`), null where it is a pointer, slice or map no one set (the environment of
    an image without one, a volume's options), a key left out only where moby's is omitempty; a
    client of API 1.44 or older sees the container's short ID among its aliases. And the
    snapshot's directories, where a container's changes are read from its `UpperDir`."""
    found = {}
    for engine in engines:
        try:
            found[engine] = shapes(engine, make_objects(engine))
            for version, listed in (("1.41", True), ("1.50", False)):
                if engine is engines[0] and version != "1.41":
                    continue  # dockerd 20.10 speaks 1.41 at most
                inspect = json.loads(request(engine, "GET", "/containers/conf-c/json", version=version)[2])
                aliases = inspect["NetworkSettings"]["Networks"]["conf-net"]["Aliases"] or []
                assert (inspect["Id"][:12] in aliases) == listed, (engine, version, aliases)
        finally:
            engine.docker("rm", "-f", "conf-c", "conf-created")
            engine.docker("network", "rm", "conf-net")
            engine.docker("volume", "rm", "conf-vol")
    dockerd, berthd = (found[engine] for engine in engines)

    def excused(path):
        key = path.split(" ", 1)[1]
        return any(p in SHAPE_DIFFERENCES for p in (key, path, *key.split("/"))) or any(path.startswith(d + "/") for d in SHAPE_DIFFERENCES)
    differences = {path: (dockerd.get(path), berthd.get(path)) for path in dockerd.keys() | berthd.keys()
                   if dockerd.get(path) != berthd.get(path) and not excused(path)}
    for path, pair in sorted(differences.items()):
        print("shape differs:", path, pair)
    assert not differences, sorted(differences.items())
    assert berthd["created /HostConfig/Privileged"] == "bool" and berthd["created /HostConfig/PidsLimit"] == "null"
    assert berthd["created /Config/Env"] == "null"


def test_default_address_pools_give_networks_their_subnets_as_dockerd(engines):
    """`--default-address-pool base=CIDR,size=N` (dockerd's flag; `default-address-pools` in
    daemon.json): a network created without a subnet gets the pool's next /N, and `info` lists
    the pools, as the peer dockerd started with one does; a daemon.json pool of the wrong size
    stops the daemon at start, naming it."""
    berthd = Daemon(extra_args=["--default-address-pool", "base=10.219.0.0/16,size=24"])
    berthd.start()
    try:
        for engine, base in ((engines[0], "10.215."), (berthd, "10.219.")):
            engine.docker("network", "rm", "conf-pool")
            assert engine.docker("network", "create", "conf-pool").returncode == 0
            try:
                subnet = json.loads(request(engine, "GET", "/networks/conf-pool")[2])["IPAM"]["Config"][0]["Subnet"]
                assert subnet.startswith(base) and subnet.endswith("/24"), (engine, subnet)
            finally:
                engine.docker("network", "rm", "conf-pool")
            pools = json.loads(request(engine, "GET", "/info")[2])["DefaultAddressPools"]
            assert pools == [{"Base": base + "0.0/16", "Size": 24}], (engine, pools)
    finally:
        berthd.stop()
    refused = Daemon()
    with open(os.path.join(refused.base, "daemon.json"), "w") as f:
        json.dump({"default-address-pools": [{"base": "10.219.0.0/16", "size": 8}]}, f)
    try:
        with pytest.raises(RuntimeError, match="invalid default address pool 10.219.0.0/16: size 8"):
            refused.start()
    finally:
        refused.stop()
