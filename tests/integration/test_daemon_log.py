"""berthd's own log, as an operator reads dockerd's: logrus lines on stderr, the level set by
--log-level, -D or daemon.json, failed requests at the level dockerd uses."""
import json
import os
import re
import subprocess

import pytest
from conftest import BERTHD, DOCKER, TIMEOUT, Daemon, api

LINE = re.compile(r'^time="[0-9T:.\-]+Z" level=(trace|debug|info|warning|error|fatal) msg=')


def log_of(d):
    with open(d.log) as f:
        return f.read()


def started(extra_args=(), config=None):
    d = Daemon(extra_args=extra_args)
    if config is not None:
        with open(os.path.join(d.base, "daemon.json"), "w") as f:
            json.dump(config, f)
    d.start()
    return d


@pytest.mark.parametrize("how", [["--log-level", "debug"], ["-D"], {"log-level": "debug"}, {"debug": True}])
def test_debug_logs_every_request_and_client_errors(how):
    d = started(extra_args=how if isinstance(how, list) else (), config=how if isinstance(how, dict) else None)
    try:
        status, _, _ = api(d, "GET", "/v1.41/containers/nosuch/json")
        assert status == 404
        log = log_of(d)
        assert 'level=debug msg="Calling GET /v1.41/containers/nosuch/json"' in log, log
        assert 'level=debug msg="Handler for GET /v1.41/containers/nosuch/json returned error: No such container: nosuch"' in log, log
        assert all(LINE.match(line) for line in log.splitlines()), log
    finally:
        d.stop()


def test_info_is_the_default_and_says_where_it_listens(rootfs_template):
    d = started()
    try:
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        assert api(d, "GET", "/v1.41/containers/nosuch/json")[0] == 404
        # a container that ignores SIGTERM: dockerd's info line when the grace period runs out
        cid = d.ok("run", "-d", "--network", "none", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 1; done").strip()
        d.ok("stop", "-t", "1", cid)
        log = log_of(d)
        assert f'level=info msg="API listen on {d.socket}"' in log, log
        assert f'level=info msg="Container {cid} failed to exit within 1 seconds of signal 15 - using the force"' in log, log
        assert "level=debug" not in log and "nosuch" not in log, log
        assert all(LINE.match(line) for line in log.splitlines()), log
    finally:
        d.stop()


def test_an_unknown_level_stops_berthd(tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text("{}")
    r = subprocess.run([BERTHD, "--log-level", "loud", "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "exec"),
                        "--bridge", "none", "--config-file", str(config), "-H", f"unix://{tmp_path}/s.sock"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and "unable to parse logging level: loud" in r.stderr, r.stderr


def test_stored_state_that_cannot_be_read_is_reported_not_dropped():
    """A network records file or a volume's volume.json that no longer decodes (a hand edit, a
    disk fault): berthd used to start without them and say nothing, and its next save of the
    networks wrote the user's networks out of existence. The networks now stop the start with the
    file named, as a corrupt image database does; a volume is left out of the list with an error
    line, its data untouched."""
    d = started()
    try:
        d.ok("network", "create", "kept-net")
        d.ok("volume", "create", "kept-vol")
        d.ok("volume", "create", "hurt-vol")
        data = os.path.join(d.data, "volumes", "hurt-vol", "_data", "precious")
        with open(data, "w") as f:
            f.write("precious\n")
    finally:
        d.proc.terminate()
        d.proc.wait(timeout=TIMEOUT)
    try:
        records = os.path.join(d.data, "network", "networks.json")
        good = open(records).read()
        with open(records, "w") as f:
            f.write("{not json")
        with pytest.raises(RuntimeError) as exited:
            d.start()
        assert f"network records {records} cannot be read" in str(exited.value), str(exited.value)
        assert open(records).read() == "{not json", "the records were rewritten"
        with open(records, "w") as f:
            f.write(good)
        with open(os.path.join(d.data, "volumes", "hurt-vol", "volume.json"), "w") as f:
            f.write("[")
        d.start()
        assert "kept-net" in d.ok("network", "ls", "--format", "{{.Name}}").split()
        assert d.ok("volume", "ls", "-q").split() == ["kept-vol"]
        assert re.search(r'level=error msg="volume hurt-vol is not listed: \S+/hurt-vol/volume.json cannot be read', log_of(d)), log_of(d)
        assert open(data).read() == "precious\n"
    finally:
        d.stop()


def test_a_client_error_logs_the_cause_behind_dockers_words(rootfs_template):
    """`docker cp` from a path the daemon may not open answers dockerd's "Could not find the
    file"; the debug log also says why (the open's own error)."""
    d = started(extra_args=["-D"])
    try:
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        cid = d.ok("create", "--network", "none", "busybox", "true").strip()
        status, _, body = api(d, "GET", f"/v1.41/containers/{cid}/archive?path=/etc/passwd/x")
        assert status == 404 and b"Could not find the file /etc/passwd/x" in body, body
        assert re.search(r'returned error: Could not find the file /etc/passwd/x in container \S+ \(cause: openat?\S* .*not a directory\)', log_of(d)), log_of(d)
    finally:
        d.stop()
