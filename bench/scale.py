#!/usr/bin/env python3
"""Scale, side by side in one run: 1,000 containers (200 of them running) on berthd and on dockerd
20.10 (with --live-restore, so both keep their containers across a restart), each driven through
the Engine API by the same Python client, so only the engines differ. Measured at 50 containers and
again at 1,000: `ps -a` and the inspect of one container (neither should depend on how many exist
beyond the list's own length); at 1,000: `images`, `system df`, reading every event so far,
the daemon's RSS, each running container's shim's RSS and PSS (the issue's density measure, with
200 shims rather than 50), a restart after SIGKILL until the list answers with all 1,000, and 100
`run`s at once. Writes bench/results/scale-<date>.json and .md.
Usage: bench/scale.py BIN_DIR [COUNT] [RUNNING]"""
import concurrent.futures
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
os.environ["BERTH_BIN"] = os.path.abspath(sys.argv[1])
# a daemon answering 100 runs at once may take minutes for one request (dockerd took over the
# tests' 30 s on a noisy day and ended the whole run): give every request 5 minutes
os.environ.setdefault("BERTH_TIMEOUT_SCALE", "10")
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
import conftest  # noqa: E402
from conftest import api  # noqa: E402
from peer_engines import Dockerd  # noqa: E402

COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
RUNNING = int(sys.argv[3]) if len(sys.argv) > 3 else 200
JSON = {"Content-Type": "application/json"}


def call(engine, method, path, body=None):
    status, _, answer = api(engine, method, path, json.dumps(body).encode() if body is not None else None, JSON if body is not None else None)
    assert status < 300, f"{method} {path}: {status} {answer[:300]!r}"
    return json.loads(answer) if answer.strip() else None


def timed(fn, runs):
    """Median milliseconds of `runs` calls."""
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def create(engine, cmd):
    return call(engine, "POST", "/containers/create", {"Image": "busybox:latest", "Cmd": cmd, "HostConfig": {"NetworkMode": "none"}})["Id"]


def run_once(engine):
    cid = create(engine, ["true"])
    api(engine, "POST", f"/containers/{cid}/start")
    api(engine, "POST", f"/containers/{cid}/wait")
    api(engine, "DELETE", f"/containers/{cid}")


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            total += int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1])
        except (OSError, StopIteration):
            pass
    return total


def memory_kb(pid, key):
    try:
        return int(next(l for l in open(f"/proc/{pid}/smaps_rollup") if l.startswith(key + ":")).split()[1])
    except (OSError, StopIteration):
        return 0


def pgrep(pattern):
    return [int(p) for p in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()]


def shim_memory(shims, shared):
    """Each shim's mean RSS, and its PSS with its share of `shared` (berth's shim template),
    measured once the shims are idle (3 s after the last start, as bench/engine.sh)."""
    time.sleep(3)
    found = shims()
    if not found:
        return {"shims": 0, "rss_kb": 0, "pss_kb": 0}
    return {"shims": len(found), "rss_kb": sum(memory_kb(p, "Rss") for p in found) / len(found),
            "pss_kb": (sum(memory_kb(p, "Pss") for p in found) + sum(memory_kb(p, "Pss") for p in shared())) / len(found)}


def lookups(engine, one):
    return {"ps_a_ms": timed(lambda: call(engine, "GET", "/containers/json?all=1"), 20),
            "inspect_one_ms": timed(lambda: call(engine, "GET", f"/containers/{one}/json"), 50)}


