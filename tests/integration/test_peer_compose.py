"""docker-compose 1.29 (Debian's, on docker-py 5) running a multi-service application against
berthd, and the same scenario against dockerd 20.10 to show the checks ask only what Docker
does: a built image, a named volume, two networks with an alias, a published port, a
healthcheck-gated `depends_on`, exec, logs, run --rm, scale, stop/start and `down -v` leaving
nothing of the project behind.
"""
import json
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import Daemon
from peer_engines import DOCKERD, Dockerd, seed_images
from registry_support import free_port

COMPOSE = shutil.which("docker-compose")

COMPOSE_FILE = """
version: "3.8"
services:
  db:
    image: busybox:latest
    command: sh -c 'mkdir -p /data/www && echo ready > /data/www/ready && exec httpd -f -p 5432 -h /data/www'
    volumes: [dbdata:/data]
    networks:
      back: {aliases: [database]}
    healthcheck:
      test: ["CMD", "test", "-f", "/data/www/ready"]
      interval: 1s
      timeout: 2s
      retries: 10
      start_period: 1s
  web:
    build: ./web
    image: berth-compose-web:1
    ports: ["127.0.0.1:${WEB_PORT}:80"]
    depends_on:
      db: {condition: service_healthy}
    networks: [front, back]
    environment: {GREETING: hello}
  worker:
    image: busybox:latest
    command: sh -c 'while true; do wget -q -O- http://database:5432/ready && echo reached; sleep 1; done'
    networks: [back]
    depends_on: [db]
volumes:
  dbdata: {}
networks:
  front: {}
  back: {}
"""

WEB_DOCKERFILE = """FROM busybox:latest
RUN mkdir /www && echo 'served by web' > /www/index.html
HEALTHCHECK --interval=1s --timeout=2s --retries=5 CMD wget -q -O /dev/null http://127.0.0.1/ || exit 1
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
"""


@pytest.fixture(params=["berthd", "dockerd"])
def engine(request, rootfs_template):
    if request.param == "dockerd":
        if not DOCKERD:
            pytest.fail("dockerd (Debian's docker.io) is needed as the reference engine")
        e = Dockerd()
    else:
        e = Daemon()
    try:
        e.start()
        seed_images(e.env(), rootfs_template, ("busybox:latest",))
        yield e
    finally:
        e.stop()


