"""A full disk: berthd's data root on a small tmpfs, filled up to a few kilobytes before pull, load,
build and run. Each must fail with the kernel's reason in its message and leave the store
consistent (`berth system check`); once the filler is gone, the very same command succeeds without
any repair."""
import os
import subprocess
import time

import pytest

from conftest import BERTH, DOCKER, TIMEOUT, Daemon
from registry_support import REGISTRY, Registry

DATA_ROOT_SIZE = 48 << 20
NO_SPACE = "no space left on device"


class FullDisk:
    """Fills the data root's filesystem with a file of its own, leaving `free` bytes."""

    def __init__(self, daemon):
        self.path = os.path.join(daemon.data, "filler")
        self.data = daemon.data

    def fill(self, free=0):
        self.empty()
        st = os.statvfs(self.data)
        size = st.f_bavail * st.f_frsize - free
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, max(size, 4096))
        finally:
            os.close(fd)

    def empty(self):
        if os.path.exists(self.path):
            os.unlink(self.path)


@pytest.fixture(scope="module")
def small(rootfs_template, tmp_path_factory):
    """A daemon whose data root is a 48 MiB tmpfs, with busybox imported, and a saved image with a
    6 MiB layer that cannot fit in what the filler leaves."""
    d = Daemon()
    os.makedirs(d.data)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DATA_ROOT_SIZE}", "berth-full-disk", d.data], check=True, timeout=TIMEOUT)
    disk = FullDisk(d)
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, check=True, timeout=60)
        d.ok("run", "--name", "mkbig", "busybox", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=6")
        d.ok("commit", "mkbig", "big:1")
        d.ok("rm", "mkbig")
        saved = str(tmp_path_factory.mktemp("full-disk") / "big.tar")
        d.ok("save", "-o", saved, "big:1")
        d.ok("rmi", "big:1")
        d.disk, d.saved = disk, saved
        yield d
    finally:
        disk.empty()
        d.stop()


def consistent(daemon):
    r = subprocess.run([BERTH, "system", "check"], capture_output=True, text=True, timeout=120, env=daemon.env())
    assert r.returncode == 0, r.stdout + r.stderr


def fails_for_space(daemon, *args):
    r = daemon.docker(*args, timeout=120)
    assert r.returncode != 0, f"docker {' '.join(args)} succeeded on a full disk"
    assert NO_SPACE in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert daemon.proc.poll() is None, "berthd died"
    return r


def test_load_on_a_full_disk_then_again(small):
    small.disk.fill(free=512 << 10)
    fails_for_space(small, "load", "-i", small.saved)
    assert small.docker("image", "inspect", "big:1").returncode != 0  # nothing half-loaded
    consistent(small)
    small.disk.empty()
    assert "Loaded image: big:1" in small.ok("load", "-i", small.saved)
    assert small.ok("run", "--rm", "big:1", "sh", "-c", "wc -c < /big").strip() == str(6 << 20)
    small.ok("rmi", "big:1")


def test_pull_on_a_full_disk_then_again(small):
    assert REGISTRY, "docker-registry is needed (make deps installs it)"
    registry = Registry()
    try:
        registry.seed(small.saved, "full/big:1")
        ref = f"{registry.host}/full/big:1"
        small.disk.fill(free=512 << 10)
        fails_for_space(small, "pull", ref)
        assert small.docker("image", "inspect", ref).returncode != 0
        consistent(small)
        small.disk.empty()
        small.ok("pull", ref)
        assert small.ok("run", "--rm", ref, "sh", "-c", "wc -c < /big").strip() == str(6 << 20)
        small.ok("rmi", ref)
    finally:
        small.disk.empty()
        registry.stop()


def test_build_on_a_full_disk_then_again(small, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN dd if=/dev/zero of=/z bs=1M count=4\nCOPY . /ctx\n")
    env = dict(small.env(), DOCKER_BUILDKIT="0")
    small.disk.fill(free=512 << 10)
    r = subprocess.run([DOCKER, "build", "-t", "full-build:1", str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0 and NO_SPACE in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert small.docker("image", "inspect", "full-build:1").returncode != 0
    consistent(small)
    small.disk.empty()
    r = subprocess.run([DOCKER, "build", "-t", "full-build:1", str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert small.ok("run", "--rm", "full-build:1", "sh", "-c", "wc -c < /z").strip() == str(4 << 20)
    small.ok("rmi", "full-build:1")
    small.ok("builder", "prune", "-af")


def test_run_on_a_full_disk_then_again(small):
    small.disk.fill(free=0)
    fails_for_space(small, "run", "--name", "full-run", "busybox", "echo", "ran")
    assert small.docker("inspect", "full-run").returncode != 0, "a container that could not be made is listed"
    consistent(small)
    small.disk.empty()
    assert small.ok("run", "--name", "full-run", "busybox", "echo", "ran") == "ran\n"
    small.ok("rm", "full-run")


def test_a_running_container_outlives_a_full_disk(small):
    """Its log cannot be written while the disk is full: the container and its shim carry on,
    and logging resumes once there is room."""
    small.ok("run", "-d", "--name", "chatty", "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done")
    try:
        time.sleep(0.5)
        small.disk.fill(free=0)
        time.sleep(1)
        small.disk.empty()
        time.sleep(0.5)
        assert small.ok("inspect", "-f", "{{.State.Running}}", "chatty").strip() == "true"
        before = small.ok("logs", "chatty").splitlines()
        time.sleep(0.5)
        after = small.ok("logs", "chatty").splitlines()
        assert len(after) > len(before) > 0
        assert small.ok("exec", "chatty", "echo", "alive") == "alive\n"
    finally:
        small.docker("rm", "-f", "chatty")
    consistent(small)


def test_an_upload_cut_by_a_full_spool_is_refused_whole(small, tmp_path):
    """Uploads (import, load, build contexts, cp) are spooled to the data root's tmp before their
    route reads them. With only the spool full, the rest of the disk having room, an import must
    fail with the kernel's reason and make nothing: a spool that dropped the bytes it could not
    write handed the route a shorter tar, and import took it."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "big").write_bytes(os.urandom(3 << 20))
    (rootfs / "small").write_text("kept\n")
    tar = str(tmp_path / "layer.tar")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", tar, "small", "big"], check=True, timeout=TIMEOUT)
    spool = os.path.join(small.data, "tmp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "berth-full-spool", spool], check=True, timeout=TIMEOUT)
    try:
        before = small.ok("images", "-q", "--no-trunc").split()
        r = small.docker("import", tar, "spooled:1", timeout=120)
        assert r.returncode != 0, "an import whose upload could not be stored succeeded"
        assert NO_SPACE in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
        assert small.proc.poll() is None, "berthd died"
        assert small.ok("images", "-q", "--no-trunc").split() == before, "an image was made from part of the upload"
        assert os.listdir(spool) == [], "the cut upload was left in the spool"
    finally:
        subprocess.run(["umount", spool], timeout=TIMEOUT)
    consistent(small)
    small.ok("import", tar, "spooled:1")
    assert int(small.ok("image", "inspect", "-f", "{{.Size}}", "spooled:1")) >= 3 << 20
    small.ok("rmi", "spooled:1")
