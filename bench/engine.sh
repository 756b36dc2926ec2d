#!/usr/bin/env bash
# Engine figures, side by side in one run on one machine: `run --rm busybox true` end to end
# (the docker CLI against berthd and against dockerd first, then berth, podman on crun), 50
# detached starts (median of three rounds), `ps -a`
# and `images` with 50 containers, resident memory of the daemons and of the per-container shims;
# then image transport: a cold pull of a ~150 MB five-layer image from a local docker-registry
# (skopeo's plain copy as the floor), save, load, export and import; and `run --rm` on each
# engine's default bridge network against `--network none`, so networking's share shows; and
# builds: cold, fully cached, after one source file changed, and reusing a cache mount.
# Starts its own berthd, dockerd and registry on private roots and loopback, and removes
# everything it made.
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
# A private containers.conf without podman's default ulimits (they exceed what root may raise
# here, and the runtime fails with EPERM). Images are always named in full so nothing is ever
# pulled. `run --rm` rows use crun, podman's default: crun refuses this hybrid layout's empty
# cgroup2 mount, so each such podman runs in a mount namespace of its own without that mount
# (self-contained: its container's mounts live and die there). Detached containers must be seen
# by later podman commands, so those rows use runc; the table names the runtime.
podman="env CONTAINERS_CONF=$work/containers.conf podman --runtime runc"
podman_crun="unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec env CONTAINERS_CONF=$work/containers.conf podman --runtime crun \"\$@\"' podman"
pimage=localhost/berth-bench-busybox
# The shim's memory rows hold for the static, non-PIE shim `make build` installs: a PIE build
# (`swift build -c release` alone) relocates ~36,000 pointers at every start, dirtying ~0.5 MB
# of data pages per shim. Refuse to measure the wrong one.
if ! python3 -c 'import sys; sys.exit(open(sys.argv[1], "rb").read(18)[16] != 2)' "$bin/berth-shim"; then  # ELF e_type: EXEC
    echo "bench/engine.sh: $bin/berth-shim is not the static shim (run make build, which installs it)" >&2
    exit 1
