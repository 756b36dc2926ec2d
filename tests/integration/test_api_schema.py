"""The Engine API driven by schemathesis from Docker's own swagger (API 1.41, Debian's
golang-github-docker-docker-dev) over a loopback TCP listener: whatever the generated request,
no 5xx, the daemon never dies, and every answer is one the swagger allows (`swagger_conformance`:
a documented status, or 400/404/409, which dockerd answers on every route and the swagger lists
on some only; a 2xx JSON body of the documented schema, fields nullable as Go writes them). Path parameters name real objects (a running container, an
exec, an image, a network, a volume) so that requests reach the handlers rather than 404.

Left out: what would reach past loopback (pulls, pushes, search, login, remote builds,
distribution), endpoints of swarm and plugins that Berth does not serve, streams without end
(events; attach and wait, which last as long as the container), bodies schemathesis cannot generate (tars: load, an archive's PUT). Container and network creation are driven with what
could reach the host pinned (`confine`): a random bind could make host directories, a random
subnet would route host traffic."""
import http.client
import json
import os
import subprocess

import pytest

# `make deps` installs both; a missing test dependency fails the run rather than skipping it
import schemathesis  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)

from conftest import DOCKER, REPO, TIMEOUT, Daemon  # noqa: E402
from registry_support import free_port  # noqa: E402
from swagger_conformance import Swagger, swagger_error  # noqa: E402

SWAGGER = "/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml"
assert os.path.exists(SWAGGER), "Debian's golang-github-docker-docker-dev (the API's swagger) is missing: run make deps"

EXCLUDED = (r"^/(images/create|images/search|images/[^/]+/push|images/load|build|auth|distribution|plugins|swarm|services|nodes"
            r"|tasks|secrets|configs|session|events)|/attach(/ws)?$|/wait$")
# an archive's PUT takes a tar, which schemathesis cannot make; its GET and HEAD are driven
schema = schemathesis.openapi.from_path(SWAGGER).exclude(path_regex=EXCLUDED).exclude(method="PUT", path_regex="/archive$")
swagger = Swagger(SWAGGER)
requests_sent = 0
bodies_checked = 0
violations = []


class Targets:
    """Real objects for path parameters, made again whenever a request removed one."""

    def __init__(self, daemon, rootfs_tar):
        self.d = daemon
        self.tar = rootfs_tar

    def exists(self, kind, name):
        return self.d.docker(kind, "inspect", name).returncode == 0

    def image(self, name):
        """The base image under `name`, imported again if a generated prune took it."""
        if not self.exists("image", "stbase"):
            subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", "stbase"], input=self.tar, env=self.d.env(),
                           capture_output=True, check=True, timeout=60)
        if not self.exists("image", name):
            self.d.ok("tag", "stbase", name)
        return name

    def container(self):
        self.image("busybox")
        if not self.exists("container", "sttarget"):
            self.d.ok("run", "-d", "--name", "sttarget", "--network", "none", "busybox", "sleep", "1000")
        state = self.d.docker("inspect", "-f", "{{.State.Running}} {{.State.Paused}}", "sttarget").stdout.split()
        if state[:1] != ["true"]:
            self.d.docker("start", "sttarget")
        elif state[1:] == ["true"]:  # a generated pause
            self.d.docker("unpause", "sttarget")
        return "sttarget"

    def param(self, path, name):
        if path.startswith("/containers/"):
            return self.container()
        if path.startswith("/exec/"):
            self.container()
            return self.d.ok("exec", "-d", "sttarget", "true") and self.exec_id()
        if path.startswith("/images/"):
            return self.image("stimage")
        if path.startswith("/networks/"):
            if not self.exists("network", "stnet"):
                self.d.ok("network", "create", "--subnet", "10.213.7.0/24", "stnet")
            return "stnet"
        if path.startswith("/volumes/"):
            if not self.exists("volume", "stvol"):
                self.d.ok("volume", "create", "stvol")
            return "stvol"
        return None

    def exec_id(self):
        # an exec instance made through the API, so its ID is known
        conn = http.client.HTTPConnection("127.0.0.1", self.d.tcp_port, timeout=TIMEOUT)
        conn.request("POST", "/v1.41/containers/sttarget/exec", body=json.dumps({"Cmd": ["true"]}), headers={"Content-Type": "application/json"})
        exec_id = json.loads(conn.getresponse().read())["Id"]
        conn.close()
        return exec_id


