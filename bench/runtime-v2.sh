#!/bin/sh
# bench/runtime.sh inside the cgroup v2 guest (scripts/v2-vm.sh): berth-runtime, crun and runc on one
# bundle under the unified hierarchy, where crun needs no workaround. The guest's CPUs are emulated,
# so only the ratios mean something. Usage: bench/runtime-v2.sh BERTH_RUNTIME [RUNS]
set -eu
runtime=$(realpath "$1")
runs=${2:-50}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d /tmp/berth-v2bench-XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/../scripts/v2-vm.sh" "$out" "RUNTIME_BENCH_OUT=$out/runtime $here/runtime.sh $runtime $runs" || {
    cat "$out/console.log" >&2; exit 1; }
dest=$here/results/runtime-v2-$(date -u +%Y-%m-%d)
cp "$out/runtime.md" "$dest.md"
cp "$out/runtime.json" "$dest.json"
printf '(inside the cgroup v2 guest: %s)\n' "$(sed -n 's/^guest: //p' "$out/console.log")"
cat "$dest.md"
