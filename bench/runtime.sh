#!/usr/bin/env bash
# Times `run` of busybox `true` under berth-runtime, crun and runc with hyperfine in one run,
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
trap 'rm -rf "$work"' EXIT
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

cmds=(-n berth-runtime "$runtime --root $work/berth run b </dev/null")
names=(berth-runtime)
for peer in crun runc; do
    if command -v "$peer" >/dev/null; then
        cmds+=(-n "$peer" "$peer --root $work/$peer run b </dev/null")
        names+=("$peer")
    else
        echo "($peer not installed: left out)" >&2
    fi
done
hyperfine --warmup 10 --runs "$runs" --export-json "$work/result.json" --style basic "${cmds[@]}" >&2

out=${RUNTIME_BENCH_OUT:-$here/results/runtime-$(date -u +%Y-%m-%d)}
mkdir -p "$(dirname "$out")"
python3 - "$work/result.json" "$out" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
base = results["berth-runtime"]["median"]
lines = [f"`run` of busybox `true`, {len(next(iter(results.values()))['times'])} runs each, same bundle:\n",
         "| runtime | median | mean ± σ | min | max | median vs berth-runtime |", "|---|---:|---:|---:|---:|---:|"]
for name, r in results.items():
    m = r["median"]
    ratio = "1.00×" if name == "berth-runtime" else f"{m / base:.2f}× slower" if m >= base else f"{base / m:.2f}× faster"
    lines.append(f"| {name} | {m*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {r['min']*1000:.2f} ms | {r['max']*1000:.2f} ms | {ratio} |")
text = "\n".join(lines) + "\n"
open(sys.argv[2] + ".md", "w").write(text)
json.dump({k: {"median_ms": v["median"] * 1000, "min_ms": v["min"] * 1000, "max_ms": v["max"] * 1000, "times_s": v["times"]} for k, v in results.items()},
          open(sys.argv[2] + ".json", "w"), indent=1)
print(text)
PY
