"""Kubernetes pods on cgroup v2, through berthd's CRI as the kubelet drives it (cgroupfs driver):
the pod-level cgroup under the kubelet's parent, each container's limits in v2's files (and its
own cgroup namespace seeing them as its root), UpdateContainerResources rewriting them, stats
read from v2's files, two pods reaching each other over the CNI bridge, and nothing left under
the parent once the pods are gone. Collected only on a cgroup v2 host: the qemu guest of
test_cgroup_v2_vm.py runs it."""
import os
import subprocess
import uuid

import pytest

from conftest import TIMEOUT, Daemon, remove_cgroup_parent
from cri_support import CRI, CNINetwork, remove_shared_chains, shared_chains_present
from test_cri import SLEEPER, container_config, namespace_path, nsenter, pod_config

ROOT = "/sys/fs/cgroup"


@pytest.fixture(scope="module")
def cri(rootfs_template):
    """berthd alone (containerd is measured on v1), its pod network on a CNI bridge of its own,
    and busybox imported through the Engine API: CRI and Engine share one image store."""
    before = shared_chains_present()
    with CNINetwork("berthv2", "10.231.9.0/24") as network:
        engine = Daemon(extra_args=["--cni-conf-dir", network.conf_dir])
        engine.start()
        client = CRI("berth", os.path.join(engine.exec_root, "cri.sock"))
        try:
            tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
            imported = subprocess.run([engine.binary, "import", "-", "busybox:latest"], input=tar, env=engine.env(),
                                      capture_output=True, timeout=120)
            assert imported.returncode == 0, imported.stderr
            client.wait_ready()
            yield client
        finally:
            client.close()
            engine.stop()
    remove_shared_chains(keep=before)


def read(path, name):
    with open(os.path.join(ROOT + path, name)) as f:
        return f.read().strip()


def test_pods_on_cgroup_v2(cri):
    pb = cri.pb
    parent = f"/berth-test-kubepods/burstable/pod{uuid.uuid4().hex[:12]}"
    resources = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_quota=50000, cpu_period=100000, cpu_shares=512)
    pods, containers = [], []
    try:
        for name in ("v2a", "v2b"):
            config = pod_config(pb, name, cgroup_parent=parent)
            sandbox = cri("runtime", "RunPodSandbox", config=config, deadline=120).pod_sandbox_id
            pods.append(sandbox)
            cid = cri("runtime", "CreateContainer", pod_sandbox_id=sandbox, sandbox_config=config, deadline=120,
                      config=container_config(pb, "main", SLEEPER, image="busybox:latest",
                                              linux=pb.LinuxContainerConfig(resources=resources))).container_id
            cri("runtime", "StartContainer", container_id=cid, deadline=120)
            containers.append(cid)
        group = f"{parent}/{containers[0]}"
        assert (read(group, "memory.max"), read(group, "cpu.max"), read(group, "cpu.weight")) == (str(64 << 20), "50000 100000", "20")
        # The container's own cgroup namespace: its group is its root, with the same limits.
        inside = cri("runtime", "ExecSync", container_id=containers[0], cmd=["cat", "/proc/self/cgroup", "/sys/fs/cgroup/memory.max"],
                     timeout=30, deadline=60)
        assert inside.exit_code == 0 and inside.stdout.decode().split() == ["0::/", str(64 << 20)], inside
        cri("runtime", "UpdateContainerResources", container_id=containers[0], deadline=60,
            linux=pb.LinuxContainerResources(memory_limit_in_bytes=128 << 20, cpu_quota=20000, cpu_period=100000))
        assert (read(group, "memory.max"), read(group, "cpu.max")) == (str(128 << 20), "20000 100000")
        stats = cri("runtime", "ContainerStats", container_id=containers[0], deadline=60).stats
        assert stats.memory.working_set_bytes.value > 0 and stats.cpu.usage_core_nano_seconds.value > 0
        # Pod to pod over the CNI bridge.
        ip_b = cri("runtime", "PodSandboxStatus", pod_sandbox_id=pods[1]).status.network.ip
        ping = nsenter("--net=" + namespace_path(cri, pods[0], "network"), "busybox", "ping", "-c", "1", "-W", "10", ip_b)
        assert ping.returncode == 0, ping
    finally:
        for sandbox in pods:
            cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=120)
            cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=120)
    leftovers = [d for d in os.listdir(ROOT + parent)] if os.path.isdir(ROOT + parent) else []
    assert not [d for d in leftovers if d in containers], leftovers
    remove_cgroup_parent("/berth-test-kubepods")
