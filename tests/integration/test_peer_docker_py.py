"""docker-py's own integration suite (the pinned copy in ../shared/peer-suites/docker-py), run
unchanged against Debian's dockerd 20.10 and against berthd on this machine, one after the other
(they would fight over the fixed subnets some tests create). Every test that passes against
dockerd must pass against berthd; berthd must be alive at the end. The counts go to
tests/results/docker-py.json, which the README quotes.

Left out, with the reason: swarm mode (services, secrets, configs, nodes, plugins, and the
network tests that initialise a swarm); Berth runs no swarm and answers those endpoints as a
dockerd outside a swarm. Tests that need the internet (pulls from Docker Hub) fail on both
engines here and so ask nothing of berthd. The names the suite pulls from Docker Hub (alpine,
hello-world, busybox) are served by a local registry both engines are given as their Docker Hub
mirror (`--registry-mirror`), holding the same locally made images the engines are seeded with:
only a pull by a digest of Docker Hub's own image still needs the internet.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO, TIMEOUT, Daemon
from peer_engines import DOCKER, DOCKERD, Dockerd, seed_images
from registry_support import Registry

# Beside the checkout (../shared, as in the workspace), or where BERTH_PEER_SUITES says.
SUITE = os.environ.get("BERTH_PEER_SUITES") or next(
    (p for p in (os.path.join(REPO, "..", "shared", "peer-suites"), "/work/shared/peer-suites") if os.path.isdir(p)),
    os.path.join(REPO, "..", "shared", "peer-suites"))
DOCKER_PY = os.path.join(SUITE, "docker-py")
RESULTS = os.path.join(REPO, "tests", "results", "docker-py.json")

# Files that test swarm mode only.
SWARM_FILES = ("api_swarm_test.py", "api_service_test.py", "api_secret_test.py", "api_config_test.py", "api_plugin_test.py",
               "models_swarm_test.py", "models_services_test.py", "models_nodes_test.py")
# Tests elsewhere that initialise a swarm first.
SWARM_TESTS = ("api_network_test::TestNetworks::test_create_network_attachable",
               "api_network_test::TestNetworks::test_create_network_ingress",
               "api_network_test::TestNetworks::test_create_inspect_network_with_scope")

# Alpine's accounts and directories on top of busybox, for the images the suite calls alpine:
# its tests exec as `postgres` and in `/var/opt`.
ALPINE_PASSWD = """root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
mail:x:8:12:mail:/var/spool/mail:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
postgres:x:70:70::/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
"""
ALPINE_GROUP = """root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
adm:x:4:root,adm,daemon
mail:x:12:mail
wheel:x:10:root
postgres:x:70:
users:x:100:games
nogroup:x:65533:
nobody:x:65534:
"""


def alpine_rootfs(busybox_rootfs):
    d = tempfile.mkdtemp(prefix="berth-alpine-")
    os.chmod(d, 0o755)
    subprocess.run(["cp", "-a", busybox_rootfs + "/.", d], check=True, timeout=TIMEOUT)
    with open(os.path.join(d, "etc", "passwd"), "w") as f:
        f.write(ALPINE_PASSWD)
    with open(os.path.join(d, "etc", "group"), "w") as f:
        f.write(ALPINE_GROUP)
    for sub in ("var/opt", "var/lib/postgresql", "var/tmp", "usr/local/bin", "home", "srv", "mnt", "opt", "run"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    return d


BUSYBOX_NAMES = ("busybox:latest", "busybox:buildroot-2014.02", "hello-world:latest")
ALPINE_NAMES = ("alpine:3.10", "alpine:latest")


def seed(env, busybox, alpine):
    seed_images(env, busybox, BUSYBOX_NAMES)
    seed_images(env, alpine, ALPINE_NAMES)


def fill_mirror(registry, env, work):
    """The seeded images, saved from an engine, into the mirror under Docker Hub's names."""
    for name in BUSYBOX_NAMES + ALPINE_NAMES:
        archive = os.path.join(work, name.replace(":", "_") + ".tar")
        p = subprocess.run([DOCKER, "save", "-o", archive, name], env=env, capture_output=True, timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        registry.seed(archive, "library/" + name)


def run_suite(host, junit):
    files = sorted(os.path.join(DOCKER_PY, "tests", "integration", f)
                   for f in os.listdir(os.path.join(DOCKER_PY, "tests", "integration"))
                   if f.endswith("_test.py") and f not in SWARM_FILES)
    config = tempfile.mkdtemp(prefix="berth-dockerpy-config-")
    env = dict(os.environ, DOCKER_HOST=host, PYTHONPATH=DOCKER_PY, DOCKER_CONFIG=config)
    env.pop("DOCKER_TLS_VERIFY", None)
    deselect = ["-k", "not (" + " or ".join(t.split("::")[-1] for t in SWARM_TESTS) + ")"]
    try:
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "120",
                            "--junitxml", junit, *deselect, *files],
                           cwd=config, env=env, capture_output=True, text=True, timeout=1800)
    finally:
        shutil.rmtree(config, ignore_errors=True)
    return p


