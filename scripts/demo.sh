#!/usr/bin/env bash
# The main job for now: a busybox bundle run by berth-runtime, showing that it is isolated.
set -euo pipefail
runtime=$(realpath "$1")
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap '"$runtime" --root "$work/state" delete --force demo-detached >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$(dirname "$0")/make-rootfs.sh" "$work/bundle/rootfs"
cd "$work/bundle"
"$runtime" spec
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", """
echo "hostname:        $(hostname)"
echo "my pid:          $$"
echo "processes:       $(ps -o pid= | wc -l) visible"
echo "network devices: $(ls /sys/class/net | tr '\\n' ' ')"
echo "memory limit:    $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "pids limit:      $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
echo "capabilities:    $(grep CapEff /proc/self/status)"
touch /probe 2>/dev/null && echo "root fs:         writable" || echo "root fs:         read-only"
"""]
c["hostname"] = "berth-demo"
c["linux"]["resources"].update({"memory": {"limit": 64 << 20}, "pids": {"limit": 32}})
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "== berth-runtime run (busybox, new namespaces, cgroup limits) =="
"$runtime" --root "$work/state" run demo
echo
echo "== create / start / exec / state / kill / delete =="
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["sleep", "60"]
json.dump(c, open("config.json", "w"), indent=2)
PY
"$runtime" --root "$work/state" create demo-detached </dev/null >/dev/null 2>&1
"$runtime" --root "$work/state" start demo-detached
"$runtime" --root "$work/state" exec demo-detached sh -c 'echo "exec sees: $(ps -o pid=,comm= | tr -s " " | tr "\n" ";")"'
"$runtime" --root "$work/state" state demo-detached | grep -E '"(id|status)"'
"$runtime" --root "$work/state" kill demo-detached KILL
"$runtime" --root "$work/state" delete --force demo-detached
echo "deleted; host cgroups left for it: $(find /sys/fs/cgroup -maxdepth 3 -name demo-detached | wc -l)"
