"""Resource flags a kernel cannot honour: the docker CLI against dockerd 20.10 and against berthd on
the same machine must print the same warnings, refuse with the same errors, and store the same
discarded values. On this machine's cgroup v1 that covers kernel memory and the block I/O weight;
inside the cgroup v2 VM (test_cgroup_v2_vm.py runs this file there too) swappiness and
--oom-kill-disable, which v2 does not have."""
import os
import subprocess

import pytest

from conftest import BERTHD, DOCKER as CLI, TIMEOUT, Daemon, run_captured
from peer_engines import DOCKER, engines  # noqa: F401 (a fixture)

CASES = [
    ["--memory-swappiness", "60"],
    ["--memory-swappiness", "200"],
    ["--oom-kill-disable"],
    ["-m", "32m", "--oom-kill-disable"],
    ["--kernel-memory", "16m"],
    ["--blkio-weight", "300"],
    ["--blkio-weight", "5"],
    ["-m", "32m", "--cpu-shares", "512", "--cpus", "0.5", "--pids-limit", "50", "--cpuset-cpus", "0"],
    ["--cpus", "0.5", "--cpu-quota", "50000"],
    ["--cpu-period", "500"],
    ["-m", "32m", "--memory-swap", "16m"],
    ["--memory-swap", "64m"],
    ["--memory-reservation", "1m"],
    ["--cpuset-cpus", "0-999"],
    ["--cpu-rt-runtime", "50000"],
    ["--cpu-rt-period", "100000", "--cpu-rt-runtime", "200000"],
    ["--cpu-count", "2"],
    ["--cpu-percent", "50"],
    ["--io-maxbandwidth", "1m"],
    ["--io-maxiops", "100"],
]

# What inspect shows for the settings a kernel may discard.
FIELDS = ("{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{json .HostConfig.MemorySwappiness}} "
          "{{json .HostConfig.OomKillDisable}} {{.HostConfig.KernelMemory}} {{.HostConfig.BlkioWeight}} "
          "{{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{json .HostConfig.PidsLimit}} "
          "{{.HostConfig.CpuRealtimePeriod}} {{.HostConfig.CpuRealtimeRuntime}}")


def outcome(engine, flags):
    # API 1.41, dockerd 20.10's: a newer CLI leaves --kernel-memory out of later API versions.
    env = dict(engine.env(), DOCKER_API_VERSION="1.41")
    r = run_captured([DOCKER, "create", *flags, "busybox", "true"], env=env, timeout=60)
    warnings = [line for line in r.stderr.splitlines() if line.startswith("WARNING")]
    errors = [line.removeprefix("docker: ") for line in r.stderr.splitlines() if "Error" in line or "only supported" in line]
    stored = None
    if r.returncode == 0:
        cid = r.stdout.strip()
        stored = engine.docker("inspect", "-f", FIELDS, cid).stdout.strip()
        engine.docker("rm", "-f", cid)
    return r.returncode, warnings, errors, stored


@pytest.mark.parametrize("flags", CASES, ids=[" ".join(c) for c in CASES])
def test_the_same_warnings_errors_and_stored_values_as_dockerd(engines, flags):
    dockerd, berthd = engines
    theirs, ours = outcome(dockerd, flags), outcome(berthd, flags)
    print(f"cgroup {'v2' if os.path.exists('/sys/fs/cgroup/cgroup.controllers') else 'v1'}, {' '.join(flags)}: dockerd {theirs}")
    assert ours == theirs


# (create flags, update flags): dockerd's merge rules, its conflicts and its quirks (an update may set
# swap below memory; raising memory needs swap with it, unlimited swap included).
UPDATES = [
    ([], ["-m", "64m"]),
    (["-m", "64m"], ["-m", "128m"]),
    (["-m", "64m"], ["-m", "256m"]),
    (["-m", "64m", "--memory-swap", "-1"], ["-m", "128m"]),
    (["-m", "64m"], ["--memory-swap", "32m"]),
    (["--pids-limit", "50"], ["--pids-limit", "-1"]),
    (["--cpus", "1"], ["--cpu-quota", "50000"]),
    (["--cpu-quota", "50000"], ["--cpus", "1"]),
    (["--cpu-shares", "512"], ["--cpu-shares", "256", "--blkio-weight", "300"]),
]


@pytest.mark.parametrize("create,update", UPDATES, ids=[" ".join(c) + " / " + " ".join(u) for c, u in UPDATES])
def test_update_merges_and_refuses_as_dockerd(engines, create, update):
    results = []
    for engine in engines:
        env = dict(engine.env(), DOCKER_API_VERSION="1.41")
        cid = run_captured([DOCKER, "create", *create, "busybox", "true"], env=env, timeout=60).stdout.strip()
        r = run_captured([DOCKER, "update", *update, cid], env=env, timeout=60)
        stored = engine.docker("inspect", "-f", FIELDS + " {{.HostConfig.CpuQuota}}", cid).stdout.strip()
        engine.docker("rm", "-f", cid)
        results.append((r.returncode, r.stdout.replace(cid, "<id>"), r.stderr.replace(cid, "<id>"), stored))
    print(f"{' '.join(create)} / {' '.join(update)}: dockerd {results[0]}")
    assert results[1] == results[0]


def test_a_real_time_budget_from_the_daemon(rootfs_template, tmp_path):
    """dockerd's --cpu-rt-runtime: the groups above containers get the daemon's budget, so a
    container's --cpu-rt-runtime within it starts with its cgroup set, and one beyond it fails
    with the kernel's reason. cgroup v2 has no real-time groups: berthd refuses the flag."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        r = run_captured([BERTHD, "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "run"),
                          "-H", f"unix://{tmp_path}/b.sock", "--cpu-rt-runtime", "100000"], timeout=TIMEOUT)
        assert r.returncode == 1 and "does not support CPU real-time scheduler" in r.stderr, r
        return
    d = Daemon(extra_args=["--cpu-rt-runtime", "100000"])
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([CLI, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        out = d.ok("run", "--rm", "--network", "none", "--cpu-rt-runtime", "50000", "busybox", "cat", "/sys/fs/cgroup/cpu/cpu.rt_runtime_us")
        assert out.strip() == "50000"
        over = d.docker("run", "--rm", "--network", "none", "--cpu-rt-runtime", "500000", "busybox", "true")
        assert over.returncode == 125 and "cpu.rt_runtime_us: invalid argument" in over.stderr, over.stderr
    finally:
        d.stop()

