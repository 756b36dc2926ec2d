"""cgroup v2 as a Docker user meets it, through the docker CLI and `berth`: limits written to the
unified hierarchy's files and read back (also from inside the container), `update`, devices through
the eBPF filter, pause through cgroup.freeze, OOM kills from memory.events, `stats` from v2 files,
cgroup namespaces, and a privileged container delegating its own subtree as systemd does.

Collected only on a cgroup v2 host: test_cgroup_v2_vm.py boots one under qemu and runs it there.
"""
import json
import time

from conftest import api
from test_engine_cli import inspect, wait_for

CGROUP = "/sys/fs/cgroup/berth/"


def read(cid, name):
    return open(CGROUP + cid + "/" + name).read().strip()


def test_limits_are_written_to_v2_files_and_seen_inside(docker):
    cid = docker.ok("run", "-d", "-m", "32m", "--memory-swap", "64m", "--memory-reservation", "16m", "--cpus", "0.5",
                    "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "busybox", "sleep", "300").strip()
    assert read(cid, "memory.max") == str(32 << 20)
    assert read(cid, "memory.swap.max") == str(32 << 20)  # v2 limits swap alone: 64m memory+swap - 32m
    assert read(cid, "memory.low") == str(16 << 20)
    assert read(cid, "cpu.max") == "50000 100000"
    assert read(cid, "cpu.weight") == "20"  # runc's conversion of 512 shares
    assert read(cid, "cpuset.cpus") == "0"
    assert read(cid, "pids.max") == "50"
    # A private cgroup namespace (v2's default): the container's own group is its root.
    inside = docker.ok("exec", cid, "sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
    assert inside.split() == ["0::/", str(32 << 20), "50"]
    assert inspect(docker, cid, "{{.HostConfig.CgroupnsMode}}") == "private"


def test_update_rewrites_the_v2_files(docker):
    cid = docker.ok("run", "-d", "-m", "32m", "--cpus", "0.5", "--pids-limit", "50", "busybox", "sleep", "300").strip()
    docker.ok("update", "-m", "64m", "--memory-swap", "128m", "--pids-limit", "20", cid)
    assert (read(cid, "memory.max"), read(cid, "memory.swap.max"), read(cid, "pids.max")) == (str(64 << 20), str(64 << 20), "20")
    docker.ok("update", "--cpus", "1.5", "--pids-limit", "-1", cid)
    assert (read(cid, "cpu.max"), read(cid, "pids.max")) == ("150000 100000", "max")


def test_devices_are_policed_by_the_ebpf_filter(docker):
    # /dev/kmsg (c 1:11) is not among Docker's default devices: mknod is allowed (c *:* m), opening
    # the node is not, unless a rule grants it. Only the eBPF program decides.
    write = "mknod /tmp/kmsg c 1 11 && echo berth-v2-test > /tmp/kmsg && echo ok"
    denied = docker.docker("run", "--rm", "busybox", "sh", "-c", write)
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr, denied
    allowed = docker.docker("run", "--rm", "--device-cgroup-rule", "c 1:11 w", "busybox", "sh", "-c", write)
    assert allowed.returncode == 0 and allowed.stdout == "ok\n", allowed.stderr
    mapped = docker.docker("run", "--rm", "--device", "/dev/zero:/dev/myzero", "busybox", "sh", "-c", "head -c 3 /dev/myzero | wc -c")
    assert mapped.stdout.strip() == "3", mapped.stderr
    assert docker.ok("run", "--rm", "--privileged", "busybox", "sh", "-c", write) == "ok\n"


def test_pause_freezes_through_cgroup_freeze(docker):
    cid = docker.ok("run", "-d", "busybox", "sleep", "300").strip()
    docker.ok("pause", cid)
    assert "frozen 1" in read(cid, "cgroup.events")
    assert inspect(docker, cid, "{{.State.Status}} {{.State.Paused}}") == "paused true"
    docker.ok("unpause", cid)
    assert "frozen 0" in read(cid, "cgroup.events")
    assert docker.ok("exec", cid, "echo", "thawed") == "thawed\n"


def test_an_oom_kill_is_read_from_memory_events(docker):
    # A name of its own per run: the previous parameter's container, also OOM-killed, may fall in the
    # window `--since` opens a second early.
    name = f"v2oom-{time.time_ns()}"
    since = str(int(time.time()) - 1)
    docker.docker("run", "--name", name, "-m", "16m", "--memory-swap", "16m", "busybox",
                  "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived", timeout=120)
    assert inspect(docker, name, "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"
    until = str(int(time.time()) + 1)
    events = docker.ok("events", "--since", since, "--until", until, "--filter", f"container={name}",
                       "--format", "{{.TimeNano}} {{.Action}} {{.Actor.ID}}", timeout=30)
    assert [line.split()[1] for line in events.splitlines()].count("oom") == 1, events


def test_stats_come_from_v2_files(docker, daemon):
    cid = docker.ok("run", "-d", "-m", "64m", "busybox", "sh", "-c", "head -c 8000000 /dev/zero > /dev/shm/fill; sleep 300").strip()
    assert wait_for(lambda: int(read(cid, "memory.current")) > 8_000_000)
    status, _, body = api(daemon, "GET", f"/containers/{cid}/stats?stream=false")
    assert status == 200
    stats = json.loads(body)
    memory = stats["memory_stats"]
    assert memory["limit"] == 64 << 20
    current = int(read(cid, "memory.current"))
    assert abs(memory["usage"] - current) < 1 << 20  # the same file, read a moment apart
    assert "inactive_file" in memory["stats"] and "anon" in memory["stats"]  # v2's memory.stat keys, as dockerd passes them
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0 and stats["pids_stats"]["current"] >= 1
    # The docker CLI shows usage minus inactive_file: the 8 MB in /dev/shm is shmem, never inactive_file.
    line = docker.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", cid)
    used, limit = line.split(" / ")
    assert limit.strip() == "64MiB" and used.endswith("MiB") and 7.5 < float(used[:-3]) < 64, line


def test_cgroup_namespace_modes(docker):
    cid = docker.ok("run", "-d", "--cgroupns", "host", "busybox", "sleep", "300").strip()
    assert docker.ok("exec", cid, "cat", "/proc/self/cgroup").strip() == f"0::/berth/{cid}"
    assert docker.ok("run", "--rm", "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup").strip() == "0::/"


def test_a_privileged_container_delegates_its_own_subtree(docker):
    # What systemd in a container does: leave the root group for a leaf, then enable controllers for
    # its children. Unprivileged, the cgroup file system is read-only, as under dockerd.
    script = ("mkdir /sys/fs/cgroup/init && echo $$ > /sys/fs/cgroup/init/cgroup.procs && "
              "echo '+memory +pids' > /sys/fs/cgroup/cgroup.subtree_control && mkdir /sys/fs/cgroup/leaf && "
              "echo 7 > /sys/fs/cgroup/leaf/pids.max && cat /sys/fs/cgroup/leaf/cgroup.controllers /sys/fs/cgroup/leaf/pids.max")
    out = docker.ok("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    assert out.split() == ["memory", "pids", "7"]
    denied = docker.docker("run", "--rm", "busybox", "mkdir", "/sys/fs/cgroup/x")
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
