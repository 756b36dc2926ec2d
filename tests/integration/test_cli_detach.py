"""Detaching as a user does it, under a real terminal (a pty): ctrl-p ctrl-q (or --detach-keys, or
config.json's detachKeys) leaves `run -it`, `exec -it`, `start -ai` and `attach` with the container
still running and the terminal restored, for the docker CLI and for berth against berthd alike."""
import json
import os
import select
import subprocess
import termios
import time
import uuid

import pytest

CTRL_P_CTRL_Q = b"\x10\x11"


class Terminal:
    """A client run on the slave side of a fresh pty; the test types on the master side."""

    def __init__(self, daemon, args, env=None):
        self.master, self.slave = os.openpty()
        self.proc = subprocess.Popen([daemon.binary, *args], stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     env=env or daemon.env(), start_new_session=True)
        self.seen = b""

    def read_until(self, token, timeout=20):
        deadline = time.monotonic() + timeout
        while token not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {token!r}, saw {self.seen[-400:]!r}"
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    break
        return self.seen

    def type(self, data):
        """Types once the client has put the terminal in raw mode, i.e. reads and forwards keys:
        typed earlier, the pty's own line discipline would take ctrl-q (XON) and echo the rest."""
        deadline = time.monotonic() + 20
        while self.restored():
            assert self.proc.poll() is None, f"the client exited ({self.proc.returncode}): {self.seen[-400:]!r}"
            assert time.monotonic() < deadline, "the client never put the terminal in raw mode"
            time.sleep(0.02)
        os.write(self.master, data)

    def exited(self, timeout=15):
        """The client's exit status; it must exit on its own."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the client did not exit after the detach keys; terminal showed {self.seen[-400:]!r}")

    def restored(self):
        """Whether the client left the terminal as it found it (canonical mode, echo on)."""
        lflag = termios.tcgetattr(self.slave)[3]
        return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)
        os.close(self.slave)


def running(daemon, name):
    return daemon.ok("inspect", "-f", "{{.State.Running}}", name).strip() == "true"


def test_ctrl_p_ctrl_q_detaches_run_exec_start_and_attach(docker):
    name = "detach-" + uuid.uuid4().hex[:8]
    # cat, not a shell: ash's line editor asks the terminal for the cursor position, which a
    # test's pty never answers
    term = Terminal(docker, ["run", "-it", "--name", name, "busybox", "cat"])
    try:
        term.type(b"hello\r")
        term.read_until(b"hello\r\nhello")  # the tty's echo, then cat's
        term.type(CTRL_P_CTRL_Q)
        assert term.exited() == 0
        assert term.restored()
        assert running(docker, name)
    finally:
        term.close()

    term = Terminal(docker, ["exec", "-it", name, "cat"])
    try:
        term.type(b"inexec\r")
        term.read_until(b"inexec\r\ninexec")
        term.type(CTRL_P_CTRL_Q)
        # docker exec, like attach, reports the detach as an error: "read escape sequence", 1
        assert term.exited() == 1
        term.read_until(b"read escape sequence")
        assert term.restored()
    finally:
        term.close()

    term = Terminal(docker, ["attach", name])
    try:
        term.type(b"backagain\r")
        term.read_until(b"backagain\r\nbackagain")
        term.type(CTRL_P_CTRL_Q)
        code = term.exited()
        assert term.restored()
        # docker attach reports the detach as an error of its own: "read escape sequence", 1
        assert code == 1 and b"read escape sequence" in term.read_until(b"read escape sequence"), term.seen
        assert running(docker, name)
    finally:
        term.close()

    docker.ok("stop", "-t", "0", name)
    term = Terminal(docker, ["start", "-ai", name])
    try:
        term.type(b"restarted\r")
        term.read_until(b"restarted\r\nrestarted")
        term.type(CTRL_P_CTRL_Q)
        assert term.exited() == 0
        assert running(docker, name)
    finally:
        term.close()
        docker.docker("rm", "-f", name)


def test_custom_detach_keys_from_the_flag_and_from_config_json(docker, tmp_path):
    name = "detach-" + uuid.uuid4().hex[:8]
    term = Terminal(docker, ["run", "-it", "--detach-keys", "ctrl-x,x", "--name", name, "busybox", "cat"])
    try:
        term.type(CTRL_P_CTRL_Q + b"stillhere\r")  # not the keys now: passed to the container
        term.read_until(b"\x10stillhere\r\n")  # cat's copy (the tty takes ctrl-q as XON)
        term.type(b"\x18x")
        assert term.exited() == 0
        assert running(docker, name)
    finally:
        term.close()

    config = tmp_path / "cli"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"detachKeys": "ctrl-a,b"}))
    env = dict(docker.env(), DOCKER_CONFIG=str(config))
    term = Terminal(docker, ["exec", "-it", name, "cat"], env=env)
    try:
        term.type(b"inexec\r")
        term.read_until(b"inexec\r\ninexec")
        term.type(b"\x01b")
        assert term.exited() == 1
        term.read_until(b"read escape sequence")
    finally:
        term.close()
        docker.docker("rm", "-f", name)
