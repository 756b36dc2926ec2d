"""The reference engine beside berthd: Debian's dockerd 20.10 (with its own containerd) on private
roots, a private socket, its own bridge and address pools, removed with everything it made.

Peer suites run against both, so every claim of compatibility is a side-by-side count.
"""
import os
import shutil
import subprocess
import time

import pytest

from conftest import TIMEOUT, Daemon, remove_chains, run_captured

DOCKER = shutil.which("docker")
DOCKERD = shutil.which("dockerd")

# What the docker-py suite and our compose scenarios expect to find locally (nothing is pulled):
# busybox's rootfs under every name they use.
SUITE_IMAGES = ("busybox:latest", "busybox:buildroot-2014.02", "alpine:3.10", "alpine:latest", "hello-world:latest")


class Dockerd:
    """dockerd on /run/berth-peer-docker; docker0 replaced by a bridge of its own."""

    def __init__(self, name="berth-peer-docker", extra_args=()):
        self.extra_args = list(extra_args)
        self.base = f"/var/lib/{name}"
        self.exec_root = f"/run/{name}"
        self.socket = os.path.join(self.exec_root, "docker.sock")
        self.host = "unix://" + self.socket
        self.bridge = "bpd0"
        self.log = os.path.join(self.exec_root + "-log")
        self.proc = None

    def env(self):
        return dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=os.path.join(self.exec_root, "cli"))

    def docker(self, *args, input=None, timeout=60):
        return run_captured([DOCKER, *args], input=input, timeout=timeout, env=self.env())

    def start(self):
        os.makedirs(self.exec_root, exist_ok=True)
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], capture_output=True, timeout=TIMEOUT)
        subprocess.run(["ip", "addr", "add", "10.214.0.1/24", "dev", self.bridge], capture_output=True, timeout=TIMEOUT)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], capture_output=True, timeout=TIMEOUT)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [DOCKERD, "--data-root", self.base, "--exec-root", os.path.join(self.exec_root, "exec"), "-H", self.host,
                 "--pidfile", os.path.join(self.exec_root, "dockerd.pid"), "--bridge", self.bridge, "--userland-proxy=false",
                 "--default-address-pool", "base=10.215.0.0/16,size=24",
                 "--containerd-namespace", "berth-peer", "--containerd-plugins-namespace", "berth-peer-plugins", *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 120  # an emulated CPU (the cgroup v2 guest) starts dockerd slowly
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dockerd exited: " + open(self.log).read()[-2000:])
            try:
                if self.docker("version", timeout=10).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass  # the API is up but still initializing
            time.sleep(0.2)
        raise RuntimeError("dockerd did not come up: " + open(self.log).read()[-2000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            ids = self.docker("ps", "-aq").stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, timeout=120)
            for net in self.docker("network", "ls", "-q", "--filter", "type=custom").stdout.split():
                self.docker("network", "rm", net)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        subprocess.run(["pkill", "-9", "-f", "containerd --config " + self.exec_root], timeout=TIMEOUT)
        subprocess.run(["pkill", "-9", "-f", "containerd-shim-runc-v2 -namespace berth-peer"], timeout=TIMEOUT)
        for root in (self.exec_root, self.base):
            mounts = [line.split()[4] for line in open("/proc/self/mountinfo") if line.split()[4].startswith(root)]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], timeout=TIMEOUT)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=TIMEOUT)
        for line in subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True, timeout=TIMEOUT).stdout.splitlines():
            name = line.split(":")[1].strip()
            if name.startswith("br-"):  # user networks dockerd left (their subnets are in 10.215/16)
                addrs = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", name], capture_output=True, text=True, timeout=TIMEOUT).stdout
                if "10.215." in addrs or not addrs.strip():
                    subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=TIMEOUT)
        remove_chains("DOCKER")
        shutil.rmtree(self.exec_root, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)
        if os.path.exists(self.log):
            os.unlink(self.log)


def seed_images(engine_env, rootfs, names=SUITE_IMAGES):
    """Imports busybox's rootfs once and tags it with every name a peer suite expects."""
    tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
    first, *rest = names
    p = subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", first], input=tar, env=engine_env, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for name in rest:
        p = subprocess.run([DOCKER, "tag", first, name], env=engine_env, capture_output=True, timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr


@pytest.fixture(scope="module")
def engines(rootfs_template):
    """dockerd and berthd side by side for one test module, each with busybox."""
    if not DOCKERD:
        pytest.fail("dockerd (Debian's docker.io) is needed as the reference engine")
    started = []
    try:
        for engine in (Dockerd(), Daemon()):
            started.append(engine)
            engine.start()
            seed_images(engine.env(), rootfs_template, ("busybox:latest",))
        yield started
    finally:
        for engine in started:
            engine.stop()
