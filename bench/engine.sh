#!/usr/bin/env bash
# Engine figures, side by side in one run on one machine: `run --rm busybox true` end to end
# (berth → berthd, docker CLI → berthd, docker → dockerd, podman), 50 detached starts, `ps -a`
# with 50 containers, and resident memory of the daemons and of the per-container shims.
# Starts its own berthd and dockerd on private roots and removes everything it made.
# Usage: bench/engine.sh BIN_DIR [RUNS]
set -euo pipefail
bin=$(realpath "$1")
runs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
bsock=/run/berth-bench/berth.sock
dsock=/run/berth-bench-docker/docker.sock
berth="$bin/berth -H unix://$bsock"
dock="docker -H unix://$dsock"
# runc: crun refuses this hybrid cgroup layout. A private containers.conf without podman's
# default ulimits (they exceed what root may raise here, and runc fails with EPERM). Images are
# always named in full so nothing is ever pulled.
podman="env CONTAINERS_CONF=$work/containers.conf podman --runtime runc"
pimage=localhost/berth-bench-busybox
have_docker=$(command -v dockerd >/dev/null && echo 1 || echo 0)
have_podman=$(command -v podman >/dev/null && echo 1 || echo 0)

cleanup() {
    set +e
    ids=$($berth ps -aq 2>/dev/null); [ -n "$ids" ] && $berth rm -f $ids >/dev/null 2>&1
    [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null
    if [ "$have_docker" = 1 ]; then
        ids=$($dock ps -aq 2>/dev/null); [ -n "$ids" ] && $dock rm -f $ids >/dev/null 2>&1
        [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null
    fi
    if [ "$have_podman" = 1 ]; then
        $podman rm -af >/dev/null 2>&1; $podman rmi -f "$pimage" >/dev/null 2>&1
    fi
    sleep 2
    for d in /run/berth-bench /var/lib/berth-bench /run/berth-bench-docker /var/lib/berth-bench-docker; do
        grep -o " $d[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$d"
    done
    rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_rss() { local t=0; for p in "$@"; do t=$((t + $(rss_kb "$p"))); done; echo "$t"; }
avg_rss() { [ $# -eq 0 ] && { echo 0; return; }; echo $(( $(sum_rss "$@") / $# )); }
# PSS: the shared pages (a binary's text, mapped by every shim) divided among their users, i.e.
# what one more container really costs.
avg_pss() {
    [ $# -eq 0 ] && { echo 0; return; }
    local t=0; for p in "$@"; do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done
    echo $((t / $#))
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

printf '[containers]\ndefault_ulimits = []\n' >"$work/containers.conf"
"$here/../scripts/make-rootfs.sh" "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

echo "starting berthd" >&2
setsid "$bin/berthd" --data-root /var/lib/berth-bench --exec-root /run/berth-bench --config-file /nonexistent \
    </dev/null >"$work/berthd.log" 2>&1 & echo $! >"$work/berthd.pid"
for _ in $(seq 100); do $berth version >/dev/null 2>&1 && break; sleep 0.1; done
$berth import -c 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
if [ "$have_docker" = 1 ]; then
    echo "starting dockerd (its own containerd, no iptables, no bridge)" >&2
    mkdir -p /run/berth-bench-docker
    setsid dockerd --data-root /var/lib/berth-bench-docker --exec-root /run/berth-bench-docker/exec -H "unix://$dsock" \
        --pidfile /run/berth-bench-docker/dockerd.pid --iptables=false --bridge=none \
        --containerd-namespace berth-bench --containerd-plugins-namespace berth-bench-plugins \
        </dev/null >"$work/dockerd.log" 2>&1 & echo $! >"$work/dockerd.pid"
    for _ in $(seq 300); do $dock version >/dev/null 2>&1 && break; sleep 0.1; done
    $dock version >/dev/null 2>&1 || { echo "dockerd did not start; see $work/dockerd.log" >&2; have_docker=0; }
    [ "$have_docker" = 1 ] && $dock import -c 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
fi
if [ "$have_podman" = 1 ]; then
    $podman import -c 'CMD ["sh"]' "$work/busybox.tar" "$pimage" >/dev/null 2>&1
    if ! $podman run --rm --network none "$pimage" true >"$work/podman.err" 2>&1; then
        echo "podman cannot run a container on this machine, left out: $(tail -1 "$work/podman.err")" >&2
        have_podman=0
    fi
fi

sleep 2
berthd_idle=$(rss_kb "$(cat "$work/berthd.pid")")
dockerd_idle=0
if [ "$have_docker" = 1 ]; then
    dockerd_idle=$(sum_rss "$(cat "$work/dockerd.pid")" $(pgrep -f "containerd --config /run/berth-bench-docker" || true))
fi

echo "timing run --rm true ($runs runs each)" >&2
cmds=(-n "berth" "$berth run --rm --network none busybox true"
      -n "docker CLI → berthd" "DOCKER_HOST=unix://$bsock docker run --rm --network none busybox true")
[ "$have_docker" = 1 ] && cmds+=(-n "docker → dockerd" "$dock run --rm --network none busybox true")
[ "$have_podman" = 1 ] && cmds+=(-n "podman" "$podman run --rm --network none $pimage true")
hyperfine --warmup 3 --runs "$runs" --export-json "$work/run.json" --style basic "${cmds[@]}" >&2

start_50() {  # command prefix, image
    local t0 t1
    t0=$(now_ms)
    for i in $(seq 50); do $1 run -d --network none "$2" sleep 600 >/dev/null; done
    t1=$(now_ms)
    echo $((t1 - t0))
}
echo "starting 50 detached containers per engine" >&2
berth50=$(start_50 "$berth" busybox)
sleep 1
berth_shim=$(avg_rss $(pgrep -f "berth-shim /run/berth-bench/" || true))
berth_shim_pss=$(avg_pss $(pgrep -f "berth-shim /run/berth-bench/" || true))
berthd_50=$(rss_kb "$(cat "$work/berthd.pid")")
ps_cmds=(-n "berth" "$berth ps -a")
docker50=""; docker_shim=0; podman50=""; conmon=0; docker_shim_pss=0; conmon_pss=0
if [ "$have_docker" = 1 ]; then
    docker50=$(start_50 "$dock" busybox)
    sleep 1
    docker_shim=$(avg_rss $(pgrep -f "containerd-shim-runc-v2 -namespace berth-bench" || true))
    docker_shim_pss=$(avg_pss $(pgrep -f "containerd-shim-runc-v2 -namespace berth-bench" || true))
    ps_cmds+=(-n "docker" "$dock ps -a")
fi
if [ "$have_podman" = 1 ]; then
    podman50=$(start_50 "$podman" "$pimage")
    sleep 1
    conmon=$(avg_rss $(pgrep -x conmon || true))
    conmon_pss=$(avg_pss $(pgrep -x conmon || true))
    ps_cmds+=(-n "podman" "$podman ps -a")
fi
hyperfine --warmup 2 --runs 15 --export-json "$work/ps.json" --style basic "${ps_cmds[@]}" >&2

mkdir -p "$here/results"
day=$(date -u +%Y-%m-%d)
python3 - "$work" "$here/results/engine-$day" <<PY
import json, sys, platform, os
work, out = sys.argv[1], sys.argv[2]
run = {r["command"]: r for r in json.load(open(f"{work}/run.json"))["results"]}
ps = {r["command"]: r for r in json.load(open(f"{work}/ps.json"))["results"]}
ms = lambda r: r["median"] * 1000
figures = {
    "run": {k: {"median_ms": ms(v), "min_ms": v["min"] * 1000, "max_ms": v["max"] * 1000} for k, v in run.items()},
    "ps_a_with_50": {k: {"median_ms": ms(v)} for k, v in ps.items()},
    "start_50_ms": {"berth": $berth50, "docker": "$docker50" or None, "podman": "$podman50" or None},
    "daemon_idle_rss_kb": {"berthd": $berthd_idle, "dockerd+containerd": $dockerd_idle},
    "berthd_rss_with_50_kb": $berthd_50,
    "shim_rss_kb": {"berth-shim": $berth_shim, "containerd-shim-runc-v2": $docker_shim, "conmon": $conmon},
    "shim_pss_kb_with_50": {"berth-shim": $berth_shim_pss, "containerd-shim-runc-v2": $docker_shim_pss, "conmon": $conmon_pss},
    "machine": f"{os.cpu_count()} cores, {platform.platform()}",
}
json.dump(figures, open(out + ".json", "w"), indent=1)
def ratio(a, b):  # berth's time, the peer's time
    if not a or not b: return "–"
    return f"{b / a:.2f}× faster" if b >= a else f"{a / b:.2f}× slower"
b = run["berth"]
lines = ["| figure | berth | peer | peer value | berth vs peer |", "|---|---:|---|---:|---:|"]
for name, r in run.items():
    if name == "berth": continue
    lines.append(f"| run --rm true (median, {len(b['times'])} runs) | {ms(b):.1f} ms | {name} | {ms(r):.1f} ms | {ratio(ms(b), ms(r))} |")
for name in ("docker", "podman"):
    v = figures["start_50_ms"][name]
    if v: lines.append(f"| 50 detached starts (total) | {$berth50} ms | {name} | {v} ms | {ratio($berth50, int(v))} |")
for name, r in ps.items():
    if name == "berth": continue
    lines.append(f"| ps -a with 50 containers (median) | {ms(ps['berth']):.1f} ms | {name} | {ms(r):.1f} ms | {ratio(ms(ps['berth']), ms(r))} |")
if $dockerd_idle:
    lines.append(f"| daemon idle RSS | {$berthd_idle/1024:.1f} MiB | dockerd+containerd | {$dockerd_idle/1024:.1f} MiB | {$dockerd_idle/$berthd_idle:.1f}× smaller |")
def memory(label, ours, theirs, name):
    if theirs: lines.append(f"| {label} | {ours/1024:.2f} MiB | {name} | {theirs/1024:.2f} MiB | "
                            + (f"{theirs/ours:.2f}× smaller |" if theirs >= ours else f"{ours/theirs:.2f}× larger |"))
for name, rss, pss in (("containerd-shim-runc-v2", $docker_shim, $docker_shim_pss), ("conmon", $conmon, $conmon_pss)):
    memory("RSS per container shim", $berth_shim, rss, name)
    memory("PSS per container shim (50 running)", $berth_shim_pss, pss, name)
text = "\n".join(lines) + "\n"
open(out + ".md", "w").write(text)
print(text)
PY
