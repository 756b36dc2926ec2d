#!/usr/bin/env bash
# Layer extraction alone: Berth's extractor vs GNU tar on the same ~150 MB layer (busybox plus
# a few thousand small files and some large ones), same disk, page cache warm for both.
# Usage: bench/extract.sh BIN_DIR [RUNS]
set -euo pipefail
bin=$(realpath "$1")
runs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /var/tmp/berth-bench-extract.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$here/../scripts/make-rootfs.sh" "$work/src" >/dev/null
python3 - "$work/src" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(40):
    os.makedirs(f"{root}/data/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/data/d{d}/f{f}.txt", "wb") as fh:
            fh.write(os.urandom(2048))
for i in range(4):
    with open(f"{root}/data/big{i}.bin", "wb") as fh:
        fh.write(os.urandom(32 << 20))
PY
tar -C "$work/src" -cf "$work/layer.tar" .
size=$(du -m "$work/layer.tar" | cut -f1)
hyperfine --warmup 1 --runs "$runs" --export-json "$work/x.json" --style basic \
    --prepare "rm -rf $work/out" \
    -n berth "$bin/berth-bench-extract $work/layer.tar $work/out" \
    -n "GNU tar" "mkdir -p $work/out && tar -C $work/out -xf $work/layer.tar" >&2
mkdir -p "$here/results"
python3 - "$work/x.json" "$size" "$here/results/extract-$(date -u +%Y-%m-%d)" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b, t = r["berth"]["median"] * 1000, r["GNU tar"]["median"] * 1000
ratio = f"{t / b:.2f}× faster" if t >= b else f"{b / t:.2f}× slower"
span = lambda x: f"{x['min'] * 1000:.0f}–{x['max'] * 1000:.0f} ms"
text = ("| figure | berth | GNU tar | berth vs GNU tar |\n|---|---:|---:|---:|\n"
        f"| extract a {sys.argv[2]} MB layer (median of {len(r['berth']['times'])}) | {b:.0f} ms | {t:.0f} ms | {ratio} |\n"
        f"| spread (min–max) | {span(r['berth'])} | {span(r['GNU tar'])} | |\n")
open(sys.argv[3] + ".md", "w").write(text)
json.dump({k: {"median_ms": v["median"] * 1000, "min_ms": v["min"] * 1000, "max_ms": v["max"] * 1000, "times_s": v["times"]} for k, v in r.items()},
          open(sys.argv[3] + ".json", "w"), indent=1)
print(text)
PY
