"""Fixtures for root integration tests against the real kernel and the real berth-runtime binary.

Every test gets its own state root and bundle; teardown force-deletes whatever the test left
(containers, cgroups, state) even when the test failed, and every subprocess call is bounded.
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BERTH_BIN", os.path.join(REPO, ".build", "debug"))
RUNTIME = os.path.join(BIN, "berth-runtime")
TIMEOUT = 30


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def rootfs_template():
    """A busybox rootfs made from Debian's busybox-static, shared read-only by the session."""
    d = tempfile.mkdtemp(prefix="berth-rootfs-")
    os.chmod(d, 0o755)  # mkdtemp's 0700 would lock out non-root and user-namespaced processes
    subprocess.run([os.path.join(REPO, "scripts", "make-rootfs.sh"), d], check=True, timeout=TIMEOUT)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Bundle:
    """A bundle directory plus the runtime state root used to run it."""

    def __init__(self, path, root, rootfs, runtime=RUNTIME):
        self.path = path
        self.root = root
        self.runtime = runtime
        self.ids = []
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)
        self.config["root"]["path"] = rootfs
        self.config["process"]["terminal"] = False

    def new_id(self, prefix="t"):
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def write(self, config=None):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(config or self.config, f, indent=1)

    def set_args(self, *args):
        self.config["process"]["args"] = list(args)

    def cmd(self, *args, input=None, timeout=TIMEOUT, check=False, binary=None, stdin=None):
        """Runs the runtime; output goes through files, not pipes, because a detached container
        inherits stdio and would hold a pipe open long after the runtime itself has exited."""
        argv = [binary or self.runtime, "--root", self.root, *args]
        return run_captured(argv, cwd=self.path, input=input, timeout=timeout, check=check, stdin=stdin)

    def run(self, *args, **kw):
        """Runs the configured process to completion; returns the CompletedProcess."""
        self.write()
        return self.cmd("run", self.new_id(), stdin=subprocess.DEVNULL, **kw)

    def start_detached(self, *args):
        """create + start a long-running container; returns its id."""
        self.set_args(*args)
        self.write()
        cid = self.new_id()
        r = self.cmd("create", cid, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        r = self.cmd("start", cid)
        assert r.returncode == 0, r.stderr
        return cid

    def state(self, cid):
        r = self.cmd("state", cid)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def cleanup(self):
        for cid in self.ids:
            self.cmd("delete", "--force", cid)


def run_captured(argv, cwd=None, input=None, timeout=TIMEOUT, check=False, stdin=None):
    """subprocess.run with stdout/stderr captured through temporary files (see Bundle.cmd)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        if input is not None:
            stdin = subprocess.PIPE
        with subprocess.Popen(argv, cwd=cwd, stdin=stdin, stdout=out, stderr=err, text=True) as p:
            try:
                p.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise
        out.seek(0)
        err.seek(0)
        r = subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())
    if check:
        r.check_returncode()
    return r


def default_config(runtime=RUNTIME):
    d = tempfile.mkdtemp(prefix="berth-spec-")
    subprocess.run([runtime, "spec", "--bundle", d], check=True, timeout=TIMEOUT)
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    shutil.rmtree(d)
    return config


@pytest.fixture
def bundle(rootfs_template):
    path = tempfile.mkdtemp(prefix="berth-bundle-")
    root = tempfile.mkdtemp(prefix="berth-state-", dir="/run")
    os.chmod(root, 0o711)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(default_config(), f)
    b = Bundle(path, root, rootfs_template)
    try:
        yield b
    finally:
        b.cleanup()
        for cid in b.ids:
            leftovers = [c for c in os.listdir("/sys/fs/cgroup") if os.path.isdir(f"/sys/fs/cgroup/{c}/berth/{cid}")]
            for c in leftovers:  # report, then remove, so one failure does not poison the next tests
                subprocess.run(["rmdir", f"/sys/fs/cgroup/{c}/berth/{cid}"], timeout=TIMEOUT)
            assert not leftovers, f"cgroups left behind for {cid}: {leftovers}"
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def writable_rootfs(rootfs_template):
    """A private copy of the rootfs for tests that write into it."""
    d = tempfile.mkdtemp(prefix="berth-rwroot-")
    os.chmod(d, 0o755)
    subprocess.run(["cp", "-a", rootfs_template + "/.", d], check=True, timeout=TIMEOUT)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cgroup_v1():
    return os.path.isdir("/sys/fs/cgroup/memory")


def peer(name):
    """Path of a peer runtime (runc, crun) or None."""
    return shutil.which(name)
