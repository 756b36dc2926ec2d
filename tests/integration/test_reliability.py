"""Nothing lost, nothing left: many containers at once, and a daemon killed at random points."""
import concurrent.futures
import glob
import os
import json
import random
import re
import subprocess
import time

from conftest import BERTH, DOCKER, REPO, TIMEOUT, Daemon, chain_prefix, container_cgroups
from registry_support import Registry


def leftovers(daemon, ids):
    """Whatever of these containers is still on the host: cgroups, mounts, shims, links, pins."""
    found = []
    for cid in ids:
        found += container_cgroups(cid)
        found += [line.split()[4] for line in open("/proc/self/mountinfo") if cid in line]
        found += glob.glob(os.path.join(daemon.data, "containers", cid)) + glob.glob(os.path.join(daemon.exec_root, "containers", cid))
    shims = subprocess.run(["pgrep", "-f", "berth-shim " + daemon.exec_root], capture_output=True, text=True, timeout=30).stdout.split()
    running = set(daemon.docker("ps", "-q", "--no-trunc").stdout.split())
    if not running:
        found += [f"shim {pid}" for pid in shims]
        found += [f"veth {link}" for link in subprocess.run(["ip", "-o", "link", "show", "master", daemon.bridge], capture_output=True,
                                                                text=True, timeout=30).stdout.splitlines()]
        found += [f"netns {n}" for n in os.listdir(os.path.join(daemon.exec_root, "netns"))] if os.path.isdir(os.path.join(daemon.exec_root, "netns")) else []
    return found


def test_100_concurrent_runs_succeed_and_leave_nothing(daemon, tmp_path):
    def run(i):
        cidfile = tmp_path / f"cid{i}"
        r = daemon.docker("run", "--rm", "--cidfile", str(cidfile), "busybox", "sh", "-c", f"echo run-{i}; hostname -i", timeout=240)
        return i, r, cidfile.read_text() if cidfile.exists() else None

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(run, range(100)))
    failed = [(i, r.returncode, r.stderr) for i, r, _ in results if r.returncode != 0 or not r.stdout.startswith(f"run-{i}\n")]
    assert not failed, failed[:5]
    # each on the default bridge with an address of its own
    addresses = [r.stdout.split("\n")[1].strip() for _, r, _ in results]
    assert len(set(addresses)) == 100, addresses
    ids = [cid for _, _, cid in results]
    assert all(ids)
    assert not set(ids) & set(daemon.docker("ps", "-aq", "--no-trunc").stdout.split())
    assert leftovers(daemon, ids) == []


def dnat_rules(daemon):
    """The daemon's port-publishing rules now in the nat table."""
    prefix = chain_prefix(daemon.exec_root)
    rules = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, timeout=30).stdout.splitlines()
    return [r for r in rules if r.startswith("-A " + prefix) and "DNAT" in r]


def published(daemon):
    """Port bindings of the running containers."""
    return daemon.docker("ps", "--format", "{{.Ports}}").stdout.count("->")


def check(daemon):
    """`berth system check` against the daemon: (exit status, output)."""
    r = subprocess.run([BERTH, "system", "check"], capture_output=True, text=True, timeout=120, env=daemon.env())
    return r.returncode, r.stdout + r.stderr


# The request that does each operation's work, as berthd's debug log names it on arrival.
REQUESTS = {
    "pull": r"POST /v[\d.]+/images/create", "run": r"POST /v[\d.]+/containers/create",
    "run_detached": r"POST /v[\d.]+/containers/create", "commit": r"POST /v[\d.]+/commit", "build": r"POST /v[\d.]+/build",
    "rm": r"DELETE /v[\d.]+/containers/", "prune": r"POST /v[\d.]+/(containers|images|networks|volumes|build)/prune",
    "load": r"POST /v[\d.]+/images/load",
}


def request_arrived(daemon, since, name):
    """Whether berthd logged the arrival of `name`'s request after byte `since` of its log."""
    with open(daemon.log) as f:
        f.seek(since)
        return re.search(r'msg="Calling ' + REQUESTS[name], f.read()) is not None


