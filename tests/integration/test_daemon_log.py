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
