#!/usr/bin/env python3
"""Before/after for a change to the daemon's core: `bench/core.py BIN_DIR [BIN_DIR...]` starts a
berthd from each directory in turn (ROUNDS rounds, interleaved) and prints the medians of create,
start, wait and delete through the API (30 `true` containers, --network none), the total of 50
detached creates and starts, of `ps -a` with those 50 (200 requests), and berthd's RSS with 50
running. Debug or release, the builds compared must be alike; only the comparison in one run
means anything."""
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import conftest  # noqa: E402
from conftest import api  # noqa: E402

def phases(d, n=30):
    out = {"create": [], "start": [], "wait": [], "delete": []}
    body = json.dumps({"Image": "busybox:latest", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}).encode()
    for _ in range(n):
        t0 = time.perf_counter(); cid = json.loads(api(d, "POST", "/containers/create", body, {"Content-Type": "application/json"})[2])["Id"]
        t1 = time.perf_counter(); assert api(d, "POST", f"/containers/{cid}/start")[0] == 204
        t2 = time.perf_counter(); api(d, "POST", f"/containers/{cid}/wait")
        t3 = time.perf_counter(); api(d, "DELETE", f"/containers/{cid}")
        t4 = time.perf_counter()
        for k, v in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)): out[k].append(v * 1000)
    return {k: statistics.median(v) for k, v in out.items()}

def scale(d):
    body = json.dumps({"Image": "busybox:latest", "Cmd": ["sleep", "1000"], "HostConfig": {"NetworkMode": "none"}}).encode()
    ids = []
    t0 = time.perf_counter()
    for _ in range(50):
        cid = json.loads(api(d, "POST", "/containers/create", body, {"Content-Type": "application/json"})[2])["Id"]
        api(d, "POST", f"/containers/{cid}/start"); ids.append(cid)
    starts = (time.perf_counter() - t0) * 1000
    ps = []
    for _ in range(200):
        t = time.perf_counter(); api(d, "GET", "/containers/json?all=1"); ps.append((time.perf_counter() - t) * 1000)
    rss = int([l for l in open(f"/proc/{d.proc.pid}/status") if l.startswith("VmRSS")][0].split()[1]) / 1024
    for cid in ids: api(d, "DELETE", f"/containers/{cid}?force=1")
    return statistics.median(ps), rss, starts


def main():
    rootfs = tempfile.mkdtemp()
    os.chmod(rootfs, 0o755)
    subprocess.run([os.path.join(conftest.REPO, "scripts", "make-rootfs.sh"), rootfs], check=True)
    tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True).stdout
    shutil.rmtree(rootfs, ignore_errors=True)
    for rnd in range(int(os.environ.get("ROUNDS", "2"))):
        for binary in sys.argv[1:]:
            os.environ["BERTH_BIN"] = binary
            importlib.reload(conftest)
            d = conftest.Daemon()
            d.start()
            try:
                subprocess.run([conftest.BERTH, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=d.env(),
                               capture_output=True, check=True)
                p = phases(d)
                ps, rss, starts = scale(d)
                print(binary, rnd, {k: round(v, 1) for k, v in p.items()}, f"50 starts: {starts:.0f} ms", f"ps -a (50): {ps:.2f} ms",
                      f"RSS (50 running): {rss:.1f} MiB", flush=True)
            finally:
                d.stop()


main()
