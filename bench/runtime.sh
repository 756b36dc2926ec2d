#!/usr/bin/env bash
# Times `run` of busybox `true` under berth-runtime, crun and runc, interleaved, in one run,
# same bundle, same machine, and prints a markdown table with ratios to berth-runtime.
# Usage: bench/runtime.sh BERTH_RUNTIME [RUNS]; the results go to bench/results/runtime-DATE.{md,json}
# or, with RUNTIME_BENCH_OUT=PREFIX, to PREFIX.{md,json} (the cgroup v2 guest writes to its share).
set -euo pipefail
runtime=$(realpath "$1")
runs=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)

# crun refuses this hybrid cgroup host; rather than time crun through a wrapper, every runtime
# runs inside one private mount namespace where the empty v2 mount is hidden.
if [ -z "${BERTH_BENCH_NS:-}" ] && [ -d /sys/fs/cgroup/memory ] && mountpoint -q /sys/fs/cgroup/unified; then
    exec env BERTH_BENCH_NS=1 unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"' "$0" "$@"
fi

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
# berth-runtime's containers (cgroupsPath unset: /berth/ID) leave /berth, as runc leaves its parents
trap 'rm -rf "$work"; rmdir /sys/fs/cgroup/*/berth /sys/fs/cgroup/berth 2>/dev/null || true' EXIT
"$here/../scripts/make-rootfs.sh" "$work/bundle/rootfs" >/dev/null
cd "$work/bundle"
"$runtime" spec
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["ociVersion"] = "1.0.0"  # Debian 12's crun predates runtime-spec 1.2
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open("config.json", "w"))
PY

runtimes=("berth-runtime=$runtime")
for peer in crun runc; do
    if command -v "$peer" >/dev/null; then
        runtimes+=("$peer=$(command -v "$peer")")
    else
        echo "($peer not installed: left out)" >&2
    fi
done

out=${RUNTIME_BENCH_OUT:-$here/results/runtime-$(date -u +%Y-%m-%d)}
mkdir -p "$(dirname "$out")"
# Interleaved: each round runs every runtime once, in a rotating order, so drift in the machine's
# load falls on all of them alike. Two patterns: back to back, and spaced 50 ms apart. Spaced is
# what a node sees (starts are rarely within milliseconds of each other) and it differs: a runtime
# that moves its init into the cgroup from outside (cgroup.procs) waits for an RCU grace period
# of the kernel's global threadgroup lock, which back-to-back runs find still open from the run
# before; berth-runtime's init enters its cgroup itself and skips that lock either way.
python3 - "$work" "$runs" "$out" "${runtimes[@]}" <<'PY'
import json, statistics, subprocess, sys, time
work, runs, out, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
runtimes = [p.split("=", 1) for p in pairs]

def once(name, path):
    t = time.perf_counter()
    subprocess.run([path, "--root", f"{work}/{name}", "run", "b"], stdin=subprocess.DEVNULL, check=True, cwd=f"{work}/bundle")
    return (time.perf_counter() - t) * 1000

results = {}
for pattern, pause in (("back to back", 0.0), ("spaced 50 ms apart", 0.05)):
    for name, path in runtimes:
        for _ in range(5): once(name, path)  # warm-up
    times = {name: [] for name, _ in runtimes}
    for i in range(runs):
        order = runtimes[i % len(runtimes):] + runtimes[:i % len(runtimes)]
        for name, path in order:
            if pause: time.sleep(pause)
            times[name].append(once(name, path))
    results[pattern] = times

base_name = runtimes[0][0]
lines = [f"`run` of busybox `true`, same bundle, {runs} interleaved rounds per pattern (wall time of the command):\n",
         "| runtime | pattern | median | mean ± σ | min | max | median vs berth-runtime |", "|---|---|---:|---:|---:|---:|---:|"]
for pattern, times in results.items():
    base = statistics.median(times[base_name])
    for name, ts in times.items():
        m = statistics.median(ts)
        ratio = "1.00×" if name == base_name else f"{m / base:.2f}× slower" if m >= base else f"{base / m:.2f}× faster"
        lines.append(f"| {name} | {pattern} | {m:.2f} ms | {statistics.mean(ts):.2f} ± {statistics.pstdev(ts):.2f} ms | {min(ts):.2f} ms | {max(ts):.2f} ms | {ratio} |")
text = "\n".join(lines) + "\n"
open(out + ".md", "w").write(text)
json.dump({pattern: {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "times_ms": v} for k, v in times.items()}
           for pattern, times in results.items()}, open(out + ".json", "w"), indent=1)
print(text)
PY