fi
have_docker=$(command -v dockerd >/dev/null && echo 1 || echo 0)
have_podman=$(command -v podman >/dev/null && echo 1 || echo 0)
# Bridges of their own (never the host's berth0/docker0), on fixed private ranges.
berth_bridge=bb0
forward_policy=$(iptables -S FORWARD | awk '/^-P FORWARD/ {print $3}')
# berthd's netfilter chains for this exec root (Netfilter.prefix: FNV-1a of the path).
berth_chains=$(python3 -c 'import sys
h = 2166136261
for b in b"/run/berth-bench": h = ((h ^ b) * 16777619) & 0xFFFFFFFF
print("BERTH-" + format(h, "x")[-6:])')

# Deletes every jump to chains named PREFIX* and those chains (table by table).
remove_chains() {
    for table in nat filter; do
        iptables -t "$table" -S | awk -v p="$1" '$1 == "-A" && index($2, p) != 1 { for (i = 1; i <= NF; i++) if ($i == "-j" && index($(i+1), p) == 1) { $1 = "-D"; print; next } }' \
            | while read -r rule; do eval iptables -t "$table" "$rule"; done
        for chain in $(iptables -t "$table" -S | awk -v p="$1" '$1 == "-N" && index($2, p) == 1 {print $2}'); do
            iptables -t "$table" -F "$chain"; iptables -t "$table" -X "$chain"
        done
    done
}

cleanup() {
    set +e
    ids=$($berth ps -aq 2>/dev/null); [ -n "$ids" ] && $berth rm -f $ids >/dev/null 2>&1
    [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null
    if [ "$have_docker" = 1 ]; then
        ids=$($dock ps -aq 2>/dev/null); [ -n "$ids" ] && $dock rm -f $ids >/dev/null 2>&1
        [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null
    fi
    if [ "$have_podman" = 1 ]; then
        $podman rm -af >/dev/null 2>&1; $podman rmi -f "$pimage" localhost/bench-build localhost/bench-edit localhost/bench-cachemount >/dev/null 2>&1; $podman image prune -f >/dev/null 2>&1
    fi
    sleep 2
    for d in /run/berth-bench /var/lib/berth-bench /run/berth-bench-docker /var/lib/berth-bench-docker; do
        grep -o " $d[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$d"
    done
    [ -f "$work/registry.pid" ] && kill "$(cat "$work/registry.pid")" 2>/dev/null
    ip link del "$berth_bridge" 2>/dev/null; ip link del docker0 2>/dev/null
    remove_chains "$berth_chains"; remove_chains DOCKER; remove_chains NETAVARK; ip link del podman0 2>/dev/null
    iptables -P FORWARD "${forward_policy:-ACCEPT}"
    rmdir /sys/fs/cgroup/*/berth /sys/fs/cgroup/berth 2>/dev/null  # the parent containers leave, once empty (as tests/integration/conftest.py)
    rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_rss() { local t=0; for p in "$@"; do t=$((t + $(rss_kb "$p"))); done; echo "$t"; }
avg_rss() { [ $# -eq 0 ] && { echo 0; return; }; echo $(( $(sum_rss "$@") / $# )); }
# PSS: the shared pages (a binary's text, mapped by every shim) divided among their users, i.e.
# what one more container really costs.
sum_pss() { local t=0; for p in "$@"; do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done; echo "$t"; }
avg_pss() { [ $# -eq 0 ] && { echo 0; return; }; echo $(( $(sum_pss "$@") / $# )); }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

printf '[containers]\ndefault_ulimits = []\n' >"$work/containers.conf"
"$here/../scripts/make-rootfs.sh" "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

echo "starting berthd" >&2
echo '{}' >"$work/daemon.json"
setsid "$bin/berthd" --data-root /var/lib/berth-bench --exec-root /run/berth-bench --config-file "$work/daemon.json" \
    --bridge "$berth_bridge" --bip 10.212.0.1/24 \
    </dev/null >"$work/berthd.log" 2>&1 & echo $! >"$work/berthd.pid"
for _ in $(seq 100); do $berth version >/dev/null 2>&1 && break; sleep 0.1; done
$berth import -c 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null
if [ "$have_docker" = 1 ]; then
    echo "starting dockerd (its own containerd; docker0 on 10.213.0.1/24)" >&2
    mkdir -p /run/berth-bench-docker
    setsid dockerd --data-root /var/lib/berth-bench-docker --exec-root /run/berth-bench-docker/exec -H "unix://$dsock" \
        --pidfile /run/berth-bench-docker/dockerd.pid --bip 10.213.0.1/24 --userland-proxy=false \
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
[ "$have_podman" = 1 ] && cmds+=(-n "podman (crun)" "$podman_crun run --rm --network none $pimage true")
hyperfine --warmup 3 --runs "$runs" --export-json "$work/run.json" --style basic "${cmds[@]}" >&2

echo "timing run --rm true on the default bridge network ($runs runs each)" >&2
cmds=(-n "berth" "$berth run --rm busybox true")
[ "$have_docker" = 1 ] && cmds+=(-n "docker → dockerd" "$dock run --rm busybox true")
if [ "$have_podman" = 1 ] && eval "$podman_crun run --rm $pimage true" >/dev/null 2>&1; then
    cmds+=(-n "podman (crun)" "$podman_crun run --rm $pimage true")
fi
hyperfine --warmup 3 --runs "$runs" --export-json "$work/run-bridge.json" --style basic "${cmds[@]}" >&2

start_50() {  # command prefix, image, remove command: three rounds of 50; prints each round's ms
    local t0 t1 round samples=""
    for round in 1 2 3; do
        [ "$round" -gt 1 ] && eval "$3" >/dev/null 2>&1
        t0=$(now_ms)
        for i in $(seq 50); do $1 run -d --network none "$2" sleep 600 >/dev/null; done
        t1=$(now_ms)
        samples="$samples $((t1 - t0))"
    done
    echo $samples
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
# five samples 0.2 s apart of a measuring command; prints them
sampled() { local out=""; for _ in 1 2 3 4 5; do out="$out $("$@")"; sleep 0.2; done; echo $out; }
# Each engine's shims are measured idle, 3 s after the last of the 50 starts: a berth shim gives
# back its program's pages after a second with nothing to do (Shim.settleDelay).
settle() { sleep 3; }
echo "starting 50 detached containers per engine" >&2
berth50_samples=$(start_50 "$berth" busybox "ids=\$($berth ps -aq); $berth rm -f \$ids")
berth50=$(median $berth50_samples)
settle
berth_shims() { pgrep -f "berth-shim /run/berth-bench/" || true; }
berth_shim_rss() { avg_rss $(berth_shims); }
berth_shim_samples=$(sampled berth_shim_rss)
berth_shim=$(median $berth_shim_samples)
# berthd's shim template (the shims are forked from it) counts too, shared among the 50
berth_template=$(pgrep -f "berth-shim --template /run/berth-bench/" || true)
berth_shim_count=$(berth_shims | wc -l)
berth_shim_pss=$(( $(sum_pss $(berth_shims) $berth_template) / (berth_shim_count > 0 ? berth_shim_count : 1) ))
berthd_50_samples=$(sampled rss_kb "$(cat "$work/berthd.pid")")
berthd_50=$(median $berthd_50_samples)
ps_cmds=(-n "berth" "$berth ps -a")
images_cmds=(-n "berth" "$berth images")
docker50=""; docker_shim=0; podman50=""; conmon=0; docker_shim_pss=0; conmon_pss=0
if [ "$have_docker" = 1 ]; then
    docker50_samples=$(start_50 "$dock" busybox "ids=\$($dock ps -aq); $dock rm -f \$ids")
    docker50=$(median $docker50_samples)
    settle
    docker_shim=$(avg_rss $(pgrep -f "containerd-shim-runc-v2 -namespace berth-bench" || true))
    docker_shim_pss=$(avg_pss $(pgrep -f "containerd-shim-runc-v2 -namespace berth-bench" || true))
    ps_cmds+=(-n "docker" "$dock ps -a")
    images_cmds+=(-n "docker" "$dock images")
fi
if [ "$have_podman" = 1 ]; then
    podman50_samples=$(start_50 "$podman" "$pimage" "$podman rm -af")
    podman50=$(median $podman50_samples)
    settle
    conmon=$(avg_rss $(pgrep -x conmon || true))
    conmon_pss=$(avg_pss $(pgrep -x conmon || true))
    ps_cmds+=(-n "podman" "$podman ps -a")
    images_cmds+=(-n "podman" "$podman images")
fi
hyperfine --warmup 2 --runs 15 --export-json "$work/ps.json" --style basic "${ps_cmds[@]}" >&2
hyperfine --warmup 2 --runs 15 --export-json "$work/images.json" --style basic "${images_cmds[@]}" >&2
ids=$($berth ps -aq); [ -n "$ids" ] && $berth rm -f $ids >/dev/null
[ "$have_docker" = 1 ] && { ids=$($dock ps -aq); [ -n "$ids" ] && $dock rm -f $ids >/dev/null; }
[ "$have_podman" = 1 ] && $podman rm -af >/dev/null 2>&1

echo "building a five-layer image of about 150 MB and serving it from a local registry" >&2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/registry" "$port" >"$work/registry.yml"
setsid docker-registry serve "$work/registry.yml" </dev/null >"$work/registry.log" 2>&1 & echo $! >"$work/registry.pid"
prev=busybox
for i in 1 2 3 4 5; do  # each layer: 12 MB random (incompressible) + text that compresses as source trees do
    $berth run --name "layer$i" --network none "$prev" sh -c \
        "mkdir -p /data$i && dd if=/dev/urandom of=/data$i/blob bs=1M count=12 2>/dev/null && seq 1 2500000 > /data$i/text && cp -r /bin /data$i/bin" >/dev/null
    $berth commit "layer$i" "bench/layered:$i" >/dev/null
    $berth rm "layer$i" >/dev/null
    prev="bench/layered:$i"
done
$berth save -o "$work/layered.tar" bench/layered:5
image="127.0.0.1:$port/bench/layered:5"
skopeo copy -q --dest-tls-verify=false "docker-archive:$work/layered.tar" "docker://$image"
$berth rmi bench/layered:5 bench/layered:4 bench/layered:3 bench/layered:2 bench/layered:1 >/dev/null
pull_cmds=(--prepare "$berth rmi $image >/dev/null 2>&1 || true" -n "berth" "$berth pull -q $image"
           --prepare "rm -rf $work/skopeo-dir" -n "skopeo copy (no unpack)" "skopeo copy -q --src-tls-verify=false docker://$image dir:$work/skopeo-dir")
[ "$have_docker" = 1 ] && pull_cmds+=(--prepare "$dock rmi $image >/dev/null 2>&1 || true" -n "docker" "$dock pull -q $image")
[ "$have_podman" = 1 ] && pull_cmds+=(--prepare "$podman rmi $image >/dev/null 2>&1 || true" -n "podman" "$podman pull -q --tls-verify=false $image")
echo "timing cold pulls" >&2
hyperfine --runs 5 --export-json "$work/pull.json" --style basic "${pull_cmds[@]}" >&2

echo "timing save, load, export, import" >&2
$berth create --name exp "$image" true >/dev/null
transfer=(-n "berth save" "$berth save -o $work/b.tar $image"
          --prepare "$berth rmi $image >/dev/null 2>&1; true" -n "berth load" "$berth load -q -i $work/b.tar"
          -n "berth export" "$berth export -o $work/be.tar exp"
          -n "berth import" "$berth import $work/be.tar bench/imported")
if [ "$have_docker" = 1 ]; then
    $dock pull -q "$image" >/dev/null; $dock create --name exp "$image" true >/dev/null
    transfer+=(-n "docker save" "$dock save -o $work/d.tar $image"
               --prepare "$dock rmi $image >/dev/null 2>&1; true" -n "docker load" "$dock load -q -i $work/d.tar"
               -n "docker export" "$dock export -o $work/de.tar exp"
               -n "docker import" "$dock import $work/de.tar bench/imported")
fi
if [ "$have_podman" = 1 ]; then
    $podman pull -q --tls-verify=false "$image" >/dev/null
    transfer+=(-n "podman save" "rm -f $work/p.tar; $podman save -o $work/p.tar $image"
               --prepare "$podman rmi $image >/dev/null 2>&1; true" -n "podman load" "$podman load -q -i $work/p.tar")
fi
# --prepare applies to the commands after it until the next one: give the others a no-op.
args=(); prep="true"
for ((i = 0; i < ${#transfer[@]}; i++)); do
    case "${transfer[$i]}" in
        --prepare) prep="${transfer[$((i + 1))]}"; i=$((i + 1)) ;;
        -n) args+=(--prepare "$prep" -n "${transfer[$((i + 1))]}" "${transfer[$((i + 2))]}"); prep="true"; i=$((i + 2)) ;;
    esac
done
hyperfine --runs 5 --export-json "$work/transfer.json" --style basic "${args[@]}" >&2
$berth rm -f exp >/dev/null; [ "$have_docker" = 1 ] && $dock rm -f exp >/dev/null

echo "timing build of a small Dockerfile, cold and fully cached" >&2
mkdir -p "$work/ctx"
head -c 1048576 /dev/urandom >"$work/ctx/file"
printf 'ARG BASE=busybox\nFROM $BASE\nRUN echo built > /b\nCOPY file /file\nRUN cat /file /b > /copy\nENV A=1\nWORKDIR /srv\nCMD ["sh"]\n' >"$work/ctx/Dockerfile"
build_cold=(-n "berth" "$berth build -q --no-cache -t bench/build $work/ctx")
build_cached=(-n "berth" "$berth build -q -t bench/build $work/ctx")
if [ "$have_docker" = 1 ]; then
    build_cold+=(-n "docker (classic builder)" "DOCKER_BUILDKIT=0 $dock build -q --no-cache -t bench/build $work/ctx")
    build_cached+=(-n "docker (classic builder)" "DOCKER_BUILDKIT=0 $dock build -q -t bench/build $work/ctx")
    # dockerd 20.10's built-in BuildKit, through Debian's docker 20.10 CLI (docker 28 needs buildx for it)
    if [ -x /usr/bin/docker ]; then
        build_cold+=(-n "docker (BuildKit)" "DOCKER_BUILDKIT=1 /usr/bin/docker -H unix://$dsock build -q --no-cache -t bench/build $work/ctx")
        build_cached+=(-n "docker (BuildKit)" "DOCKER_BUILDKIT=1 /usr/bin/docker -H unix://$dsock build -q -t bench/build $work/ctx")
    fi
fi
if [ "$have_podman" = 1 ]; then
    build_cold+=(-n "podman" "$podman build -q --no-cache --build-arg BASE=$pimage -t localhost/bench-build $work/ctx")
    build_cached+=(-n "podman" "$podman build -q --build-arg BASE=$pimage -t localhost/bench-build $work/ctx")
fi
hyperfine --warmup 1 --runs 5 --export-json "$work/build-cold.json" --style basic "${build_cold[@]}" >&2
hyperfine --warmup 1 --runs 10 --export-json "$work/build-cached.json" --style basic "${build_cached[@]}" >&2

echo "timing a rebuild after one source file changed, and one whose RUN reuses a cache mount" >&2
# An edit-and-rebuild loop: a big unchanged COPY stays cached, the changed file's COPY and the
# RUN after it run again. Then a dependency cache: the RUN fills /cache only when it is empty (a
# package manager's download), so a rebuild after an edit keeps it; the classic builder has no
# cache mounts, so that row has no classic column.
mkdir -p "$work/edit" "$work/cachemount"
head -c 4194304 /dev/urandom >"$work/edit/big"
printf 'ARG BASE=busybox\nFROM $BASE\nCOPY big /big\nCOPY src /src\nRUN cat /src > /out\n' >"$work/edit/Dockerfile"
# (no `# syntax=` line: BuildKit would fetch that frontend from a registry; its built-in one knows --mount)
printf 'ARG BASE=busybox\nFROM $BASE\nCOPY src /src\nRUN --mount=type=cache,target=/cache sh -c '"'"'[ -f /cache/deps ] || seq 1 3000000 > /cache/deps; ls -l /cache/deps /src > /out'"'"'\n' >"$work/cachemount/Dockerfile"
edit="date +%s%N > $work/edit/src; date +%s%N > $work/cachemount/src"
build_edit=(-n "berth" "$berth build -q -t bench/edit $work/edit")
build_cachemount=(-n "berth" "$berth build -q -t bench/cachemount $work/cachemount")
if [ "$have_docker" = 1 ]; then
    build_edit+=(-n "docker (classic builder)" "DOCKER_BUILDKIT=0 $dock build -q -t bench/edit $work/edit")
    if [ -x /usr/bin/docker ]; then
        build_edit+=(-n "docker (BuildKit)" "DOCKER_BUILDKIT=1 /usr/bin/docker -H unix://$dsock build -q -t bench/edit $work/edit")
        build_cachemount+=(-n "docker (BuildKit)" "DOCKER_BUILDKIT=1 /usr/bin/docker -H unix://$dsock build -q -t bench/cachemount $work/cachemount")
    fi
fi
if [ "$have_podman" = 1 ]; then
    build_edit+=(-n "podman" "$podman build -q --build-arg BASE=$pimage -t localhost/bench-edit $work/edit")
    build_cachemount+=(-n "podman" "$podman build -q --build-arg BASE=$pimage -t localhost/bench-cachemount $work/cachemount")
fi
hyperfine --warmup 1 --runs 10 --prepare "$edit" --export-json "$work/build-edit.json" --style basic "${build_edit[@]}" >&2
hyperfine --warmup 1 --runs 10 --prepare "$edit" --export-json "$work/build-cachemount.json" --style basic "${build_cachemount[@]}" >&2

mkdir -p "$here/results"
day=$(date -u +%Y-%m-%d)
python3 - "$work" "$here/results/engine-$day" <<PY
import json, sys, platform, os
work, out = sys.argv[1], sys.argv[2]
run = {r["command"]: r for r in json.load(open(f"{work}/run.json"))["results"]}
bridged = {r["command"]: r for r in json.load(open(f"{work}/run-bridge.json"))["results"]}
ps = {r["command"]: r for r in json.load(open(f"{work}/ps.json"))["results"]}
images = {r["command"]: r for r in json.load(open(f"{work}/images.json"))["results"]}
pull = {r["command"]: r for r in json.load(open(f"{work}/pull.json"))["results"]}
transfer = {r["command"]: r for r in json.load(open(f"{work}/transfer.json"))["results"]}
build_cold = {r["command"]: r for r in json.load(open(f"{work}/build-cold.json"))["results"]}
build_cached = {r["command"]: r for r in json.load(open(f"{work}/build-cached.json"))["results"]}
build_edit = {r["command"]: r for r in json.load(open(f"{work}/build-edit.json"))["results"]}
build_cachemount = {r["command"]: r for r in json.load(open(f"{work}/build-cachemount.json"))["results"]}
ms = lambda r: r["median"] * 1000
spread = lambda results: {k: {"median_ms": ms(v), "min_ms": v["min"] * 1000, "max_ms": v["max"] * 1000} for k, v in results.items()}
figures = {
    "run": spread(run),
    "run_default_bridge": spread(bridged),
    "ps_a_with_50": {k: {"median_ms": ms(v)} for k, v in ps.items()},
    "images_with_50": {k: {"median_ms": ms(v)} for k, v in images.items()},
    "cold_pull_150mb": spread(pull),
    "save_load_export_import": spread(transfer),
    "build_cold": spread(build_cold),
    "build_cached": spread(build_cached),
    "build_one_file_changed": spread(build_edit),
    "build_cache_mount_reused": spread(build_cachemount),
    "start_50_ms": {"berth": $berth50, "docker": "$docker50" or None, "podman (runc)": "$podman50" or None},
    "start_50_ms_samples": {"berth": "$berth50_samples".split(), "docker": "${docker50_samples:-}".split(), "podman (runc)": "${podman50_samples:-}".split()},
    "berthd_rss_with_50_kb_samples": "$berthd_50_samples".split(),
    "berth_shim_rss_kb_samples": "$berth_shim_samples".split(),
    "raw_times_s": {name: {k: v["times"] for k, v in results.items()} for name, results in
                    (("run", run), ("run_default_bridge", bridged), ("ps", ps), ("images", images), ("pull", pull),
                     ("transfer", transfer), ("build_cold", build_cold), ("build_cached", build_cached),
                     ("build_one_file_changed", build_edit), ("build_cache_mount_reused", build_cachemount))},
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
# the same client first: the docker CLI against each daemon, so only the engines differ
if "docker CLI → berthd" in run and "docker → dockerd" in run:
    same, theirs = run["docker CLI → berthd"], run["docker → dockerd"]
    lines.append(f"| run --rm true, the docker CLI against each daemon (median, {len(same['times'])} runs) | {ms(same):.1f} ms | docker → dockerd | "
                 f"{ms(theirs):.1f} ms | {ratio(ms(same), ms(theirs))} |")
def compare(label, results, digits=1):
    """One row per peer: berth's median beside the peer's, from the same hyperfine run."""
    ours = results["berth"]
    for name, r in results.items():
        if name != "berth":
            lines.append(f"| {label} | {ms(ours):.{digits}f} ms | {name} | {ms(r):.{digits}f} ms | {ratio(ms(ours), ms(r))} |")
compare(f"run --rm true (median, {len(b['times'])} runs)", run)
compare("run --rm true, default bridge network (median)", bridged)
extra = ms(bridged["berth"]) - ms(run["berth"])
for name, r in bridged.items():
    if name != "berth" and name in run:
        lines.append(f"| default bridge's extra time per run (vs --network none) | {extra:+.1f} ms | {name} | {ms(r) - ms(run[name]):+.1f} ms | |")
for name in ("docker", "podman (runc)"):
    v = figures["start_50_ms"][name]
    if v: lines.append(f"| 50 detached starts (total, median of 3 rounds) | {$berth50} ms | {name} | {v} ms | {ratio($berth50, int(v))} |")
compare("ps -a with 50 containers (median)", ps)
compare("images with 50 containers (median)", images)
compare("cold pull, 5 layers, 150 MB (median of 5)", pull, digits=0)
for op in ("save", "load", "export", "import"):
    ours = transfer.get("berth " + op)
    for peer in ("docker", "podman"):  # podman here on runc
        theirs = transfer.get(f"{peer} {op}")
        if ours and theirs:
            lines.append(f"| {op} of the 150 MB image (median of 5) | {ms(ours):.0f} ms | {peer} | {ms(theirs):.0f} ms | {ratio(ms(ours), ms(theirs))} |")
compare("build, 7 steps, cold (--no-cache) (median)", build_cold, digits=0)
compare("build, 7 steps, fully cached (median)", build_cached, digits=0)
compare("rebuild after one source file changed (median)", build_edit, digits=0)
compare("rebuild reusing a RUN --mount=type=cache (median)", build_cachemount, digits=0)
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
