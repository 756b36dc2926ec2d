"""Namespaces, filesystem and identity: each really isolated, observed from inside the container."""
import os


def run_sh(bundle, script):
    bundle.set_args("sh", "-c", script)
    return bundle.run()


def test_uts_namespace_sets_hostname_without_touching_the_host(bundle):
    host = os.uname().nodename
    bundle.config["hostname"] = "isolated-host"
    bundle.config["domainname"] = "example.test"
    r = run_sh(bundle, "hostname; cat /proc/sys/kernel/domainname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["isolated-host", "example.test"]
    assert os.uname().nodename == host


def test_pid_namespace_makes_the_process_pid_1_and_hides_the_host(bundle):
    r = run_sh(bundle, "echo $$; ps -o pid= | wc -l")
    assert r.returncode == 0, r.stderr
    pid, count = r.stdout.split()
    assert pid == "1"
    assert int(count) <= 3  # sh, ps, wc


def test_new_network_namespace_has_only_loopback(bundle):
    r = run_sh(bundle, "ls /sys/class/net")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["lo"]


def test_ipc_and_mount_namespaces_differ_from_the_host(bundle):
    r = run_sh(bundle, "for n in ipc mnt uts net; do readlink /proc/self/ns/$n; done")
    assert r.returncode == 0, r.stderr
    inside = r.stdout.split()
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("ipc", "mnt", "uts", "net")]
    assert all(a != b for a, b in zip(inside, host)), (inside, host)


def test_mounts_are_private_to_the_container(bundle):
    bundle.config["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    bundle.config["process"]["capabilities"]["effective"].append("CAP_SYS_ADMIN")
    bundle.config["process"]["capabilities"]["permitted"].append("CAP_SYS_ADMIN")
    r = run_sh(bundle, "mount -t tmpfs none /tmp && grep -c ' /tmp ' /proc/self/mountinfo; grep -c /work /proc/self/mountinfo || true")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "0"]
    with open("/proc/self/mountinfo") as f:
        assert bundle.config["root"]["path"] + "/tmp" not in f.read()


def test_readonly_root_refuses_writes(bundle):
    r = run_sh(bundle, "touch /probe")
    assert r.returncode == 1
    assert "Read-only file system" in r.stderr


def test_writable_root_when_not_readonly(bundle, writable_rootfs):
    bundle.config["root"] = {"path": writable_rootfs, "readonly": False}
    r = run_sh(bundle, "echo data > /probe && cat /probe")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "data"
    assert open(os.path.join(writable_rootfs, "probe")).read() == "data\n"


def test_user_namespace_maps_root_to_an_unprivileged_host_id(bundle):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    r = run_sh(bundle, "cat /proc/self/uid_map; id -u")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1] == "0"


def test_process_user_umask_cwd_env_and_home(bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 0o077}
    bundle.config["process"]["cwd"] = "/home/user"
    bundle.config["process"]["env"].append("GREETING=hi")
    r = run_sh(bundle, "id; pwd; umask; echo $GREETING $HOME")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[0].startswith("uid=1000(user) gid=1000(user) groups=5"), out[0]
    assert out[1:4] == ["/home/user", "0077", "hi /home/user"]


def test_capabilities_are_exactly_the_spec_sets(bundle):
    r = run_sh(bundle, "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status")
    assert r.returncode == 0, r.stderr
    caps = dict(line.split(":\t") for line in r.stdout.strip().split("\n"))
    # runc's default spec: AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10).
    expected = format((1 << 29) | (1 << 5) | (1 << 10), "016x")
    assert caps == {"CapPrm": expected, "CapEff": expected, "CapBnd": expected}


def test_no_new_privileges_and_rlimits(bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
    r = run_sh(bundle, "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["NoNewPrivs:", "1", "256", "512"]


def test_default_devices_and_links_exist(bundle):
    r = run_sh(bundle, "ls -l /dev/null /dev/zero /dev/urandom /dev/tty | cut -c1; readlink /dev/fd; readlink /dev/ptmx; echo ok > /dev/null && echo writable")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out[:4] == ["c", "c", "c", "c"]
    assert out[4:] == ["/proc/self/fd", "pts/ptmx", "writable"]


def test_device_cgroup_denies_unlisted_devices(bundle):
    # A block device the container may not use: making the node is allowed (runc's default rules),
    # opening it is refused by the device cgroup.
    for s in ("bounding", "effective", "permitted"):
        bundle.config["process"]["capabilities"][s].append("CAP_MKNOD")
    r = run_sh(bundle, "mknod /dev/sda8 b 8 8 && echo made && head -c1 /dev/sda8")
    assert r.returncode != 0 and r.stdout == "made\n"
    assert "Operation not permitted" in r.stderr


def test_masked_and_readonly_paths(bundle):
    # /proc/keys and /proc/timer_list exist on every kernel here (kcore does not on all).
    r = run_sh(bundle, "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/ctrl-alt-del")
    assert r.returncode == 1
    assert r.stdout.split() == ["0", "0", "0"]
    assert "Read-only file system" in r.stderr


def test_sysctl_in_the_container_network_namespace(bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_before = f.read()
    r = run_sh(bundle, "cat /proc/sys/net/ipv4/ip_forward")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_before


def test_bind_mounts_with_readonly_option(bundle, tmp_path):
    (tmp_path / "data.txt").write_text("shared\n")
    bundle.config["mounts"].append({"destination": "/mnt/data", "type": "bind", "source": str(tmp_path),
                                    "options": ["rbind", "ro", "nosuid", "nodev"]})
    r = run_sh(bundle, "cat /mnt/data/data.txt; touch /mnt/data/x")
    assert r.returncode == 1
    assert r.stdout.strip() == "shared"
    assert "Read-only file system" in r.stderr


def test_symlinked_mount_destination_stays_inside_the_rootfs(bundle, writable_rootfs, tmp_path):
    # A hostile image: /escape -> / on the host. The mount must land inside the rootfs.
    os.symlink("/", os.path.join(writable_rootfs, "escape"))
    bundle.config["root"] = {"path": writable_rootfs, "readonly": False}
    bundle.config["mounts"].append({"destination": "/escape/berth-escape-probe", "type": "tmpfs", "source": "tmpfs"})
    r = run_sh(bundle, "grep -c berth-escape-probe /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists("/berth-escape-probe")
    assert os.path.isdir(os.path.join(writable_rootfs, "berth-escape-probe"))


def test_seccomp_profile_is_applied(bundle):
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    bundle.config["root"]["readonly"] = False
    r = run_sh(bundle, "mkdir /tmp/x-$$")
    assert r.returncode == 1
    assert "Operation not permitted" in r.stderr


def test_unusable_seccomp_profile_is_refused_not_ignored(bundle):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_BOGUS"}
    bundle.set_args("true")
    r = bundle.run()
    assert r.returncode == 1
    assert "seccomp: unknown action SCMP_ACT_BOGUS" in r.stderr