class Operations:
    """The operations a kill interrupts; each sets up what it needs, then returns the command."""

    def __init__(self, daemon, registry, workdir):
        self.d, self.registry, self.workdir = daemon, registry, workdir
        self.n = 0

    def pull(self):
        self.d.docker("rmi", "-f", f"{self.registry.host}/crash:latest")
        self.d.docker("image", "prune", "-af")
        return ["pull", f"{self.registry.host}/crash:latest"]

    def run(self):
        return ["run", "--rm", "busybox", "sh", "-c", "echo hi > /f; sleep 0.1"]

    def run_detached(self):
        self.n += 1
        return ["run", "-d", "--name", f"crash-d{self.n}", "-p", "127.0.0.1::80", "-v", f"crashvol{self.n}:/data", "busybox", "sleep", "1000"]

    def commit(self):
        self.n += 1
        self.d.ok("run", "--name", f"crash-c{self.n}", "busybox", "sh", "-c", "dd if=/dev/zero of=/blob bs=1M count=8 2>/dev/null")
        return ["commit", f"crash-c{self.n}", f"crash-commit:{self.n}"]

    def build(self):
        self.n += 1
        ctx = os.path.join(self.workdir, f"ctx{self.n}")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM busybox\nRUN echo {self.n} > /n && dd if=/dev/zero of=/z bs=1M count=4 2>/dev/null\nCOPY . /ctx\nRUN ls /ctx\n")
        return ["build", "-t", f"crash-build:{self.n}", ctx]

    def rm(self):
        self.n += 1
        self.d.ok("create", "--name", f"crash-r{self.n}", "busybox", "true")
        return ["rm", f"crash-r{self.n}"]

    def prune(self):
        self.d.docker("rm", "-f", *self.d.docker("ps", "-aq", "--filter", "name=crash-").stdout.split())
        return ["system", "prune", "-af"]

    def load(self):
        self.d.docker("rmi", "-f", "crash-load:1")
        return ["load", "-i", os.path.join(self.workdir, "saved.tar")]


def test_kill9_at_random_points_loses_and_leaks_nothing(rootfs_template, tmp_path):
    rng = random.Random()
    d = Daemon(extra_args=["--log-level", "debug"])  # each request's arrival is logged
    registry = None
    kills = 0
    # a kill interrupted an operation when its request had reached berthd and its client had not
    # yet finished; the others (too early, too late) still check the store but are not counted
    interrupted = {}
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, check=True, timeout=60)
        d.ok("tag", "busybox", "crash-load:1")
        d.ok("save", "-o", str(tmp_path / "saved.tar"), "crash-load:1")
        registry = Registry()
        registry.seed(str(tmp_path / "saved.tar"), "crash")
        d.ok("run", "-d", "--name", "witness", "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
        pid = d.ok("inspect", "-f", "{{.State.Pid}}", "witness").strip()
        per_binding = len(dnat_rules(d))  # the witness's one binding
        assert per_binding > 0
        ops = Operations(d, registry, str(tmp_path))
        names = ["pull", "run", "run_detached", "commit", "build", "rm", "prune", "load"]
        seen_ids = set()
        for round_ in range(int(os.environ.get("BERTH_CRASH_ROUNDS", "4"))):
            for name in rng.sample(names, len(names)):
                args = getattr(ops, name)()
                before = set(d.docker("ps", "-aq", "--no-trunc").stdout.split())
                log_size = os.path.getsize(d.log)
                client = subprocess.Popen([DOCKER, *args], env=d.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if rng.random() < 0.75:
                    # most kills aim inside the operation: just after its request reached berthd
                    deadline = time.monotonic() + 20
                    while not request_arrived(d, log_size, name) and client.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0.0, 0.05))
                else:
                    time.sleep(rng.uniform(0.0, 0.5))  # the rest anywhere, the client's start included
                finished = client.poll() is not None
                d.kill9()
                kills += 1
                if not finished and request_arrived(d, log_size, name):
                    interrupted[name] = interrupted.get(name, 0) + 1
                client.wait(timeout=60)
                d.start()
                rc, out = check(d)
                assert rc == 0, f"after a kill during {name} ({' '.join(args)}):\n{out}\nberthd's log:\n" + open(d.log).read()[-4000:]
                # the witness was never disturbed, and still serves
                assert d.ok("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "witness").strip() == f"true {pid}"
                assert d.ok("exec", "witness", "true") == ""
                # netfilter holds the running containers' ports, no more, no fewer
                assert len(dnat_rules(d)) == per_binding * published(d), (name, dnat_rules(d))
                after = d.docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}").stdout.split("\n")
                ids = [line.split()[0] for line in after if line]
                assert len(ids) == len(set(ids)) and len(set(line.split()[1] for line in after if line)) == len(ids)
                lost = before - set(ids)
                assert not lost or name in ("rm", "prune"), f"{name} lost {lost}"
                seen_ids |= set(ids) | before
        d.docker("rm", "-f", *d.docker("ps", "-aq").stdout.split(), timeout=120)
        d.ok("system", "prune", "-af", "--volumes")
        rc, out = check(d)
        assert rc == 0, out
        assert leftovers(d, seen_ids) == []
        assert dnat_rules(d) == []
        mid = sum(interrupted.values())
        print(f"\n{kills} kills of berthd injected, {mid} in the middle of an operation ({interrupted}); store consistent after each")
        assert mid > 0, "no kill landed while an operation was under way"
        os.makedirs(os.path.join(REPO, "tests", "results"), exist_ok=True)
        with open(os.path.join(REPO, "tests", "results", "kills.json"), "w") as f:
            json.dump({"kills": kills, "mid_operation": mid, "mid_operation_by_operation": interrupted}, f, indent=1, sort_keys=True)
    finally:
        d.stop()
        if registry:
            registry.stop()
