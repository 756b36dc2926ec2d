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


def test_load_draws_layer_bars_on_a_terminal_and_plain_lines_otherwise(docker, tmp_path):
    name = "progress-" + uuid.uuid4().hex[:8]
    image = f"{name}:load"
    archive = str(tmp_path / "image.tar")
    # a layer of its own (busybox's is already unpacked, and a present layer is skipped, as in dockerd)
    docker.ok("run", "--name", name, "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /big")
    docker.ok("commit", name, image)
    docker.ok("rm", name)
    docker.ok("save", "-o", archive, image)
    docker.ok("rmi", image)

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
    daemon.binary = BERTH
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