def measure(engine, pids, restart, shims, shared):
    """Everything for one engine; `pids()` its processes' pids, `restart()` kills it and starts
    it again, `shims()` its running containers' shims, `shared()` what they share."""
    out = {}
    ids = [create(engine, ["sleep", "100000"]) for _ in range(50)]
    out["at_50"] = lookups(engine, ids[0])
    t = time.perf_counter()
    ids += [create(engine, ["sleep", "100000"]) for _ in range(COUNT - 50)]
    out["create_rest_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for cid in ids[:RUNNING]:
        api(engine, "POST", f"/containers/{cid}/start")
    out[f"start_{RUNNING}_s"] = time.perf_counter() - t
    out["shim_memory"] = shim_memory(shims, shared)
    out[f"at_{COUNT}"] = lookups(engine, ids[0])
    out["images_ms"] = timed(lambda: call(engine, "GET", "/images/json"), 20)
    out["system_df_ms"] = timed(lambda: call(engine, "GET", "/system/df"), 5)
    now = int(time.time())
    out["events_all_ms"] = timed(lambda: api(engine, "GET", f"/events?since=0&until={now}"), 5)
    out["daemon_rss_kb"] = rss_kb(pids())
    t = time.perf_counter()
    restart()
    while True:
        try:
            if len(call(engine, "GET", "/containers/json?all=1")) == COUNT:
                break
        except (OSError, AssertionError):
            pass
        time.sleep(0.05)
    out["restart_s"] = time.perf_counter() - t
    running = len(call(engine, "GET", "/containers/json"))
    assert running == RUNNING, f"{running} of {RUNNING} running after the restart"
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        list(pool.map(lambda _: run_once(engine), range(100)))
    out["runs_100_at_once_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda cid: api(engine, "DELETE", f"/containers/{cid}?force=1"), ids))
    out["remove_all_s"] = time.perf_counter() - t
    return out


def main():
    rootfs = tempfile.mkdtemp()
    os.chmod(rootfs, 0o755)
    subprocess.run([os.path.join(here, "..", "scripts", "make-rootfs.sh"), rootfs], check=True, capture_output=True)
    tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True).stdout
    shutil.rmtree(rootfs, ignore_errors=True)
    results = {"count": COUNT, "running": RUNNING}

    print(f"berthd: {COUNT} containers, {RUNNING} running", file=sys.stderr)
    berthd = conftest.Daemon()
    berthd.start()
    try:
        subprocess.run([conftest.BERTH, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=berthd.env(), capture_output=True, check=True)

        def restart_berthd():
            berthd.kill9()
            berthd.start()
        results["berthd"] = measure(berthd, lambda: [berthd.proc.pid], restart_berthd,
                                    lambda: pgrep(f"berth-shim {berthd.exec_root}/"), lambda: pgrep(f"berth-shim --template {berthd.exec_root}/"))
    finally:
        berthd.stop()

    print(f"dockerd: {COUNT} containers, {RUNNING} running", file=sys.stderr)
    dockerd = Dockerd(name="berth-bench-scale-docker", extra_args=["--live-restore"])
    dockerd.start()
    try:
        subprocess.run(["docker", "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=dockerd.env(), capture_output=True, check=True)

        def daemons():
            found = subprocess.run(["pgrep", "-f", "containerd --config " + dockerd.exec_root], capture_output=True, text=True).stdout.split()
            return [dockerd.proc.pid, *map(int, found)]

        def restart_dockerd():
            # the daemon with its containerd, as berthd is one process (the shims live on in both)
            pids = daemons()
            for pid in pids:
                os.kill(pid, 9)
            dockerd.proc.wait()
            while any(os.path.exists(f"/proc/{pid}") for pid in pids[1:]):
                time.sleep(0.05)
            dockerd.start()
        results["dockerd"] = measure(dockerd, daemons, restart_dockerd,
                                     lambda: pgrep(f"containerd-shim-runc-v2 -namespace berth-peer .*{dockerd.exec_root}/"), lambda: [])
    finally:
        dockerd.stop()

    day = datetime.datetime.utcnow().strftime("%Y-%m-%d")
    base = os.path.join(here, "results", f"scale-{day}")
    json.dump(results, open(base + ".json", "w"), indent=1)
    b, d = results["berthd"], results["dockerd"]
    rows = [("ps -a, 50 containers (median)", "at_50", "ps_a_ms", "ms"), (f"ps -a, {COUNT} containers (median)", f"at_{COUNT}", "ps_a_ms", "ms"),
            ("inspect one, 50 containers (median)", "at_50", "inspect_one_ms", "ms"),
            (f"inspect one, {COUNT} containers (median)", f"at_{COUNT}", "inspect_one_ms", "ms"),
            (f"images, {COUNT} containers (median)", None, "images_ms", "ms"), (f"system df, {COUNT} containers (median)", None, "system_df_ms", "ms"),
            (f"every event so far, {COUNT} containers (median)", None, "events_all_ms", "ms"),
            (f"create {COUNT - 50} more containers (total)", None, "create_rest_s", "s"), (f"start {RUNNING} of them (total)", None, f"start_{RUNNING}_s", "s"),
            (f"restart after SIGKILL until all {COUNT} are listed", None, "restart_s", "s"), ("100 runs at once (wall)", None, "runs_100_at_once_s", "s"),
            (f"remove all {COUNT} (8 at a time)", None, "remove_all_s", "s")]
    lines = ["| figure | berthd | dockerd 20.10 | berthd vs dockerd |", "|---|---:|---:|---:|"]
    for label, group, key, unit in rows:
        ours, theirs = (b[group][key], d[group][key]) if group else (b[key], d[key])
        ratio = f"{theirs / ours:.2f}× faster" if theirs >= ours else f"{ours / theirs:.2f}× slower"
        fmt = (lambda v: f"{v:.1f} ms") if unit == "ms" else (lambda v: f"{v:.2f} s")
        lines.append(f"| {label} | {fmt(ours)} | {fmt(theirs)} | {ratio} |")
    ours, theirs = b["daemon_rss_kb"], d["daemon_rss_kb"]
    lines.append(f"| daemon RSS, {COUNT} containers, {RUNNING} running | {ours / 1024:.1f} MiB | {theirs / 1024:.1f} MiB (with containerd) | "
                 f"{theirs / ours:.2f}× smaller |")
    for label, key in (("RSS", "rss_kb"), ("PSS", "pss_kb")):
        ours, theirs = b["shim_memory"][key], d["shim_memory"][key]
        lines.append(f"| {label} per container shim, {RUNNING} running | {ours / 1024:.2f} MiB | {theirs / 1024:.2f} MiB (containerd-shim-runc-v2) | "
                     f"{theirs / ours:.2f}× smaller |")
    text = "\n".join(lines) + "\n"
    open(base + ".md", "w").write(text)
    print(text)


main()
