#!/usr/bin/env bash
# The main job, part two: berthd serving the Docker Engine API, a busybox image imported from
# Debian's busybox-static, and a walk through run, run -d, logs, exec, stop and rm with `berth`;
# then the node's pod network for berthd's CRI socket (a CNI conflist of Debian's plugins).
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
# Pods (CRI) get their network from the first conflist in /etc/cni/net.d, read at each pod's
# start: ours is named to sort first (Debian's podman installs 87-podman-bridge.conflist, which
# podman finds by its network's name, not its place). The firewall plugin accepts each pod in
# FORWARD, whose policy dockerd sets to DROP; a node running kube-proxy may leave it out, as
# containerd's reference conflist does.
cni_conf=/etc/cni/net.d/10-berth.conflist
if ! [ -e "$cni_conf" ]; then
  mkdir -p "$(dirname "$cni_conf")"
  cat > "$cni_conf" <<'CONFLIST'
{
  "cniVersion": "1.0.0",
  "name": "berth-pods",
  "plugins": [
    {"type": "bridge", "bridge": "berth-cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.89.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"}
  ]
}
CONFLIST
fi
echo "== pods: berthd's CRI on /run/berth/cri.sock, their network $cni_conf (bridge berth-cni0, 10.89.0.0/16) =="
echo "berthd keeps running: try 'berth run -it --rm busybox sh', or point docker at it:"
echo "  DOCKER_HOST=unix://$socket docker ps"
echo "and a kubelet: --container-runtime-endpoint=unix:///run/berth/cri.sock"