@pytest.fixture(scope="module")
def api_daemon(rootfs_template):
    port = free_port()
    d = Daemon(extra_args=["-H", f"tcp://127.0.0.1:{port}"])
    d.tcp_port = port
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        d.targets = Targets(d, tar)
        d.targets.image("stbase")
        yield d
    finally:
        d.stop()


def confine(case):
    """Host paths, devices, host namespaces and subnets are pinned; every other field stays as generated."""
    if not isinstance(case.body, dict):
        return
    if case.path == "/containers/create":
        host = case.body.get("HostConfig") if isinstance(case.body.get("HostConfig"), dict) else {}
        for key in ("Binds", "Mounts", "Devices", "VolumesFrom", "PortBindings", "Links", "CgroupParent"):
            host.pop(key, None)
        host.update(NetworkMode="none", Privileged=False, PidMode="", IpcMode="", UTSMode="")
        case.body["HostConfig"] = host
        case.body.pop("NetworkingConfig", None)
        case.body["Image"] = "stbase"
    if case.path == "/networks/create":
        case.body["IPAM"] = {"Config": [{"Subnet": "10.213.99.0/24"}]}
        case.body["Internal"] = True


@schema.parametrize()
@settings(max_examples=int(os.environ.get("BERTH_SCHEMA_EXAMPLES", "10")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case, api_daemon):
    global requests_sent
    for name in case.path_parameters or {}:
        value = api_daemon.targets.param(case.path, name)
        if value is not None:
            case.path_parameters[name] = value
    confine(case)
    if case.path == "/containers/create":
        api_daemon.targets.image("stbase")
    # streams are asked for once, not followed
    if case.path.endswith("/stats"):
        case.query = {**(case.query or {}), "stream": "false"}
    if case.path.endswith("/logs"):
        case.query = {**(case.query or {}), "follow": "false"}
    # a stop waits out its timeout (sleep as PID 1 ignores SIGTERM), as dockerd's does
    if case.path.endswith(("/stop", "/restart")):
        case.query = {**(case.query or {}), "t": "1"}
    response = case.call(base_url=f"http://127.0.0.1:{api_daemon.tcp_port}/v1.41", timeout=30)
    requests_sent += 1
    case.validate_response(response, checks=[schemathesis.checks.not_a_server_error])
    assert api_daemon.proc.poll() is None, "berthd died"
    check_conformance(case, response)


def check_conformance(case, response):
    global bodies_checked
    status = response.status_code
    kind = ",".join(response.headers.get("content-type", []))  # schemathesis: lowercase names, lists of values
    found = swagger.violations(case.method, case.path, status, kind, response.content)
    found = [v for v in found if not swagger_error(case.path, v)]
    bodies_checked += 200 <= status < 300 and "json" in kind
    if found:
        violations.append(f"{case.method} {case.path} → {status}: {'; '.join(found)}")
    assert not found, (found, response.content[:500])


def test_daemon_survived_every_request(api_daemon):
    assert api_daemon.proc.poll() is None
    assert api_daemon.ok("version", "--format", "{{.Server.Version}}")
    print(f"\n{requests_sent} generated API requests, no 5xx; {bodies_checked} JSON bodies checked against the swagger")
    # the figure the README quotes
    os.makedirs(os.path.join(REPO, "tests", "results"), exist_ok=True)
    with open(os.path.join(REPO, "tests", "results", "api-schema.json"), "w") as f:
        json.dump({"requests": requests_sent, "operations": len(list(schema.get_all_operations())), "server_errors": 0,
                   "bodies_checked": bodies_checked, "swagger_violations": len(violations)}, f, indent=1)