def junit_cases(junit):
    """Each test case of a junit report under its `module::Class::test` name."""
    for tc in ET.parse(junit).iter("testcase"):
        parts = tc.get("classname").split(".")
        yield f"{parts[-2]}::{parts[-1]}::{tc.get('name')}", tc


def outcomes(junit):
    out = {}
    for name, tc in junit_cases(junit):
        state = "pass"
        for child in tc:
            if child.tag in ("failure", "error"):
                state = "fail"
                break
            if child.tag == "skipped":
                state = "skip"
        if out.get(name) != "fail":  # a teardown error after a pass is a failure
            out[name] = state
    return out


def failures(junit, names):
    """The failure text of the named tests: the suite's whole output is too long to show, and a
    flaky test must say what it saw the one time it failed."""
    texts = []
    for name, tc in junit_cases(junit):
        if name in names:
            for child in tc:
                if child.tag in ("failure", "error"):
                    texts.append(f"--- {name} ({child.tag})\n{(child.text or child.get('message') or '')[-4000:]}")
    return "\n".join(texts)


@pytest.fixture(scope="module")
def images(rootfs_template):
    alpine = alpine_rootfs(rootfs_template)
    yield rootfs_template, alpine
    shutil.rmtree(alpine, ignore_errors=True)


def test_docker_py_suite_passes_where_dockerd_does(images):
    assert os.path.isdir(DOCKER_PY), f"docker-py's suite is missing at {DOCKER_PY} (set BERTH_PEER_SUITES)"
    assert DOCKERD, "dockerd (Debian's docker.io) is needed as the reference engine"
    work = tempfile.mkdtemp(prefix="berth-dockerpy-")
    results = {}
    mirror = Registry()
    try:
        reference = Dockerd(extra_args=["--registry-mirror", f"http://{mirror.host}"])
        try:
            reference.start()
            seed(reference.env(), *images)
            fill_mirror(mirror, reference.env(), work)
            started = time.time()
            run_suite(reference.host, os.path.join(work, "dockerd.xml"))
            results["dockerd_seconds"] = round(time.time() - started)
        finally:
            reference.stop()
        berthd = Daemon(extra_args=["--registry-mirror", f"http://{mirror.host}"])
        try:
            berthd.start()
            seed(berthd.env(), *images)
            started = time.time()
            report = run_suite(berthd.host, os.path.join(work, "berthd.xml"))
            results["berthd_seconds"] = round(time.time() - started)
            alive = berthd.proc.poll() is None
            log_tail = open(berthd.log).read()[-3000:]
        finally:
            berthd.stop()
        assert alive, "berthd died during docker-py's suite: " + log_tail
        ref, ours = outcomes(os.path.join(work, "dockerd.xml")), outcomes(os.path.join(work, "berthd.xml"))
        missing = sorted(n for n, s in ref.items() if s == "pass" and ours.get(n) != "pass")
        results.update({
            "suite": "docker-py " + open(os.path.join(DOCKER_PY, "PINNED")).read().split(" at ")[1].split()[0][:12],
            "tests": len(ours),
            "dockerd_passed": sum(s == "pass" for s in ref.values()),
            "berthd_passed": sum(s == "pass" for s in ours.values()),
            "passed_on_dockerd_not_berthd": missing,
            "passed_on_berthd_not_dockerd": sorted(n for n, s in ours.items() if s == "pass" and ref.get(n) != "pass"),
            "left_out_swarm": len(SWARM_TESTS) + len(SWARM_FILES),
        })
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
        print(f"docker-py suite: dockerd {results['dockerd_passed']} passed, berthd {results['berthd_passed']} passed")
        assert not missing, (f"{len(missing)} tests pass on dockerd but not on berthd:\n" + "\n".join(missing) + "\n"
                             + failures(os.path.join(work, "berthd.xml"), set(missing))
                             + "\n--- berthd's log (tail)\n" + log_tail + "\n--- suite output (tail)\n" + report.stdout[-2000:])
    finally:
        mirror.stop()
        shutil.rmtree(work, ignore_errors=True)
