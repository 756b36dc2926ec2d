"""Confinement by default, seen from inside containers: Docker's seccomp profile (cached once
compiled), its opt-outs, and a user profile."""
import json
import os

import pytest

from conftest import REPO


def seccomp_mode(docker, *flags):
    out = docker.ok("run", "--rm", *flags, "busybox", "grep", "^Seccomp:", "/proc/self/status")
    return out.split()[1]


def test_default_seccomp_profile_and_opt_outs(docker):
    assert seccomp_mode(docker) == "2"  # filtered
    assert seccomp_mode(docker, "--security-opt", "seccomp=unconfined") == "0"
    assert seccomp_mode(docker, "--privileged") == "0"
    # namespace creation is refused by the filter (and needs CAP_SYS_ADMIN anyway) …
    r = docker.docker("run", "--rm", "busybox", "unshare", "-U", "true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    # … and allowed where the profile is lifted
    docker.ok("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true")
    # the compiled filter is kept for the next container
    assert os.listdir(os.path.join(docker.exec_root, "runtime", "seccomp"))


def test_user_seccomp_profile(docker, tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    r = docker.docker("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "mkdir", "/made")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert docker.ok("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c", "echo ok > /tmp/f; cat /tmp/f") == "ok\n"


def test_capabilities_default_add_drop_privileged(docker):
    def effective(*flags):
        out = docker.ok("run", "--rm", *flags, "busybox", "grep", "^CapEff:", "/proc/self/status")
        return int(out.split()[1], 16)
    default = effective()
    assert default == 0xa80425fb  # Docker's 14
    assert effective("--cap-add", "NET_ADMIN") == default | (1 << 12)
    assert effective("--cap-drop", "ALL") == 0
    assert effective("--cap-drop", "ALL", "--cap-add", "CAP_CHOWN") == 1
    assert effective("--privileged") > default
    r = docker.docker("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert r.returncode != 0 and "invalid capability" in r.stderr.lower()


def host_block_device():
    """A block device the host itself may open (a loop device; some VMs forbid opening their disk)."""
    try:
        st = os.stat("/dev/loop0")
        os.close(os.open("/dev/loop0", os.O_RDONLY))
        return os.major(st.st_rdev), os.minor(st.st_rdev)
    except OSError:
        return None


@pytest.mark.parametrize("privileged", [False, True])
def test_escapes_refused_by_default_allowed_when_privileged(docker, privileged):
    """Tried from inside: each must fail confined, and succeed (inside its own namespaces) with
    --privileged."""
    import socket
    flags = ["--privileged"] if privileged else []

    def attempt(script):
        return docker.docker("run", "--rm", *flags, "busybox", "sh", "-c", script)

    checks = {
        "mount": "mkdir -p /m && mount -t tmpfs none /m",
        "proc-sys": "echo berth-test > /proc/sys/kernel/domainname",
        "hostname": "hostname confined-test",
        "unshare": "unshare -n true",
    }
    not_run = []
    if os.path.exists("/proc/sysrq-trigger"):
        checks["sysrq"] = "echo h > /proc/sysrq-trigger"
    else:
        not_run.append("sysrq (this kernel has no /proc/sysrq-trigger)")
    device = host_block_device()
    if device:
        checks["block-device"] = f"mknod /tmp/disk b {device[0]} {device[1]} && head -c 512 /tmp/disk > /dev/null"
    else:
        not_run.append("block-device (the host has no block device)")
    for name, script in checks.items():
        r = attempt(script)
        if privileged:
            assert r.returncode == 0, (name, r.stderr)
        else:
            assert r.returncode != 0, (name, r.stdout)
            assert any(s in r.stderr.lower() for s in ("not permitted", "read-only file system", "permission denied")), (name, r.stderr)
    # module loading: a module file that exists, so only the permission check can refuse it
    # confined; privileged, the call reaches the kernel, which rejects the bytes (or has no
    # module support) with another error than EPERM
    r = attempt("head -c 4096 /dev/urandom > /tmp/m.ko && insmod /tmp/m.ko")
    assert r.returncode != 0
    if privileged:
        assert "not permitted" not in r.stderr.lower(), r.stderr
    else:
        assert "not permitted" in r.stderr.lower(), r.stderr
    counted = len(checks) + 1
    print(f"escape attempts {'privileged' if privileged else 'confined'}: {counted} run" + (f"; not run: {', '.join(not_run)}" if not_run else ""))
    results = os.path.join(REPO, "tests", "results", "escapes.json")
    os.makedirs(os.path.dirname(results), exist_ok=True)
    previous = json.load(open(results)) if os.path.exists(results) else {}
    previous[f"{docker.binary.split('/')[-1]}-{'privileged' if privileged else 'confined'}"] = {"run": counted, "not_run": not_run}
    with open(results, "w") as f:
        json.dump(previous, f, indent=1, sort_keys=True)
        f.write("\n")
    # the host's hostname, processes and interfaces stay out of reach either way
    assert socket.gethostname() != "confined-test"
    ps = docker.ok("run", "--rm", *flags, "busybox", "ps", "-o", "pid,comm")
    assert "berthd" not in ps and len(ps.strip().splitlines()) == 2
    links = docker.ok("run", "--rm", *flags, "busybox", "ip", "-o", "link")
    assert "eth0" in links and docker.bridge not in links


def test_no_host_fds_cwd_or_runtime_binary_reach_the_container(docker):
    """CVE-2024-21626 and CVE-2019-5736 classes: nothing of the host's runtime stays reachable."""
    cid = docker.ok("run", "-d", "busybox", "sleep", "60").strip()
    try:
        for out in (docker.ok("run", "--rm", "busybox", "ls", "/proc/self/fd"), docker.ok("exec", cid, "ls", "/proc/self/fd")):
            assert sorted(out.split()) == ["0", "1", "2", "3"]  # stdio, and ls's own directory
        assert docker.ok("exec", cid, "readlink", "/proc/1/cwd").strip() == "/"
        assert docker.ok("exec", cid, "readlink", "/proc/1/exe").strip() == "/bin/busybox"
        assert docker.ok("exec", "-w", "/tmp", cid, "sh", "-c", "readlink /proc/self/cwd").strip() == "/tmp"
    finally:
        docker.docker("rm", "-f", cid)


def test_device_flag_maps_one_device(docker):
    device = host_block_device()
    if device is None:
        pytest.skip("no openable loop device on this host")
    docker.ok("run", "--rm", "--device", "/dev/loop0", "busybox", "head", "-c", "1", "/dev/loop0")
    out = docker.ok("run", "--rm", "--device", "/dev/loop0:/dev/xdisk:r", "busybox", "sh", "-c",
                    "ls -l /dev/xdisk; head -c 1 /dev/xdisk && echo read-ok; echo x > /dev/xdisk || echo write-refused")
    assert out.startswith("b") and "read-ok" in out and "write-refused" in out
    r = docker.docker("run", "--rm", "--device", "/dev/does-not-exist", "busybox", "true")
    assert r.returncode != 0 and "does-not-exist" in r.stderr


def test_runtime_binary_cannot_be_overwritten_from_a_container(bundle):
    """CVE-2019-5736: the runtime binary a container could reach (through /proc/<pid>/exe, or by
    exec'ing /proc/self/exe) is a read-only copy; the host's file cannot be reopened for writing
    through it, during the run or after the runtime has exited."""
    import errno
    import hashlib
    import subprocess
    import time
    from conftest import RUNTIME
    digest = hashlib.sha256(open(RUNTIME, "rb").read()).hexdigest()
    bundle.set_args("sleep", "30")
    bundle.write()
    cid = bundle.new_id()
    p = subprocess.Popen([RUNTIME, "--root", bundle.root, "run", cid], cwd=bundle.path, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and bundle.cmd("state", cid).returncode != 0:
            time.sleep(0.05)
        fd = os.open(f"/proc/{p.pid}/exe", os.O_PATH)
        with pytest.raises(OSError) as e:
            os.open(f"/proc/{p.pid}/exe", os.O_WRONLY)
        assert e.value.errno in (errno.EROFS, errno.ETXTBSY)
    finally:
        bundle.cmd("kill", cid, "KILL")
        p.wait(timeout=30)
    # the attack's step: reopen the runtime for writing once it has exited
    try:
        with pytest.raises(OSError) as e:
            os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        assert e.value.errno == errno.EROFS
    finally:
        os.close(fd)
    assert hashlib.sha256(open(RUNTIME, "rb").read()).hexdigest() == digest
    # /proc/self/exe as the container's program reaches only the runtime's sealed copy: a static
    # runtime runs (and cannot write itself), a dynamic one finds no loader in the container's
    # root; either way the host's binary is untouched.
    bundle.set_args("/proc/self/exe", "--version")
    r = bundle.run()
    assert (r.returncode == 0 and "berth-runtime version" in r.stdout) or (r.returncode == 127 and "no such file" in r.stderr), r
    assert hashlib.sha256(open(RUNTIME, "rb").read()).hexdigest() == digest


def test_containers_are_forked_from_a_read_only_shim(docker):
    """CVE-2019-5736 through the engine: every container's init and exec'd process is forked from
    the shim template, so the shim's binary is what /proc/<shim>/exe and a container program that
    execs /proc/self/exe reach. It must be a read-only copy: a running binary refuses writers
    (ETXTBSY) only while some process runs it, a read-only mount always. The host's file stays
    unchanged."""
    import errno
    import hashlib
    from conftest import BIN
    shim_binary = os.path.join(BIN, "berth-shim")
    digest = hashlib.sha256(open(shim_binary, "rb").read()).hexdigest()
    cid = docker.ok("run", "-d", "busybox", "sleep", "30").strip()
    try:
        pid = int(docker.ok("inspect", "-f", "{{.State.Pid}}", cid))
        shim = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        assert open(f"/proc/{shim}/cmdline").read().split("\0")[0].endswith("berth-shim")
        assert os.statvfs(f"/proc/{shim}/exe").f_flag & os.ST_RDONLY
        fd = os.open(f"/proc/{shim}/exe", os.O_PATH)
    finally:
        docker.docker("rm", "-f", cid)
    # the attack's step, once this container's shim has gone: reopen the binary for writing
    try:
        with pytest.raises(OSError) as e:
            os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        assert e.value.errno in (errno.EROFS, errno.ETXTBSY)  # ETXTBSY first while a shim runs it
    finally:
        os.close(fd)
    # /proc/self/exe as the container's program reaches only the shim's read-only copy: a static
    # shim runs (and cannot write itself), a dynamic one finds no loader in the container's root
    r = docker.docker("run", "--rm", "--entrypoint", "/proc/self/exe", "busybox", "--version")
    assert (r.returncode == 0 and "berth-shim version" in r.stdout) or (r.returncode == 127 and "no such file" in r.stderr), r
    assert hashlib.sha256(open(shim_binary, "rb").read()).hexdigest() == digest


def test_cp_races_with_symlink_swaps_stay_inside(daemon, tmp_path):
    """CVE-2018-15664: while the container swaps a directory with a symlink to / as fast as it
    can, `docker cp` in and out through that path must only ever touch the container's files."""
    import uuid
    marker = f"berth-cve-15664-{uuid.uuid4().hex[:8]}"
    host_secret = f"/{marker}-secret"
    with open(host_secret, "w") as f:
        f.write("host only\n")
    src = tmp_path / "payload"
    src.write_text("payload\n")
    cid = daemon.ok("run", "-d", "busybox", "sh", "-c",
                    "mkdir -p /w/d.real; while true; do ln -sfn / /w/d.tmp; mv -T /w/d.tmp /w/d; "
                    "rm /w/d; ln -sfn /w/d.real /w/d.tmp; mv -T /w/d.tmp /w/d; rm /w/d; mkdir -p /w/d; rmdir /w/d; done").strip()
    try:
        for i in range(60):
            put = daemon.docker("cp", str(src), f"{cid}:/w/d/{marker}-{i}")
            # the race may leave no directory to copy into at that instant; nothing else may go wrong
            assert put.returncode == 0 or any(s in put.stderr for s in ("Could not find the file", "not a directory", "no such file or directory")), put.stderr
            out = daemon.docker("cp", f"{cid}:/w/d{host_secret}", "-")
            assert b"host only" not in out.stdout.encode(errors="replace")
        written = [name for name in os.listdir("/") if name.startswith(marker) and not name.endswith("-secret")]
        assert written == [], f"written on the host: {written}"
        # the daemon answered every attempt, whichever way the race went, and is still up
        assert daemon.ok("exec", cid, "true") == ""
    finally:
        daemon.docker("rm", "-f", cid)
        for name in os.listdir("/"):
            if name.startswith(marker):
                os.remove("/" + name)
