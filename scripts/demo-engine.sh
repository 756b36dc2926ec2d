#!/usr/bin/env bash
# The main job, part two: berthd serving the Docker Engine API, a busybox image imported from
# Debian's busybox-static, and a walk through run, run -d, logs, exec, stop and rm with `berth`.
set -euo pipefail
bin=$(realpath "$1")
berth="$bin/berth"
socket=/run/berth/berth.sock
if ! [ -S "$socket" ] || ! "$berth" version >/dev/null 2>&1; then
  echo "== starting berthd (data /var/lib/berth, socket $socket, log /var/log/berthd.log) =="
  setsid "$bin/berthd" </dev/null >>/var/log/berthd.log 2>&1 &
  for _ in $(seq 100); do [ -S "$socket" ] && "$berth" version >/dev/null 2>&1 && break; sleep 0.1; done
fi
"$berth" version | sed -n '1,2p;7,9p'
rootfs=$(mktemp -d /tmp/berth-demo-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"; "$berth" rm -f demo-ticker >/dev/null 2>&1 || true' EXIT
"$(dirname "$0")/make-rootfs.sh" "$rootfs"
echo
echo "== berth import (busybox-static rootfs → busybox:latest) =="
tar -C "$rootfs" -c . | "$berth" import -c 'CMD ["sh"]' - busybox:latest
"$berth" images busybox
echo
echo "== berth run --rm busybox … =="
"$berth" run --rm -h demo busybox sh -c 'echo "hello from $(hostname), pid $$, $(ps -o pid= | wc -l) process(es) visible"'
echo
echo "== berth run -d, logs, exec, ps =="
"$berth" run -d --name demo-ticker -m 64m busybox sh -c 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.5; done'
sleep 1.2
"$berth" logs demo-ticker
"$berth" exec demo-ticker sh -c 'echo "exec inside: memory limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max) bytes"'
"$berth" ps --filter name=demo-ticker
echo
echo "== berth stop, rm =="
"$berth" stop -t 1 demo-ticker
"$berth" ps -a --filter name=demo-ticker --format 'table {{.Names}}\t{{.Status}}'
"$berth" rm demo-ticker
echo
echo "berthd keeps running: try 'berth run -it --rm busybox sh', or point docker at it:"
echo "  DOCKER_HOST=unix://$socket docker ps"