def compose(engine, project_dir, *args, timeout=180, check=True):
    env = dict(engine.env(), COMPOSE_PROJECT_NAME="berthapp", WEB_PORT=str(engine.web_port))
    p = subprocess.run([COMPOSE, "--no-ansi", *args], cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"docker-compose {' '.join(args)}: rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def project_objects(engine):
    """Containers, networks and volumes labelled with the compose project."""
    label = "label=com.docker.compose.project=berthapp"
    out = {}
    for kind, cmd in (("containers", ["ps", "-aq", "--filter", label]), ("networks", ["network", "ls", "-q", "--filter", label]),
                      ("volumes", ["volume", "ls", "-q", "--filter", label])):
        r = engine.docker(*cmd)
        assert r.returncode == 0, r.stderr
        out[kind] = r.stdout.split()
    return out


def test_compose_application_end_to_end(engine, tmp_path):
    assert COMPOSE, "docker-compose (Debian's) is needed"
    engine.web_port = free_port()
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text(WEB_DOCKERFILE)
    try:
        compose(engine, tmp_path, "build")
        # depends_on: service_healthy — compose waits for db's health before creating web
        compose(engine, tmp_path, "up", "-d")
        db = json.loads(engine.docker("inspect", "berthapp_db_1").stdout)[0]
        health = db["State"]["Health"]
        assert health["Status"] == "healthy", health
        assert health["FailingStreak"] == 0 and health["Log"] and health["Log"][-1]["ExitCode"] == 0
        ps = compose(engine, tmp_path, "ps").stdout
        assert "(healthy)" in ps or "Up (healthy)" in ps, ps

        # the published port, on loopback
        deadline = time.time() + 20
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{engine.web_port}/", timeout=5).read().decode()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        assert "served by web" in body

        # web is on both networks and reaches db by its alias on `back`
        out = compose(engine, tmp_path, "exec", "-T", "web", "wget", "-q", "-O-", "http://database:5432/ready").stdout
        assert out.strip() == "ready"
        nets = json.loads(engine.docker("inspect", "berthapp_web_1").stdout)[0]["NetworkSettings"]["Networks"]
        assert set(nets) == {"berthapp_front", "berthapp_back"}
        assert "web" in (nets["berthapp_back"]["Aliases"] or [])

        # the worker reaches db through the alias; its logs say so
        deadline = time.time() + 20
        while "reached" not in compose(engine, tmp_path, "logs", "--no-color", "worker").stdout:
            assert time.time() < deadline, compose(engine, tmp_path, "logs", "--no-color").stdout
            time.sleep(0.5)

        # web's own HEALTHCHECK from its image
        deadline = time.time() + 20
        while json.loads(engine.docker("inspect", "berthapp_web_1").stdout)[0]["State"].get("Health", {}).get("Status") != "healthy":
            assert time.time() < deadline, engine.docker("inspect", "berthapp_web_1").stdout
            time.sleep(0.5)

        r = compose(engine, tmp_path, "run", "--rm", "worker", "echo", "one-off")
        assert "one-off" in r.stdout

        compose(engine, tmp_path, "up", "-d", "--scale", "worker=3")
        workers = engine.docker("ps", "-q", "--filter", "label=com.docker.compose.service=worker").stdout.split()
        assert len(workers) == 3

        compose(engine, tmp_path, "stop")
        assert engine.docker("ps", "-q", "--filter", "label=com.docker.compose.project=berthapp").stdout.split() == []
        compose(engine, tmp_path, "start")
        assert len(engine.docker("ps", "-q", "--filter", "label=com.docker.compose.project=berthapp").stdout.split()) == 5
        # the named volume kept db's data across the stop
        out = compose(engine, tmp_path, "exec", "-T", "db", "cat", "/data/www/ready").stdout
        assert out.strip() == "ready"

        # a changed service is recreated (compose renames the old container, makes the new one,
        # removes the old), keeping its networks and published port
        (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.replace("GREETING: hello", "GREETING: changed"))
        compose(engine, tmp_path, "up", "-d", "web")
        web = json.loads(engine.docker("inspect", "berthapp_web_1").stdout)[0]
        assert "GREETING=changed" in web["Config"]["Env"]
        assert set(web["NetworkSettings"]["Networks"]) == {"berthapp_front", "berthapp_back"}
        assert len(engine.docker("ps", "-aq", "--filter", "label=com.docker.compose.service=web").stdout.split()) == 1

        compose(engine, tmp_path, "down", "-v", "--rmi", "local")
        assert project_objects(engine) == {"containers": [], "networks": [], "volumes": []}
    finally:
        compose(engine, tmp_path, "down", "-v", "--remove-orphans", timeout=120, check=False)


MODERN_COMPOSE = """
version: "3.8"
services:
  app:
    build: {context: ./app, target: final}
    image: berth-compose-modern:1
    command: ["sh", "-c", "cat /greeting /from-builder /cache-count"]
"""

# What today's Dockerfiles use and dockerd 20.10's classic builder refuses ("the --mount option
# requires BuildKit"): heredocs, RUN --mount=type=cache, and a stage the target does not need,
# which fails if built.
MODERN_DOCKERFILE = """# syntax=docker/dockerfile:1
FROM busybox:latest AS broken
RUN exit 1
FROM busybox:latest AS builder
RUN --mount=type=cache,target=/cache sh -c 'echo x >> /cache/n; wc -l < /cache/n > /cache-count'
RUN <<EOT
echo built by a heredoc > /from-builder
EOT
FROM busybox:latest AS final
COPY <<EOT /greeting
hello from compose
EOT
COPY --from=builder /from-builder /cache-count /
"""


def test_compose_builds_todays_dockerfiles(daemon, tmp_path):
    """docker-compose 1.29 sends its builds to POST /build (docker-py, no BuildKit session): berthd
    builds a Dockerfile of heredocs, a cache mount and an unneeded failing stage there."""
    assert COMPOSE, "docker-compose (Debian's) is needed"
    daemon.web_port = 0
    (tmp_path / "docker-compose.yml").write_text(MODERN_COMPOSE)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(MODERN_DOCKERFILE)
    try:
        compose(daemon, tmp_path, "build")
        out = compose(daemon, tmp_path, "run", "--rm", "app").stdout
        assert out.split("\n")[:3] == ["hello from compose", "built by a heredoc", "1"], out
        # the cache mount outlived the first build: a build without the step cache counts twice
        compose(daemon, tmp_path, "build", "--no-cache")
        assert compose(daemon, tmp_path, "run", "--rm", "app").stdout.split("\n")[2] == "2"
    finally:
        compose(daemon, tmp_path, "down", "--rmi", "all", check=False)
