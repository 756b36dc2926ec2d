"""`--pid`, `--ipc` and `--uts`: a namespace of the container's own, the host's, or another
container's, side by side with dockerd 20.10 through the docker CLI: the same namespaces joined
(compared with the host's own), the same shared /dev/shm, and the same refusals."""
import os
import re
import socket

from conftest import BERTH
from peer_engines import DOCKER, engines  # noqa: F401 (a fixture)

HOST = {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("pid", "ipc", "uts")}


def scenario(engine):
    """What a user sees through one engine; container IDs replaced by <id>."""
    seen = {}

    def run(key, *args):
        r = engine.docker(*args, timeout=60)
        seen[key] = (r.returncode, r.stdout, r.stderr)
        return r

    run("donor", "run", "-d", "--name", "ns-donor", "--ipc", "shareable", "busybox", "sh", "-c",
        "echo shared > /dev/shm/mark; exec sleep 300")
    run("private-donor", "run", "-d", "--name", "ns-private", "busybox", "sleep", "300")
    run("pid-container", "run", "--rm", "--pid", "container:ns-donor", "busybox", "sh", "-c",
        "ps -o comm | grep -c '^sleep'")
    run("ipc-container", "run", "--rm", "--ipc", "container:ns-donor", "busybox", "cat", "/dev/shm/mark")
    run("ipc-private-donor", "run", "--rm", "--ipc", "container:ns-private", "busybox", "true")
    run("pid-host", "run", "--rm", "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid")
    run("ipc-host", "run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc")
    run("uts-host", "run", "--rm", "--uts", "host", "busybox", "sh", "-c", "readlink /proc/self/ns/uts; hostname")
    run("uts-host-hostname", "run", "--rm", "--uts", "host", "--hostname", "x", "busybox", "true")
    run("ipc-none", "run", "--rm", "--ipc", "none", "busybox", "sh", "-c", "test -e /dev/shm && echo shm || echo no-shm")
    run("private", "run", "--rm", "busybox", "sh", "-c", "for n in pid ipc uts; do readlink /proc/self/ns/$n; done")
    run("pid-missing", "run", "--rm", "--pid", "container:ns-absent", "busybox", "true")
    run("ipc-missing", "run", "--rm", "--ipc", "container:ns-absent", "busybox", "true")
    run("ipc-bogus", "run", "--rm", "--ipc", "bogus", "busybox", "true")
    joiner = engine.docker("create", "--pid", "container:ns-donor", "--ipc", "container:ns-donor", "busybox", "true").stdout.strip()
    run("stored", "inspect", "-f", "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}", joiner)
    ids = engine.docker("ps", "-aq", "--no-trunc").stdout.split()
    engine.docker("rm", "-f", *ids, timeout=60)
    normalized = {}
    for key, (rc, out, err) in seen.items():
        for cid in ids:
            out, err = out.replace(cid, "<id>"), err.replace(cid, "<id>")
        normalized[key] = (rc, re.sub(r"[0-9a-f]{64}", "<id>", out), re.sub(r"[0-9a-f]{64}", "<id>", err))
    return normalized


def test_namespace_modes_as_dockerd(engines):
    dockerd, berthd = engines
    theirs, ours = scenario(dockerd), scenario(berthd)
    # What the modes must mean, checked on dockerd's answers so the comparison is not vacuous.
    assert theirs["pid-container"][1] == "1\n" and theirs["ipc-container"][1] == "shared\n"
    assert theirs["pid-host"][1] == HOST["pid"] + "\n" and theirs["ipc-host"][1] == HOST["ipc"] + "\n"
    assert theirs["uts-host"][1] == f"{HOST['uts']}\n{socket.gethostname()}\n"
    assert len(theirs["private"][1].split()) == 3 and not set(theirs["private"][1].split()) & set(HOST.values())
    assert len(ours["private"][1].split()) == 3 and not set(ours["private"][1].split()) & set(HOST.values())
    theirs.pop("private"), ours.pop("private")  # new namespaces: inode numbers differ by nature
    for key in theirs:
        assert ours[key] == theirs[key], key


def test_berth_cli_takes_the_same_flags(engines):
    berthd = engines[1]
    berthd.binary = BERTH
    try:
        assert berthd.ok("run", "--rm", "--pid", "host", "--ipc", "host", "--uts", "host", "busybox", "sh", "-c",
                         "for n in pid ipc uts; do readlink /proc/self/ns/$n; done").split() == \
            [HOST["pid"], HOST["ipc"], HOST["uts"]]
        for flag, words in (("--pid", "--pid: invalid PID mode"), ("--uts", "--uts: invalid UTS mode")):
            r = berthd.docker("run", "--rm", flag, "bogus", "busybox", "true")
            assert r.returncode == 125 and words in r.stderr, r.stderr
    finally:
        berthd.binary = DOCKER
