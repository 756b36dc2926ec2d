"""Operations on one container arriving at once, as clients send them (compose, scripts, a user
and a restart policy): berthd runs them one at a time per container, in arrival order, so every
one of them sees the state the previous one left. Before, two `start`s interleaved across their
awaits: both spawned a shim, and the container ended killed (exit 137) while a client had been
told it started. dockerd answers the parallel starts with one 204 and 304s."""
import collections
import json
import random
import subprocess
import threading
import time

from conftest import BERTH, DOCKER, Daemon, api

JSON = {"Content-Type": "application/json"}


def create(daemon, cmd=("sleep", "1000"), **extra):
    body = {"Image": "busybox:latest", "Cmd": list(cmd), **extra}
    status, _, out = api(daemon, "POST", "/containers/create", json.dumps(body).encode(), JSON)
    assert status == 201, out
    return json.loads(out)["Id"]


def inspect(daemon, cid):
    return json.loads(api(daemon, "GET", f"/containers/{cid}/json")[2])


def shims(cid):
    out = subprocess.run(["pgrep", "-f", f"berth-shim .*/{cid}/shim.json"], capture_output=True, text=True).stdout
    return len(out.split())


def at_once(calls):
    """Runs the calls on threads released together; returns their results in call order."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    errors = []

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as e:  # a request that hung or broke fails the test, not just its thread
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a call still running after 120 s"
    assert errors == [], errors
    return results


def test_parallel_starts_start_once(daemon):
    cid = create(daemon)
    try:
        statuses = collections.Counter(r[0] for r in at_once([lambda: api(daemon, "POST", f"/containers/{cid}/start")] * 8))
        assert statuses == {204: 1, 304: 7}, statuses
        state = inspect(daemon, cid)["State"]
        assert state["Status"] == "running" and state["Running"] and state["Pid"] > 0, state
        assert shims(cid) == 1
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_parallel_creates_of_one_name_make_one_container(daemon):
    """A name is taken in one step with its check (a registry, as dockerd's): eight creates of one
    name at once make one container and seven 409s naming it; a create that fails after taking
    its name gives the name back."""
    body = json.dumps({"Image": "busybox:latest", "Cmd": ["true"]}).encode()
    results = at_once([lambda: api(daemon, "POST", "/containers/create?name=one-name", body, JSON)] * 8)
    made = [json.loads(r[2])["Id"] for r in results if r[0] == 201]
    try:
        assert collections.Counter(r[0] for r in results) == {201: 1, 409: 7}, results
        for status, _, out in results:
            assert status == 201 or f'is already in use by container \\"{made[0]}\\"' in out.decode(), out
        failing = json.dumps({"Image": "busybox:latest", "HostConfig": {"NetworkMode": "no-such-network"}}).encode()
        assert api(daemon, "POST", "/containers/create?name=given-back", failing, JSON)[0] == 404
        status, _, out = api(daemon, "POST", "/containers/create?name=given-back", body, JSON)
        assert status == 201, out
        made.append(json.loads(out)["Id"])
    finally:
        for cid in made:
            api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_a_rename_during_start_is_kept(daemon):
    cid = create(daemon)
    try:
        results = at_once([lambda: api(daemon, "POST", f"/containers/{cid}/start"),
                           lambda: api(daemon, "POST", f"/containers/{cid}/rename?name=renamed-mid-start")])
        assert [r[0] for r in results] == [204, 204], results
        record = inspect(daemon, cid)
        assert record["Name"] == "/renamed-mid-start" and record["State"]["Running"], record["State"]
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_a_storm_of_operations_leaves_every_container_consistent(daemon):
    """Random start/stop/restart/pause/unpause/kill/update/rename from 12 threads on 3 containers:
    no 5xx, each container's state agrees with itself and with its shim, `system check` is clean."""
    rng = random.Random(18)
    ids = [create(daemon, ("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")) for _ in range(3)]
    ops = [("POST", "start"), ("POST", "stop?t=1"), ("POST", "restart?t=1"), ("POST", "pause"), ("POST", "unpause"),
           ("POST", "kill"), ("POST", "update"), ("POST", "rename")]
    failures = []
    try:
        def worker(seed):
            r = random.Random(seed)
            for n in range(15):
                cid = r.choice(ids)
                method, op = r.choice(ops)
                body = None
                if op == "update":
                    body = json.dumps({"CpuShares": r.choice([512, 1024, 2048])}).encode()
                if op == "rename":
                    op = f"rename?name=storm-{seed}-{n}"
                try:
                    status, _, out = api(daemon, method, f"/containers/{cid}/{op}", body, JSON if body else None)
                except OSError as e:
                    raise AssertionError(f"{method} {op} on {cid}: {e}") from e
                if status >= 500:
                    failures.append((op, status, out))
        at_once([lambda s=rng.randrange(1 << 30): worker(s) for _ in range(12)])
        assert failures == [], failures
        for cid in ids:
            state = inspect(daemon, cid)["State"]
            running = state["Running"]
            assert state["Status"] == ("paused" if state["Paused"] else "running" if running else state["Status"])
            assert not state["Paused"] or running
            assert shims(cid) == (1 if running else 0), (state, shims(cid))
        for cid in ids:
            api(daemon, "POST", f"/containers/{cid}/unpause")
            api(daemon, "POST", f"/containers/{cid}/stop?t=1")
        r = subprocess.run([BERTH, "system", "check"], capture_output=True, text=True, timeout=120, env=daemon.env())
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        for cid in ids:
            api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_a_rename_while_the_exit_is_recorded_is_kept(daemon):
    """docker-py's test_rename: `run -d alpine echo hello`, then rename at once. The exit's
    bookkeeping (network teardown) used to save its own copy of the record afterwards, undoing a
    rename that landed meanwhile. Renames go on without pause across the container's exit; the
    last one acknowledged must be its name."""
    lost = []
    for n in range(8):
        cid = create(daemon, ("sleep", "0.2"))
        try:
            assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
            last, k, until = None, 0, time.monotonic() + 0.6
            while time.monotonic() < until:
                k += 1
                if api(daemon, "POST", f"/containers/{cid}/rename?name=exit-rename-{n}-{k}")[0] == 204:
                    last = f"/exit-rename-{n}-{k}"
            api(daemon, "POST", f"/containers/{cid}/wait")
            if inspect(daemon, cid)["Name"] != last:
                lost.append((n, last, inspect(daemon, cid)["Name"]))
        finally:
            api(daemon, "DELETE", f"/containers/{cid}?force=1")
    assert lost == [], f"renames lost: {lost}"


def test_parallel_removals_remove_once(daemon):
    """Eight `rm -f` of one running container at once: one removes it (204); the others are told
    it is gone (404) or, while it is being removed, dockerd's "removal of container … is already
    in progress" (409); nothing is left behind."""
    for _ in range(3):
        cid = create(daemon)
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        results = at_once([lambda: api(daemon, "DELETE", f"/containers/{cid}?force=1")] * 8)
        statuses = collections.Counter(r[0] for r in results)
        assert statuses[204] == 1 and statuses[204] + statuses[404] + statuses[409] == 8, results
        for status, _, body in results:
            if status == 409:
                assert f"removal of container {cid} is already in progress" in body.decode(), body
        assert api(daemon, "GET", f"/containers/{cid}/json")[0] == 404
        assert shims(cid) == 0


def test_a_stored_removing_state_comes_back_exited(rootfs_template):
    """`removing` lives in memory only; a record a save wrote during a removal that a crash cut
    short comes back exited (its stored state before is not known), and can be removed."""
    d = Daemon()
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=60).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        cid = d.ok("create", "busybox", "true").strip()
        d.proc.terminate()
        d.proc.wait(timeout=30)
        path = f"{d.data}/containers/{cid}/config.v2.json"
        record = json.load(open(path))
        record["state"]["Status"] = "removing"
        json.dump(record, open(path, "w"))
        d.start()
        assert d.ok("inspect", "--format", "{{.State.Status}}", cid) == "exited\n"
        d.ok("rm", cid)
    finally:
        d.stop()


def test_a_stopped_auto_remove_container_is_removed_at_daemon_start(rootfs_template):
    """dockerd's rule at start: a `--rm` container that is not running is removed (its removal
    was cut short by a crash, or it was never started); one that runs stays. berthd's exit of an
    auto-removed container is saved without fsync on the strength of this."""
    d = Daemon()
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=60).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        created = d.ok("create", "--rm", "busybox", "true").strip()
        running = d.ok("run", "-d", "--rm", "busybox", "sleep", "1000").strip()
        d.kill9()
        d.start()
        assert d.docker("inspect", created).returncode != 0
        assert d.ok("inspect", "--format", "{{.State.Running}}", running) == "true\n"
    finally:
        d.stop()
