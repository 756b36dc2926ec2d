"""Fixtures for root integration tests against the real kernel and the real berth-runtime binary.

Every test gets its own state root and bundle; teardown force-deletes whatever the test left
(containers, cgroups, state) even when the test failed, and every subprocess call is bounded.
"""
import glob
import http.client
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BERTH_BIN", os.path.join(REPO, ".build", "debug"))
RUNTIME = os.path.join(BIN, "berth-runtime")
# Bounds, not measurements: a command that takes longer is hung. An emulated guest (the cgroup v2
# VM) runs everything several times slower and scales them.
TIMEOUT = 30 * int(os.environ.get("BERTH_TIMEOUT_SCALE", "1"))


# The cgroup v2 tests run where the unified hierarchy is the host's: in the VM of test_cgroup_v2_vm.py.
collect_ignore = [] if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else ["v2"]


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root")
        for item in items:
            item.add_marker(skip)


# The CRI specs run on containerd and on berthd: their outcomes per runtime go to
# tests/results/cri.json, the figures the README's compatibility table quotes.
CRI_OUTCOMES = {}


def pytest_runtest_logreport(report):
    if "test_cri.py::" not in report.nodeid or "[" not in report.nodeid:
        return
    runtime = report.nodeid.rsplit("[", 1)[1].rstrip("]")
    name = report.nodeid.split("::", 1)[1].split("[", 1)[0]
    if report.when == "call" or report.outcome != "passed":
        outcome = "skipped" if report.skipped else report.outcome
        CRI_OUTCOMES.setdefault(runtime, {})[name] = outcome


def pytest_sessionfinish(session):
    # a run of chosen tests (-k, -m) would overwrite the whole suite's figures with a few
    if not CRI_OUTCOMES or session.config.getoption("keyword") or session.config.getoption("markexpr"):
        return
    results = os.path.join(REPO, "tests", "results")
    os.makedirs(results, exist_ok=True)
    counts = {rt: {o: sum(1 for v in tests.values() if v == o) for o in ("passed", "failed", "skipped")} for rt, tests in CRI_OUTCOMES.items()}
    with open(os.path.join(results, "cri.json"), "w") as f:
        json.dump({"counts": counts, "tests": CRI_OUTCOMES}, f, indent=1, sort_keys=True)


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


def stop_process(proc, grace=20):
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def run_captured(argv, cwd=None, input=None, timeout=TIMEOUT, check=False, stdin=None, env=None):
    """subprocess.run with stdout/stderr captured through temporary files (see Bundle.cmd)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        if input is not None:
            stdin = subprocess.PIPE
        with subprocess.Popen(argv, cwd=cwd, stdin=stdin or subprocess.DEVNULL, stdout=out, stderr=err, text=True, env=env) as p:
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


# ---------------------------------------------------------------------------------------------
# berthd: a daemon per test session on private roots, driven by the official docker CLI and the
# Python docker SDK exactly as a user would (DOCKER_HOST pointing at its socket).

BERTHD = os.path.join(BIN, "berthd")
BERTH = os.path.join(BIN, "berth")
DOCKER = shutil.which("docker")


def container_cgroups(cid):
    """A container's cgroup directories, in every v1 hierarchy and on v2."""
    return glob.glob(f"/sys/fs/cgroup/*/berth/{cid}") + glob.glob(f"/sys/fs/cgroup/unified/berth/{cid}")


def remove_cgroup(d):
    """Kills what is left in one cgroup directory and removes it (retried while it empties)."""
    try:
        for pid in open(os.path.join(d, "cgroup.procs")).read().split():
            os.kill(int(pid), 9)
    except OSError:
        pass
    for _ in range(100):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


def remove_cgroups(cid):
    """Kills what is left in a container's cgroups and removes them."""
    for d in container_cgroups(cid):
        remove_cgroup(d)


def remove_empty_berth_cgroups():
    """Containers leave their `/berth` parent behind, as runc and dockerd leave theirs; what the
    tests and benchmarks leave empty is removed (rmdir refuses one a container still uses, and a
    berthd makes it again for its next container)."""
    parents = glob.glob("/sys/fs/cgroup/*/berth")
    if os.path.exists("/sys/fs/cgroup/berth/cgroup.procs"):
        parents.append("/sys/fs/cgroup/berth")
    for d in parents:
        try:
            os.rmdir(d)
        except OSError:
            pass


@pytest.fixture(scope="session", autouse=True)
def berth_cgroup_parents():
    yield
    remove_empty_berth_cgroups()


def remove_cgroup_parent(parent):
    """Removes a `--cgroup-parent` tree (v1 hierarchies and v2), deepest first, killing what is left."""
    roots = glob.glob(f"/sys/fs/cgroup/*{parent}") + ([f"/sys/fs/cgroup{parent}"] if os.path.exists(f"/sys/fs/cgroup{parent}/cgroup.procs") else [])
    for root in roots:
        for d, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
            remove_cgroup(d)


def chain_prefix(exec_root):
    """berthd's netfilter chain prefix for an exec root (FNV-1a, as Netfilter.prefix)."""
    h = 2166136261
    for b in exec_root.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return "BERTH-" + format(h, "x")[-6:]


