"""The same bundle under berth-runtime and under runc/crun: same state fields, same observable container.

Each comparison skips with a reason when the peer runtime is not installed.
"""
import glob
import os
import re
import shutil
import tempfile
import uuid

import pytest

from conftest import REPO, Bundle
from test_runtime_lifecycle import wait_status

# Everything a process can observe about its sandbox, one fact per line.
PROBE = r"""
hostname
id
ls /dev | tr '\n' ' '; echo
ls /sys/fs/cgroup | tr '\n' ' '; echo
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status
ulimit -n
ip link | grep -c mtu
touch /probe 2>/dev/null && echo root-writable || echo root-readonly
cat /proc/kcore 2>/dev/null | wc -c
cat /proc/keys 2>/dev/null | wc -c
echo x > /proc/sys/kernel/hostname 2>/dev/null && echo procsys-writable || echo procsys-readonly
cat /proc/1/cmdline | tr '\0' ' '; echo
mount | awk '{print $3}' | sort | tr '\n' ' '; echo
readlink /dev/fd /dev/stdin /dev/ptmx | tr '\n' ' '; echo
stat -c '%a %U %G' /dev/shm /dev/pts /dev/null
exit 3
"""


@pytest.fixture(params=["runc", "crun"])
def peer_runtime(request):
    name = request.param
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed (Debian package {name}; make deps installs it)")
    return shutil.which("runc") if name == "runc" else os.path.join(REPO, "scripts", "crun-compat")


@pytest.fixture
def peer_bundle(bundle, peer_runtime):
    """A second bundle with the same config, run by the peer under its own state root."""
    root = tempfile.mkdtemp(prefix="peer-state-", dir="/run")
    peer = Bundle(bundle.path, root, bundle.config["root"]["path"], runtime=peer_runtime)
    peer.config = bundle.config
    try:
        yield peer
    finally:
        peer.cleanup()
        shutil.rmtree(root, ignore_errors=True)
        for parent in glob.glob("/sys/fs/cgroup/*/berth-peer") + glob.glob("/sys/fs/cgroup/berth-peer"):
            for leaf in os.listdir(parent):  # runc leaves the parent; neither may leave a leaf
                if os.path.isdir(os.path.join(parent, leaf)):
                    os.rmdir(os.path.join(parent, leaf))
            os.rmdir(parent)


def portable(bundle):
    """Peers on Debian 12 predate runtime-spec 1.2; both sides run the same 1.0 config."""
    bundle.config["ociVersion"] = "1.0.0"
    bundle.config["linux"]["cgroupsPath"] = f"/berth-peer/{uuid.uuid4().hex[:10]}"


def test_same_observable_sandbox(bundle, peer_bundle):
    portable(bundle)
    bundle.set_args("sh", "-c", PROBE)
    ours = bundle.run()
    theirs = peer_bundle.run()
    assert theirs.returncode == 3, theirs.stderr
    assert ours.returncode == theirs.returncode, ours.stderr
    # crun adds a /dev/core -> /proc/kcore link even where the kernel has no /proc/kcore (runc, and
    # Berth with it, only where it has), and binds the net_cls/net_prio hierarchies it does not place
    # the container in (runc and Berth do not).
    crunisms = [("net_cls net_prio ", ""), ("/sys/fs/cgroup/net_cls ", ""), ("/sys/fs/cgroup/net_prio ", "")]
    if not os.path.exists("/proc/kcore"):
        crunisms.append(("core fd ", "fd "))
    expected, observed = theirs.stdout, ours.stdout
    if "crun" in peer_bundle.runtime:
        for old, new in crunisms:
            expected = expected.replace(old, new)
        # On cgroup v2 runc (and Berth) enable every controller the parent offers; crun leaves
        # rdma and misc out of a parent it makes but keeps them in one it finds (the parents stay,
        # as runc leaves them), so their files are compared with runc only.
        observed = re.sub(r"(?:rdma|misc)\.\S+ ", "", observed)
        expected = re.sub(r"(?:rdma|misc)\.\S+ ", "", expected)
    assert observed.splitlines() == expected.splitlines()


def test_same_state_through_the_lifecycle(bundle, peer_bundle):
    portable(bundle)
    bundle.set_args("sleep", "60")
    bundle.write()
    states = []
    for b in (bundle, peer_bundle):
        cid = b.new_id()
        r = b.cmd("create", cid, stdin=None)
        assert r.returncode == 0, r.stderr
        created = b.state(cid)
        assert b.cmd("start", cid).returncode == 0
        running = b.state(cid)
        assert b.cmd("kill", cid, "KILL").returncode == 0
        wait_status(b, cid, "stopped")
        stopped = b.state(cid)
        assert b.cmd("delete", cid).returncode == 0
        states.append((created, running, stopped))
    for ours, theirs in zip(*states):
        assert ours["status"] == theirs["status"]
        assert ours["bundle"] == theirs["bundle"]
        # runc/crun add runtime-specific keys (rootfs, owner, annotations when empty); the OCI ones must match.
        for key in ("ociVersion", "id", "pid", "status", "bundle"):
            assert key in ours and key in theirs
    # stopped: every runtime reports the status; ours also zeroes the pid, as runc does
    assert states[0][2]["status"] == "stopped" and states[0][2]["pid"] == 0


def test_same_exit_code_and_errors_for_failing_processes(bundle, peer_bundle):
    portable(bundle)
    bundle.set_args("sh", "-c", "echo out; echo err >&2; exit 42")
    ours, theirs = bundle.run(), peer_bundle.run()
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (42, "out\n")
    assert ours.stderr == theirs.stderr == "err\n"


def test_same_limits_land_in_the_cgroup(bundle, peer_bundle):
    portable(bundle)
    bundle.config["linux"]["resources"].update({
        "memory": {"limit": 64 << 20}, "pids": {"limit": 42},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    })
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "cgroup"] + [
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]}]
    if os.path.isdir("/sys/fs/cgroup/memory"):
        script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                  "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us")
    else:
        script = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max"
    bundle.set_args("sh", "-c", script)
    ours, theirs = bundle.run(), peer_bundle.run()
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
