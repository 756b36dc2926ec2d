#!/bin/sh
# Boots Debian's kernel under qemu with only the unified cgroup hierarchy (cgroup v2) and runs one
# command inside it, on this machine's own files: the guest's root is an overlay of the host's /
# (shared read-only over 9p) and a tmpfs, so every binary, the test Python and the docker CLI are
# the host's, and nothing the guest writes reaches the host except OUT (shared read-write).
#
# Usage: v2-vm.sh OUT COMMAND...   (OUT: an absolute directory; the command's output goes to
# OUT/console.log, its exit status to OUT/rc). Exits with the command's status, 125 when the guest
# never ran it. Plain emulation (TCG): nested KVM hangs on the machines this was made on.
set -eu
out=$1; shift
case $out in /*) ;; *) echo "v2-vm: OUT must be absolute" >&2; exit 2 ;; esac
mkdir -p "$out"; rm -f "$out/rc"
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "v2-vm: no kernel in /boot (apt-get install linux-image-amd64)" >&2; exit 125; }
version=${kernel#/boot/vmlinuz-}
command -v qemu-system-x86_64 >/dev/null || { echo "v2-vm: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 125; }

work=$(mktemp -d /tmp/berth-v2vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/initrd/bin" "$work/initrd/modules"
cp /bin/busybox "$work/initrd/bin/busybox"

# The modules the initramfs needs to reach the 9p shares, each after what it depends on.
order=""
add_module() {
  case " $order " in *" $1 "*) return ;; esac
  for dep in $(modinfo -k "$version" -F depends "$1" | tr ',' ' '); do add_module "$dep"; done
  file=$(modinfo -k "$version" -n "$1")
  case $file in
    *.ko.xz) xz -dc "$file" > "$work/initrd/modules/$1.ko" ;;
    *.ko.zst) zstd -qdc "$file" > "$work/initrd/modules/$1.ko" ;;
    *) cp "$file" "$work/initrd/modules/$1.ko" ;;
  esac
  order="$order $1"
}
for m in virtio_pci 9pnet_virtio 9p overlay; do add_module "$m"; done
echo "$order" > "$work/initrd/modules/order"

printf '%s\n' "$*" > "$out/command"
cat > "$work/initrd/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /lower /upper /newroot
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in \$(cat /modules/order); do insmod /modules/\$m.ko || echo "v2-vm: insmod \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower
mount -t tmpfs -o size=75% upper /upper; mkdir /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work root /newroot
for d in /run /tmp /var/tmp /var/lib/berth /var/lib/docker /var/lib/berth-peer-docker; do mkdir -p /newroot\$d; mount -t tmpfs tmpfs /newroot\$d; done
chmod 1777 /newroot/tmp
mkdir -p /newroot$out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /newroot$out
for d in proc sys dev; do mount --move /\$d /newroot/\$d; done
exec switch_root /newroot /bin/sh $out/guest.sh
EOF
chmod +x "$work/initrd/init"

# What runs as the guest's PID 1 on the host's files: the mounts a container engine expects, then
# the command, then power off (qemu exits with -no-reboot).
cat > "$out/guest.sh" <<EOF
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
# systemd's layout: PID 1 (and so the command) in init.scope, every controller enabled below the root.
mkdir /sys/fs/cgroup/init.scope && echo \$\$ > /sys/fs/cgroup/init.scope/cgroup.procs
echo "+cpuset +cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null || { mkdir -p /dev/pts; mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts; }
mkdir -p /dev/shm /dev/mqueue; mount -t tmpfs shm /dev/shm; mount -t mqueue mqueue /dev/mqueue
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
hostname berth-v2
ip link set lo up
echo /sbin/modprobe > /proc/sys/kernel/modprobe
modprobe -a overlay veth bridge br_netfilter nf_tables 2>/dev/null
sysctl -qw net.ipv4.ip_forward=1
cd "$PWD"
{ echo "guest: \$(uname -r), \$(nproc) CPUs, cgroup controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"; sh -c "\$(cat $out/command)"; echo \$? > $out/rc; } > $out/console.log 2>&1
sync
busybox poweroff -f
EOF

(cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

timeout "${V2VM_TIMEOUT:-1800}" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "${V2VM_CPUS:-2}" -m "${V2VM_MEMORY:-4096}" \
  -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
  -nographic -no-reboot -nic none \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
  -virtfs local,path="$out",mount_tag=out,security_model=passthrough,multidevs=remap \
  > "$out/serial.log" 2>&1 || true
[ -f "$out/rc" ] || { echo "v2-vm: the guest did not finish its command; serial console:" >&2; tail -n 40 "$out/serial.log" >&2; exit 125; }
exit "$(cat "$out/rc")"
