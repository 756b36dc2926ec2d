"""Progress where work is long, as a user sees it: on a terminal (a real pty) `load` draws a bar per
layer as its blob is read and `build` redraws its "Sending build context" line as the context goes
out; through a pipe both print plain lines only. The docker CLI against berthd and `berth` alike."""
import fcntl
import os
import select
import struct
import subprocess
import termios
import time
import uuid

from conftest import BERTH, TIMEOUT
from registry_support import Registry


def on_terminal(daemon, args, timeout=60):
    """Runs the client with stdout and stderr on a fresh pty; returns its exit code and all it wrote."""
    master, slave = os.openpty()
    # a terminal's size, as a real one has (the docker CLI draws no bar on a 0-column terminal)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen([daemon.binary, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=daemon.env(), start_new_session=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the client exited and the pty is drained
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)


def saved_image(docker, image, archive):
    """An image with a 3 MB layer of its own (busybox's is already here, and a present layer is
    skipped, as in dockerd), saved to `archive` and removed."""
    name = "progress-" + uuid.uuid4().hex[:8]
    docker.ok("run", "--name", name, "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /big")
    docker.ok("commit", name, image)
    docker.ok("rm", name)
    docker.ok("save", "-o", archive, image)
    docker.ok("rmi", image)


def test_load_draws_layer_bars_on_a_terminal_and_plain_lines_otherwise(docker, tmp_path):
    image = "progress-" + uuid.uuid4().hex[:8] + ":load"
    archive = str(tmp_path / "image.tar")
    saved_image(docker, image, archive)

    code, seen = on_terminal(docker, ["load", "-i", archive])
    assert code == 0, seen
    assert b"Loading layer" in seen and b"[=" in seen and b"MB" in seen, seen
    assert b"Loaded image: " + image.encode() in seen, seen
    docker.ok("rmi", image)

    piped = docker.ok("load", "-i", archive)
    assert "Loading layer" not in piped and "[=" not in piped, piped
    assert f"Loaded image: {image}" in piped
    docker.ok("rmi", image)


def test_build_redraws_the_context_line_on_a_terminal_and_prints_it_once_otherwise(daemon, tmp_path):
    before, daemon.binary = daemon.binary, BERTH
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "data").write_bytes(os.urandom(3 << 20))
    (context / "Dockerfile").write_text("FROM busybox\nCOPY data /data\n")
    tag = "progress-" + uuid.uuid4().hex[:8] + ":build"
    try:
        code, seen = on_terminal(daemon, ["build", "--progress=plain", "-t", tag, str(context)])
        assert code == 0, seen
        line = b"Sending build context to Docker daemon  "
        assert seen.count(b"\r" + line) >= 3, seen[:600]  # every 512 KiB of 3 MiB, and the last
        assert b"3.15MB\r\n" in seen, seen[:600]

        piped = subprocess.run([BERTH, "build", "--progress=plain", "-t", tag, str(context)], env=daemon.env(),
                               capture_output=True, timeout=TIMEOUT)
        assert piped.returncode == 0, piped.stderr
        assert piped.stdout.count(line) == 1 and b"\r" not in piped.stdout, piped.stdout[:600]
        assert line + b"3.15MB\n" in piped.stdout
    finally:
        daemon.docker("rmi", tag)
        daemon.binary = before


def test_save_and_export_refuse_a_terminal_before_asking_the_daemon(docker):
    name = "progress-" + uuid.uuid4().hex[:8]
    docker.ok("create", "--name", name, "busybox", "true")
    for args in (["save", "busybox"], ["export", name]):
        code, seen = on_terminal(docker, args)
        assert code == 1 and b"cowardly refusing to save to a terminal. Use the -o flag or redirect" in seen, (args, seen)


def test_pull_and_push_draw_bars_on_a_terminal(docker, tmp_path):
    archive = str(tmp_path / "image.tar")
    saved_image(docker, "progress-seed:1", archive)
    registry = Registry()
    ref = f"{registry.host}/seed/bars:1"
    pushed = f"{registry.host}/pushed/bars:1"
    try:
        registry.seed(archive, "seed/bars:1")
        code, seen = on_terminal(docker, ["pull", ref])
        assert code == 0 and b"Downloading" in seen and b"[=" in seen and b"Pull complete" in seen, seen
        docker.ok("tag", ref, pushed)
        code, seen = on_terminal(docker, ["push", pushed])
        assert code == 0 and b"Pushing" in seen and b"[=" in seen and b"Pushed" in seen, seen
    finally:
        docker.docker("rmi", ref, pushed)
        registry.stop()
