"""Images across engines and across crashes: podman reads our `save`, we read podman's, and a
berthd killed with -9 in the middle of a load comes back with a consistent store."""
import glob
import os
import shutil
import subprocess
import tempfile
import time


from conftest import run_captured, stop_process

PODMAN = shutil.which("podman")


def podman(*args, timeout=120):
    # runc: crun refuses this host's hybrid cgroup layout; the tests never run a podman container.
    return run_captured([PODMAN, "--runtime", "runc", *args], timeout=timeout)


def test_podman_loads_our_save_and_we_load_podmans(daemon, tmp_path):
    assert PODMAN, "podman is needed (make deps installs it)"
    docker = daemon
    image_id = docker.ok("inspect", "-f", "{{.Id}}", "busybox").strip()
    docker.ok("tag", "busybox", "berth-interop:v1")
    docker.ok("save", "-o", str(tmp_path / "ours.tar"), "berth-interop:v1")
    try:
        r = podman("load", "-i", str(tmp_path / "ours.tar"))
        assert r.returncode == 0, r.stderr
        r = podman("image", "inspect", "--format", "{{.Id}}", "localhost/berth-interop:v1")
        if r.returncode != 0:
            r = podman("image", "inspect", "--format", "{{.Id}}", "docker.io/library/berth-interop:v1")
        assert r.returncode == 0 and r.stdout.strip() == image_id[7:], r.stdout + r.stderr
        r = podman("save", "-o", str(tmp_path / "theirs.tar"), "docker.io/library/berth-interop:v1")
        assert r.returncode == 0, r.stderr
        docker.ok("rmi", "berth-interop:v1")
        out = docker.ok("load", "-i", str(tmp_path / "theirs.tar"))
        assert "Loaded image" in out
        assert docker.ok("run", "--rm", "berth-interop:v1", "echo", "round trip") == "round trip\n"
    finally:
        podman("rmi", "-f", "docker.io/library/berth-interop:v1", "localhost/berth-interop:v1")
        docker.docker("rmi", "berth-interop:v1")


def test_kill9_during_load_leaves_a_consistent_store(daemon, tmp_path):
    docker = daemon
    # A busybox image plus a 150 MB layer of random bytes: long enough to kill mid-load.
    build = tmp_path / "build"
    build.mkdir()
    with open(build / "blob", "wb") as f:
        f.write(os.urandom(150 << 20))
    tar = subprocess.run(["tar", "-C", str(build), "-c", "."], capture_output=True, check=True, timeout=60).stdout
    p = subprocess.run([docker.binary, "import", "-", "bulky:v1"], input=tar, env=docker.env(), capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    docker.ok("save", "-o", str(tmp_path / "bulky.tar"), "bulky:v1")
    docker.ok("rmi", "bulky:v1")
    saved = os.path.getsize(tmp_path / "bulky.tar")
    loader = subprocess.Popen([docker.binary, "load", "-i", str(tmp_path / "bulky.tar")], env=docker.env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The kill must land inside the load: once berthd holds the whole upload (its spool file has
    # every byte) and while the client still waits for the answer.
    spool = os.path.join(docker.data, "tmp")
    deadline = time.monotonic() + 60
    def uploaded():
        sizes = []
        for body in glob.glob(os.path.join(spool, "upload-*", "body")):
            try:
                sizes.append(os.path.getsize(body))
            except FileNotFoundError:
                pass  # a load that just ended removes its spool
        return saved in sizes

    while not uploaded():
        assert loader.poll() is None, "the load finished before its upload was seen complete"
        assert time.monotonic() < deadline, "the upload never completed"
        time.sleep(0.002)
    assert loader.poll() is None, "the load finished before the kill"
    docker.kill9()
    loader.wait(timeout=30)
    docker.start()
    try:
        images = docker.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        assert "busybox:latest" in images  # what was there is intact; bulky is all or nothing
        if "bulky:v1" in images:
            assert docker.ok("inspect", "-f", "{{len .RootFS.Layers}}", "bulky:v1").strip() == "1"
        out = docker.ok("load", "-i", str(tmp_path / "bulky.tar"), timeout=120)
        assert "Loaded image: bulky:v1" in out
        assert docker.ok("run", "--rm", "busybox", "echo", "still fine") == "still fine\n"
    finally:
        docker.docker("rmi", "-f", "bulky:v1")


DOCKERD = shutil.which("dockerd")


def test_real_docker_loads_our_save(daemon, tmp_path):
    assert DOCKERD, "dockerd (docker.io) is needed (make deps installs it)"
    """dockerd itself (Debian's docker.io, on private roots, no networking set-up) loads our save."""
    docker = daemon
    docker.ok("save", "-o", str(tmp_path / "ours.tar"), "busybox")
    image_id = docker.ok("inspect", "-f", "{{.Id}}", "busybox").strip()
    root = tempfile.mkdtemp(prefix="berth-dockerd-", dir="/var/tmp")
    run_dir = tempfile.mkdtemp(prefix="berth-dockerd-", dir="/run")
    sock = f"unix://{run_dir}/docker.sock"
    log = open(os.path.join(root, "dockerd.log"), "w")
    proc = subprocess.Popen([DOCKERD, "--data-root", root + "/data", "--exec-root", run_dir + "/exec", "-H", sock,
                             "--pidfile", run_dir + "/dockerd.pid", "--iptables=false", "--bridge=none",
                             "--containerd-namespace", "berth-test", "--containerd-plugins-namespace", "berth-test-plugins"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    env = dict(os.environ, DOCKER_HOST=sock)
    try:
        deadline = time.time() + 60
        while run_captured(["docker", "version"], env=env, timeout=10).returncode != 0:
            assert time.time() < deadline and proc.poll() is None, open(root + "/dockerd.log").read()[-2000:]
            time.sleep(0.2)
        r = run_captured(["docker", "load", "-i", str(tmp_path / "ours.tar")], env=env, timeout=120)
        assert r.returncode == 0 and "Loaded image: busybox:latest" in r.stdout, r.stdout + r.stderr
        r = run_captured(["docker", "inspect", "-f", "{{.Id}}", "busybox:latest"], env=env, timeout=30)
        assert r.stdout.strip() == image_id
    finally:
        stop_process(proc)
        subprocess.run(["pkill", "-f", "containerd --config " + run_dir], timeout=30)
        for base in (run_dir, root):
            mounts = [line.split()[4] for line in open("/proc/self/mountinfo") if line.split()[4].startswith(base)]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], timeout=30)
            shutil.rmtree(base, ignore_errors=True)