def remove_chains(prefix):
    """Deletes the jumps to a daemon's chains and the chains themselves (IPv4 and IPv6)."""
    for tool in ("iptables", "ip6tables"):
        for table in ("nat", "filter"):
            rules = subprocess.run([tool, "-t", table, "-S"], capture_output=True, text=True, timeout=TIMEOUT).stdout.splitlines()
            for rule in rules:
                parts = rule.split()
                if parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1].startswith(prefix) and not parts[1].startswith(prefix):
                    subprocess.run([tool, "-t", table, "-D", *parts[1:]], timeout=TIMEOUT)
            for rule in rules:
                parts = rule.split()
                if parts[:1] == ["-N"] and parts[1].startswith(prefix):
                    subprocess.run([tool, "-t", table, "-F", parts[1]], timeout=TIMEOUT)
                    subprocess.run([tool, "-t", table, "-X", parts[1]], timeout=TIMEOUT)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(self.path)


def tar_of(files):
    """An uncompressed tar of {name: bytes} (a build context, a layer, an upload)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def api(daemon, method, path, body=None, headers=None):
    """One raw Engine API request on the daemon's socket: (status, headers, body)."""
    conn = UnixHTTP(daemon.socket)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class Daemon:
    def __init__(self, extra_args=()):
        # A bridge and netfilter chains of its own: never the host's berth0/BERTH, never another
        # test daemon's.
        self.bridge = "bt" + uuid.uuid4().hex[:8]
        self.extra_args = ["--bridge", self.bridge, *extra_args]
        self.base = tempfile.mkdtemp(prefix="berth-engine-", dir="/var/tmp")
        self.data = os.path.join(self.base, "data")
        self.exec_root = tempfile.mkdtemp(prefix="berth-exec-", dir="/run")
        os.chmod(self.exec_root, 0o711)
        os.chmod(self.base, 0o711)
        self.socket = os.path.join(self.exec_root, "berth.sock")
        self.host = "unix://" + self.socket
        self.log = os.path.join(self.base, "berthd.log")
        self.proc = None
        self.binary = DOCKER  # the client under test: docker's CLI or ours

    def start(self):
        config = os.path.join(self.base, "daemon.json")  # empty: never the host's /etc/berth/daemon.json
        if not os.path.exists(config):
            with open(config, "w") as f:
                f.write("{}\n")
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([BERTHD, "--data-root", self.data, "--exec-root", self.exec_root, "-H", self.host,
                                          "--config-file", config, *self.extra_args],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("berthd exited: " + open(self.log).read()[-2000:])
            if self.docker("version", "--format", "{{.Server.Version}}", timeout=5).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("berthd did not come up: " + open(self.log).read()[-2000:])

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def env(self):
        return dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=os.path.join(self.base, "cli"))

    def docker(self, *args, input=None, timeout=60, check=False):
        return run_captured([self.binary, *args], input=input, timeout=timeout, check=check, env=self.env())

    def ok(self, *args, **kw):
        r = self.docker(*args, **kw)
        assert r.returncode == 0, f"docker {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def stop(self):
        """Removes every container, stops the daemon, and sweeps shims, mounts and cgroups."""
        records = os.path.join(self.data, "containers")
        known = [name.removeprefix("removing-") for name in os.listdir(records)] if os.path.isdir(records) else []
        if self.proc and self.proc.poll() is not None:  # it died on its own: say how, before its log is gone
            text = open(self.log, errors="replace").read()
            # a Swift trap's report: its message, then the thread that crashed
            heads = [m.start() for m in re.finditer(r"Fatal error|\*\*\* .*crashed|Thread \d+ (\"[^\"]*\" )?crashed:", text)]
            print(f"berthd exited by itself ({self.proc.returncode}); its log:\n"
                  + ("\n...\n".join(text[h:h + 3000] for h in heads[:3]) if heads else text[-4000:]))
        if self.proc and self.proc.poll() is None:
            ids = self.docker("ps", "-aq", timeout=20).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, timeout=60)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        subprocess.run(["pkill", "-9", "-f", "berth-shim " + self.exec_root], timeout=TIMEOUT)
        for root in (self.exec_root, self.base):
            mounts = [line.split()[4] for line in open("/proc/self/mountinfo") if line.split()[4].startswith(root)]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], timeout=TIMEOUT)
        for cid in known:
            remove_cgroups(cid)
        remove_empty_berth_cgroups()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=TIMEOUT)
        remove_chains(chain_prefix(self.exec_root))
        shutil.rmtree(self.exec_root, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon(rootfs_template):
    if DOCKER is None:
        pytest.fail("the docker CLI is not installed (make deps installs it)")
    d = Daemon()
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        p = subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=d.env(),
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        yield d
    finally:
        d.stop()


@pytest.fixture(params=["docker", "berth"])
def docker(daemon, request):
    """The daemon driven by the official docker CLI, then by `berth`, with every container a test
    made removed afterwards."""
    daemon.binary = DOCKER if request.param == "docker" else BERTH
    before = set(daemon.docker("ps", "-aq", "--no-trunc").stdout.split())
    try:
        yield daemon
    finally:
        after = set(daemon.docker("ps", "-aq", "--no-trunc").stdout.split())
        if after - before:
            daemon.docker("rm", "-f", *(after - before))
        daemon.binary = DOCKER
