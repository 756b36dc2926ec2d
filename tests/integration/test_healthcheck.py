"""Healthchecks through the docker CLI and `berth`: --health-* flags, an image HEALTHCHECK,
State.Health as dockerd reports it, `ps` status and `--filter health=`, health_status events,
probe timeouts, the start period and --no-healthcheck."""
import json
import time


def health(docker, name):
    return json.loads(docker.ok("inspect", name))[0]["State"].get("Health")


def wait_for(docker, name, status, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        h = health(docker, name)
        if h and h["Status"] == status:
            return h
        time.sleep(0.2)
    raise AssertionError(f"{name} never became {status}: {health(docker, name)}")


def test_health_goes_from_starting_to_healthy(docker):
    docker.ok("run", "-d", "--name", "hc-ok", "--health-cmd", "test -f /tmp/ready", "--health-interval", "1s", "--health-retries", "2",
              "busybox", "sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 100")
    try:
        first = health(docker, "hc-ok")
        assert first["Status"] == "starting" and first["FailingStreak"] == 0
        assert "(health: starting)" in docker.ok("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}")
        h = wait_for(docker, "hc-ok", "healthy")
        assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0 and len(h["Log"]) <= 5
        assert "(healthy)" in docker.ok("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}")
        assert docker.ok("ps", "-q", "--filter", "health=healthy", "--filter", "name=hc-ok").strip()
        assert not docker.ok("ps", "-q", "--filter", "health=unhealthy", "--filter", "name=hc-ok").strip()
        config = json.loads(docker.ok("inspect", "hc-ok"))[0]["Config"]["Healthcheck"]
        assert config["Test"] == ["CMD-SHELL", "test -f /tmp/ready"] and config["Interval"] == 1_000_000_000
    finally:
        docker.docker("rm", "-f", "hc-ok")


def test_failing_probe_makes_it_unhealthy_with_events(docker):
    since = str(int(time.time()) - 1)
    docker.ok("run", "-d", "--name", "hc-bad", "--health-cmd", "echo probe-output; exit 3", "--health-interval", "1s", "--health-retries", "2",
              "busybox", "sleep", "100")
    try:
        h = wait_for(docker, "hc-bad", "unhealthy")
        assert h["FailingStreak"] >= 2
        assert h["Log"][-1]["ExitCode"] == 3 and h["Log"][-1]["Output"] == "probe-output\n"
        events = docker.ok("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "container=hc-bad",
                           "--format", "{{.Action}}")
        assert "health_status: unhealthy" in events.splitlines()
        assert docker.ok("ps", "-q", "--filter", "health=unhealthy", "--filter", "name=hc-bad").strip()
    finally:
        docker.docker("rm", "-f", "hc-bad")


def test_probe_timeout_and_start_period(docker):
    docker.ok("run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 5", "--health-interval", "1s", "--health-timeout", "1s",
              "--health-retries", "1", "--health-start-period", "30s", "busybox", "sleep", "100")
    try:
        deadline = time.time() + 15
        while not (health(docker, "hc-slow") or {}).get("Log"):
            assert time.time() < deadline
            time.sleep(0.2)
        h = health(docker, "hc-slow")
        assert h["Log"][0]["ExitCode"] == -1 and h["Log"][0]["Output"] == "Health check exceeded timeout (1s)"
        # failures inside the start period do not count
        assert h["Status"] == "starting" and h["FailingStreak"] == 0
    finally:
        docker.docker("rm", "-f", "hc-slow")


def test_image_healthcheck_and_no_healthcheck(docker, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nHEALTHCHECK --interval=1s --retries=1 CMD true\nCMD [\"sleep\", \"100\"]\n")
    tag = "hc-image:" + docker.binary.split("/")[-1]
    env = docker.env
    docker.env = lambda: dict(env(), DOCKER_BUILDKIT="0")  # the docker CLI's classic builder
    try:
        r = docker.docker("build", "-q", "-t", tag, str(tmp_path))
    finally:
        docker.env = env
    assert r.returncode == 0, r.stderr
    try:
        docker.ok("run", "-d", "--name", "hc-img", tag)
        docker.ok("run", "-d", "--name", "hc-none", "--no-healthcheck", tag)
        wait_for(docker, "hc-img", "healthy")
        assert health(docker, "hc-none") is None
        assert "(health" not in docker.ok("ps", "--filter", "name=hc-none", "--format", "{{.Status}}")
        assert docker.ok("ps", "-q", "--filter", "health=none", "--filter", "name=hc-none").strip()
    finally:
        docker.docker("rm", "-f", "hc-img", "hc-none")
        docker.docker("rmi", tag)
