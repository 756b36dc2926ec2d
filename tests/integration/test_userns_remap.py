"""`--userns-remap=default`: every container's root is an unprivileged ID range on the host
(dockremap's, made with its /etc/subuid and /etc/subgid ranges when missing, as dockerd does),
its rootfs shown through idmapped layers so images stay stored once with their real owners;
`--userns=host` opts a container out, and `--privileged` needs it."""
import json
import os
import subprocess

import pytest

from conftest import DOCKER, TIMEOUT, Daemon, api


def subordinate(user):
    for line in open("/etc/subuid"):
        name, start, count = line.strip().split(":")
        if name == user:
            return int(start), int(count)
    return None


@pytest.fixture(scope="module")
def remapped(rootfs_template, tmp_path_factory):
    had_user = subprocess.run(["id", "dockremap"], capture_output=True, timeout=TIMEOUT).returncode == 0
    saved = {f: open(f).read() if os.path.exists(f) else None for f in ("/etc/subuid", "/etc/subgid")}
    d = Daemon(extra_args=["--userns-remap=default"])
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, check=True, timeout=60)
        d.range = subordinate("dockremap")
        d.tmp = tmp_path_factory.mktemp("userns")
        os.chmod(d.tmp, 0o755)  # reachable by the remapped root; what is inside decides the rest
        for parent in d.tmp.parents:
            if str(parent).startswith("/tmp/pytest-of-"):
                os.chmod(parent, 0o711)
        yield d
    finally:
        d.stop()
        if not had_user:  # leave the host as it was
            subprocess.run(["userdel", "dockremap"], capture_output=True, timeout=TIMEOUT)
            for path, text in saved.items():
                if text is None:
                    os.unlink(path)
                else:
                    with open(path, "w") as f:
                        f.write(text)


def test_container_root_is_an_unprivileged_host_id(remapped):
    start, count = remapped.range
    assert count >= 65536
    out = remapped.ok("run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map; id -u; stat -c %u /bin/busybox; touch /made && stat -c %u /made")
    lines = out.split("\n")
    assert lines[0].split() == ["0", str(start), str(count)]
    assert lines[1:4] == ["0", "0", "0"], out  # root, and the image's files are root's
    cid = remapped.ok("run", "-d", "busybox", "sleep", "60").strip()
    try:
        pid = remapped.ok("inspect", "-f", "{{.State.Pid}}", cid).strip()
        assert os.stat(f"/proc/{pid}").st_uid == start
        assert remapped.ok("exec", cid, "id", "-u") == "0\n"
        # host root's private files stay out of reach
        secret = remapped.tmp / "secret"
        secret.write_text("host only\n")
        os.chmod(secret, 0o600)
        r = remapped.docker("run", "--rm", "-v", f"{remapped.tmp}:/host", "busybox", "cat", "/host/secret")
        assert r.returncode != 0 and "Permission denied" in r.stderr, r.stdout + r.stderr
        if os.path.exists("/proc/sysrq-trigger"):
            r = remapped.docker("exec", cid, "sh", "-c", "echo 1 > /proc/sysrq-trigger")
            assert r.returncode != 0 and ("Read-only file system" in r.stderr or "Permission denied" in r.stderr), r.stderr
        else:
            print("not checked: /proc/sysrq-trigger (this kernel has none)")
    finally:
        remapped.docker("rm", "-f", cid)


def test_layers_keep_their_real_owners(remapped):
    remapped.ok("run", "--name", "owner", "busybox", "sh", "-c", "echo app:x:1234:1234::/:/bin/sh >> /etc/passwd && touch /f && chown 1234:1234 /f")
    try:
        remapped.ok("commit", "owner", "owner:1")
        # with and without remapping, the committed layer reads the same
        for extra in ([], ["--userns=host"]):
            assert remapped.ok("run", "--rm", *extra, "owner:1", "stat", "-c", "%u %U", "/f") == "1234 app\n"
        # as stored (the container is stopped: its layer read as it is on disk), 1234, not 1234 + the range
        stored = subprocess.run([DOCKER, "cp", "owner:/f", "-"], env=remapped.env(), capture_output=True, timeout=60).stdout
        assert " 1234/1234 " in subprocess.run(["tar", "-tvnf", "-"], input=stored, capture_output=True, timeout=60).stdout.decode()
    finally:
        remapped.docker("rm", "-f", "owner")
        remapped.docker("rmi", "owner:1")


def test_volumes_cp_and_export_in_container_terms(remapped):
    start, _ = remapped.range
    cid = remapped.ok("run", "-d", "-v", "remapvol:/data", "busybox", "sleep", "60").strip()
    try:
        assert remapped.ok("exec", cid, "sh", "-c", "touch /data/f && stat -c %u /data/f") == "0\n"
        data = remapped.ok("volume", "inspect", "-f", "{{.Mountpoint}}", "remapvol").strip()
        assert os.stat(os.path.join(data, "f")).st_uid == start
        src = remapped.tmp / "in.txt"
        src.write_text("copied\n")
        remapped.ok("cp", str(src), f"{cid}:/in.txt")
        assert remapped.ok("exec", cid, "stat", "-c", "%u %g", "/in.txt") == "0 0\n"
        listing = subprocess.run([DOCKER, "cp", f"{cid}:/in.txt", "-"], env=remapped.env(), capture_output=True, timeout=60).stdout
        listed = subprocess.run(["tar", "-tvf", "-"], input=listing, capture_output=True, timeout=60).stdout.decode()
        assert " 0/0 " in listed, listed
        exported = subprocess.run([DOCKER, "export", cid], env=remapped.env(), capture_output=True, timeout=60).stdout
        owners = subprocess.run(["tar", "-tvf", "-", "bin/busybox"], input=exported, capture_output=True, timeout=60).stdout.decode()
        assert " 0/0 " in owners, owners
    finally:
        remapped.docker("rm", "-f", cid)
        remapped.docker("volume", "rm", "remapvol")


def test_userns_host_and_privileged(remapped):
    assert remapped.ok("run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map").split() == ["0", "0", "4294967295"]
    r = remapped.docker("run", "--rm", "--privileged", "busybox", "true")
    assert r.returncode == 125
    assert "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode" in r.stderr
    assert remapped.ok("run", "--rm", "--privileged", "--userns=host", "busybox", "cat", "/proc/self/uid_map").split() == ["0", "0", "4294967295"]
    assert "name=userns" in remapped.ok("info", "--format", "{{json .SecurityOptions}}")
    # the docker CLI checks --userns itself; the API answers other clients the same way
    status, _, body = api(remapped, "POST", "/containers/create", json.dumps({"Image": "busybox", "HostConfig": {"UsernsMode": "private"}}),
                          {"Content-Type": "application/json"})
    assert status == 400 and b"invalid USER mode: private" in body


def test_build_steps_run_remapped(remapped):
    ctx = remapped.tmp / "ctx"
    ctx.mkdir()
    (ctx / "file.txt").write_text("context\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY file.txt /file.txt\nRUN cat /proc/self/uid_map && chown 7:7 /file.txt\n")
    r = subprocess.run([DOCKER, "build", "-t", "remapbuild:1", str(ctx)], env=dict(remapped.env(), DOCKER_BUILDKIT="0"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    start, count = remapped.range
    assert f"0 {start} {count}".split() == [line for line in r.stdout.splitlines() if line.strip().startswith("0 ")][0].split()
    try:
        assert remapped.ok("run", "--rm", "--userns=host", "remapbuild:1", "stat", "-c", "%u %g", "/file.txt") == "7 7\n"
    finally:
        remapped.docker("rmi", "remapbuild:1")
