"""Pull, push, login, search and mirrors against a real Distribution registry (Debian's
docker-registry) on 127.0.0.1, driven by the official docker CLI and by `berth`. Images are seeded
and read back with skopeo."""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import DOCKER, Daemon, api
from registry_support import REGISTRY, SKOPEO, Registry, ThrottledProxy, make_ca

assert REGISTRY and SKOPEO, "docker-registry and skopeo are needed (make deps installs them)"


def commit(daemon, base, script, tag):
    name = "mk-" + os.urandom(4).hex()
    daemon.ok("run", "--name", name, base, "sh", "-c", script)
    daemon.ok("commit", name, tag)
    daemon.ok("rm", name)


@pytest.fixture(scope="module")
def archives(daemon):
    """docker-archive tars: busybox; a three-layer image (a file added, then one more and a
    deletion); and one with a 24 MB incompressible layer. The committed images are removed again."""
    d = tempfile.mkdtemp(prefix="berth-archives-", dir="/var/tmp")
    commit(daemon, "busybox:latest", "mkdir /data && echo one > /data/one", "mk/two:1")
    commit(daemon, "mk/two:1", "echo two > /data/two && rm /bin/ls", "mk/three:1")
    commit(daemon, "busybox:latest", "dd if=/dev/urandom of=/big bs=1M count=24 2>/dev/null", "mk/big:1")
    out = {}
    for key, image in (("busybox", "busybox:latest"), ("three", "mk/three:1"), ("big", "mk/big:1")):
        out[key] = os.path.join(d, key + ".tar")
        daemon.ok("save", "-o", out[key], image)
    daemon.ok("rmi", "mk/three:1", "mk/two:1", "mk/big:1")
    yield out
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def registry():
    r = Registry()
    yield r
    r.stop()


def ingest_dir(daemon, hexdigest):
    """Where berthd's content store keeps the download of a blob (refs are hashed into names)."""
    return os.path.join(daemon.data, "content/ingest", hashlib.sha256(("pull-" + hexdigest).encode()).hexdigest())


def rmi_quiet(daemon, *names):
    daemon.docker("rmi", "-f", *names)


def test_pull_run_push_roundtrip(docker, registry, archives):
    registry.seed(archives["three"], "seed/three:1")
    ref = f"{registry.host}/seed/three:1"
    out = docker.ok("pull", ref)
    assert "1: Pulling from seed/three" in out
    assert "Pull complete" in out and "Already exists" in out  # busybox's layer is shared with the local image
    assert f"Status: Downloaded newer image for {ref}" in out
    digest = [line.split()[-1] for line in out.splitlines() if line.startswith("Digest: ")][0]
    assert docker.ok("run", "--rm", ref, "sh", "-c", "cat /data/one /data/two; test -e /bin/ls || echo gone") == "one\ntwo\ngone\n"
    assert "Image is up to date" in docker.ok("pull", ref)
    # save works though busybox's blob was never downloaded (the local copy of the layer stands in)
    saved = os.path.join(tempfile.mkdtemp(dir="/var/tmp"), "three.tar")
    docker.ok("save", "-o", saved, ref)
    shutil.rmtree(os.path.dirname(saved))
    repo_digests = json.loads(docker.ok("image", "inspect", ref))[0]["RepoDigests"]
    assert f"{registry.host}/seed/three@{digest}" in repo_digests

    pushed = f"{registry.host}/pushed/three:v2"
    docker.ok("tag", ref, pushed)
    out = docker.ok("push", pushed)
    assert f"The push refers to repository [{registry.host}/pushed/three]" in out
    assert "Mounted from seed/three" in out  # same registry: no bytes uploaded again
    # busybox's layer "Already existed" at the pull, so the local copy of it goes up instead, and
    # the manifest (so the digest) changes, as with Docker.
    pushed_digest = [line.split()[2] for line in out.splitlines() if line.startswith("v2: digest: ")][0]
    assert len(registry.inspect("pushed/three:v2")["layers"]) == 3

    rmi_quiet(docker, ref, pushed)
    out = docker.ok("pull", f"{registry.host}/pushed/three@{pushed_digest}")
    assert "Downloaded newer image" in out
    rmi_quiet(docker, f"{registry.host}/pushed/three@{pushed_digest}")


def test_push_uploads_new_blobs_and_skopeo_reads_them(daemon, registry):
    daemon.ok("tag", "busybox:latest", f"{registry.host}/fresh/busybox:1")
    out = daemon.ok("push", f"{registry.host}/fresh/busybox:1")
    assert "Pushed" in out
    assert "Layer already exists" in daemon.ok("push", f"{registry.host}/fresh/busybox:1")
    d = tempfile.mkdtemp(dir="/var/tmp")
    try:
        subprocess.run([SKOPEO, "copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/fresh/busybox:1", "dir:" + d],
                       check=True, capture_output=True, timeout=60)
        assert os.path.exists(os.path.join(d, "manifest.json"))
        # and our own OCI manifest comes back through our pull
        daemon.ok("rmi", f"{registry.host}/fresh/busybox:1")
        assert daemon.ok("run", "--rm", f"{registry.host}/fresh/busybox:1", "echo", "back") == "back\n"
    finally:
        shutil.rmtree(d, ignore_errors=True)
        rmi_quiet(daemon, f"{registry.host}/fresh/busybox:1")


def test_missing_repository_and_tag(docker, registry, archives):
    registry.seed(archives["busybox"], "seed/busybox:1")
    r = docker.docker("pull", f"{registry.host}/nope/nothing:1")
    assert r.returncode == 1
    assert f"{registry.host}/nope/nothing:1 not found" in r.stderr  # Distribution 2.8 answers MANIFEST_UNKNOWN here
    r = docker.docker("pull", f"{registry.host}/seed/busybox:missing")
    assert r.returncode == 1
    assert f"manifest for {registry.host}/seed/busybox:missing not found: manifest unknown" in r.stderr
    r = docker.docker("pull", "127.0.0.1:1/nothing:1")
    assert r.returncode == 1 and "connection refused" in r.stderr


def test_pull_all_tags(docker, registry, archives):
    """`pull --all-tags` (the API's `fromImage` without a tag): every tag the registry lists, each
    with its own progress, the outcome said once for the name, which the CLI prints last."""
    registry.seed(archives["busybox"], "seed/tags:one")
    registry.seed(archives["three"], "seed/tags:two")
    repo = f"{registry.host}/seed/tags"
    try:
        since = str(int(time.time()) - 1)
        out = docker.ok("pull", "--all-tags", repo)
        pulls = docker.ok("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "event=pull",
                          "--format", "{{.Actor.Attributes.name}}").split()
        assert [p for p in pulls if p.startswith(repo)] == [repo], pulls  # one event, for the name, as moby's
        assert "one: Pulling from seed/tags" in out and "two: Pulling from seed/tags" in out, out
        assert out.count("Status: ") == 1 and f"Status: Downloaded newer image for {repo}\n" in out, out
        assert out.splitlines()[-1] == repo
        assert sorted(docker.ok("images", "--format", "{{.Tag}}", repo).split()) == ["one", "two"]
        assert f"Status: Image is up to date for {repo}\n" in docker.ok("pull", "-a", repo)
        r = docker.docker("pull", "-a", repo + ":one")
        assert r.returncode == 1 and "tag can't be used with --all-tags/-a" in r.stderr, r.stderr
    finally:
        rmi_quiet(docker, repo + ":one", repo + ":two")


def test_distribution_inspect_answers_from_the_registry(daemon, registry, archives):
    """`GET /distribution/{name}/json` (docker-py's `inspect_distribution`): the manifest's
    descriptor as the registry serves it and the platform of its config, nothing pulled; a
    missing tag is a 404."""
    registry.seed(archives["busybox"], "seed/dist:1")
    status, _, body = api(daemon, "GET", f"/distribution/{registry.host}/seed/dist:1/json")
    assert status == 200, body
    answer = json.loads(body)
    raw = subprocess.run([SKOPEO, "inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/seed/dist:1"],
                         capture_output=True, check=True, timeout=60).stdout
    assert answer["Descriptor"] == {"mediaType": json.loads(raw)["mediaType"], "digest": "sha256:" + hashlib.sha256(raw).hexdigest(), "size": len(raw)}
    assert answer["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
    assert f"{registry.host}/seed/dist:1" not in daemon.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert api(daemon, "GET", f"/distribution/{registry.host}/seed/dist:missing/json")[0] == 404


def test_run_pulls_a_missing_image(docker, registry, archives):
    registry.seed(archives["three"], "seed/three:run")
    ref = f"{registry.host}/seed/three:run"
    r = docker.docker("run", "--rm", ref, "cat", "/data/two")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "two\n"
    assert f"Unable to find image '{ref}' locally" in r.stderr
    rmi_quiet(docker, ref)


def test_corrupted_blob_is_refused_and_nothing_is_kept(daemon, registry, archives):
    registry.seed(archives["big"], "seed/big:1")
    manifest = registry.inspect("seed/big:1")
    layer = max(manifest["layers"], key=lambda l: l["size"])["digest"]
    with open(registry.blob_path(layer), "r+b") as f:
        f.seek(manifest["layers"][-1]["size"] // 2)
        f.write(os.urandom(4096))
    r = daemon.docker("pull", f"{registry.host}/seed/big:1")
    assert r.returncode == 1
    assert f"filesystem layer verification failed for digest {layer}" in r.stderr
    data = daemon.data
    assert not os.path.exists(os.path.join(data, "content/blobs/sha256", layer.split(":")[1]))
    assert not os.path.exists(ingest_dir(daemon, layer.split(":")[1]))
    assert f"{registry.host}/seed/big" not in daemon.ok("images")
    staged = [i for i in glob.glob(os.path.join(data, "overlay2/*/info.json")) if '"extract-' in open(i).read()]
    assert staged == []


def test_manifest_list_picks_the_host_platform(daemon, registry, archives):
    # two different images under one list: busybox for amd64, the three-layer image for arm64
    registry.seed(archives["busybox"], "seed/multi:single")
    registry.seed(archives["three"], "seed/multi:other")
    entries = {}
    for tag in ("single", "other"):
        manifest = registry.inspect(f"seed/multi:{tag}")
        req = urllib.request.Request(f"http://{registry.host}/v2/seed/multi/manifests/{tag}", method="HEAD",
                                     headers={"Accept": manifest["mediaType"]})
        with urllib.request.urlopen(req, timeout=10) as resp:
            entries[tag] = {"mediaType": manifest["mediaType"], "digest": resp.headers["Docker-Content-Digest"],
                            "size": int(resp.headers["Content-Length"])}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": [
        dict(entries["other"], platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
        dict(entries["single"], platform={"architecture": "amd64", "os": "linux"}),
    ]}
    body = json.dumps(index).encode()
    req = urllib.request.Request(f"http://{registry.host}/v2/seed/multi/manifests/list", data=body, method="PUT",
                                 headers={"Content-Type": index["mediaType"]})
    with urllib.request.urlopen(req, timeout=10) as resp:
        list_digest = resp.headers["Docker-Content-Digest"]
    out = daemon.ok("pull", f"{registry.host}/seed/multi:list")
    assert f"Digest: {list_digest}" in out
    # the host's platform (amd64) got busybox, not the arm64 entry's image
    assert daemon.docker("run", "--rm", f"{registry.host}/seed/multi:list", "test", "-e", "/data/one").returncode == 1
    rmi_quiet(daemon, f"{registry.host}/seed/multi:list")
    daemon.ok("pull", "--platform", "linux/arm64", f"{registry.host}/seed/multi:list")
    assert daemon.ok("run", "--rm", f"{registry.host}/seed/multi:list", "cat", "/data/one") == "one\n"
    assert f"{registry.host}/seed/multi@{list_digest}" in daemon.ok("image", "inspect", "--format", "{{json .RepoDigests}}", f"{registry.host}/seed/multi:list")
    r = daemon.docker("pull", "--platform", "linux/s390x", f"{registry.host}/seed/multi:list")
    assert r.returncode == 1 and "no matching manifest for linux/s390x" in r.stderr
    rmi_quiet(daemon, f"{registry.host}/seed/multi:list")


def test_registry_killed_mid_pull_resumes_with_range(daemon, registry, archives):
    registry.seed(archives["big"], "seed/big:resume")
    big = max(registry.inspect("seed/big:resume")["layers"], key=lambda l: l["size"])["digest"].split(":")[1]
    proxy = ThrottledProxy(registry.port, rate=6 << 20)
    try:
        ref = f"127.0.0.1:{proxy.port}/seed/big:resume"
        pull = subprocess.Popen([DOCKER, "pull", ref], env=daemon.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        data = os.path.join(ingest_dir(daemon, big), "data")
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(data) and os.path.getsize(data) > 4 << 20:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the pull never got going")
        registry.kill()
        time.sleep(0.3)
        registry.start()
        out, err = pull.communicate(timeout=60)
        assert pull.returncode == 0, err
        assert "Downloaded newer image" in out
        log = open(daemon.log).read()
        assert f"sha256:{big}: resumed at byte" in log and "(HTTP 206)" in log
        assert daemon.ok("run", "--rm", ref, "sh", "-c", "wc -c < /big").strip() == str(24 << 20)
        # Pushed to another name on the registry itself: the 24 MB layer goes up in 16 MB chunks.
        pushed = f"{registry.host}/pushed/big:1"
        daemon.ok("tag", ref, pushed)
        assert "Pushed" in daemon.ok("push", pushed)
        assert registry.inspect("pushed/big:1")["layers"][-1] == registry.inspect("seed/big:resume")["layers"][-1]
        rmi_quiet(daemon, ref, pushed)
    finally:
        proxy.stop()


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_login_pull_push(docker, archives, auth):
    """Basic auth (htpasswd) and bearer tokens from the token server, through both CLIs."""
    reg = Registry(auth=auth)
    try:
        reg.seed(archives["busybox"], "private/busybox:1")
        ref, copy = f"{reg.host}/private/busybox:1", f"{reg.host}/private/copy:1"
        r = docker.docker("pull", ref)
        assert r.returncode == 1 and "unauthorized" in r.stderr
        r = docker.docker("login", "-u", "berth", "--password-stdin", reg.host, input="wrong\n")
        assert r.returncode == 1 and "unauthorized" in r.stderr
        r = docker.docker("login", "-u", "berth", "--password-stdin", reg.host, input="s3cret\n")
        assert r.returncode == 0, r.stderr
        assert "Login Succeeded" in r.stdout
        config = json.load(open(os.path.join(docker.env()["DOCKER_CONFIG"], "config.json")))
        assert reg.host in config["auths"]
        docker.ok("pull", ref)
        docker.ok("tag", ref, copy)
        assert "digest: sha256:" in docker.ok("push", copy)
        assert reg.inspect("private/copy:1") is not None
        if reg.token:  # the token server saw the user and the push scope
            assert any(user == "berth" and any("private/copy:pull,push" in s for s in scopes) for user, scopes in reg.token.requests)
        assert f"Removing login credentials for {reg.host}" in docker.ok("logout", reg.host)
        rmi_quiet(docker, ref, copy)
    finally:
        docker.docker("logout", reg.host)
        reg.stop()


def test_tls_registry_verified_with_certs_d(daemon, archives):
    reg = Registry(tls=True)
    certs = f"/etc/berth/certs.d/{reg.host}"
    try:
        reg.seed(archives["busybox"], "secure/busybox:1")
        os.makedirs(certs, exist_ok=True)
        wrong_key, wrong_crt = make_ca(reg.dir, "other-ca")
        shutil.copy(wrong_crt, os.path.join(certs, "ca.crt"))
        r = daemon.docker("pull", f"{reg.host}/secure/busybox:1")
        assert r.returncode == 1 and "x509" in r.stderr
        shutil.copy(reg.ca, os.path.join(certs, "ca.crt"))
        daemon.ok("pull", f"{reg.host}/secure/busybox:1")
        rmi_quiet(daemon, f"{reg.host}/secure/busybox:1")
    finally:
        shutil.rmtree(certs, ignore_errors=True)
        reg.stop()


def test_search_lists_catalog_matches(docker, registry, archives):
    registry.seed(archives["busybox"], "seed/busybox:1")
    registry.seed(archives["busybox"], "other/thing:1")
    out = docker.ok("search", f"{registry.host}/busy")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert any(l.startswith(f"{registry.host}/seed/busybox") for l in lines[1:])
    assert not any("other/thing" in l for l in lines)


def test_mirror_serves_docker_hub_names(rootfs_template, registry, archives):
    """berthd with a mirror: `busybox:mirrored` (docker.io/library/busybox) comes from the mirror.
    The mirror holds the image, so the origin is never asked."""
    registry.seed(archives["busybox"], "library/busybox:mirrored")
    d = Daemon(extra_args=["--registry-mirror", f"http://{registry.host}"])
    try:
        d.start()
        out = d.ok("pull", "busybox:mirrored")
        assert "Status: Downloaded newer image for busybox:mirrored" in out
        assert d.ok("run", "--rm", "busybox:mirrored", "echo", "ok") == "ok\n"
    finally:
        d.stop()


DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def test_push_writes_schema2_with_gzip_layers_that_peers_pull(daemon, registry, rootfs_template, tmp_path):
    """What Berth pushes is what `docker push` writes (schema 2, gzip layers, Docker's config
    type); skopeo, dockerd and Berth itself pull it; layers pulled from a registry go back as the
    same blobs, so a pulled image pushed elsewhere keeps its manifest digest."""
    from peer_engines import DOCKERD, Dockerd
    # an image of uncompressed local layers: imported, then a committed layer on top
    daemon.ok("tag", "busybox:latest", f"{registry.host}/peers/local:1")
    commit(daemon, "busybox:latest", "echo on-top > /on-top", f"{registry.host}/peers/local:2")
    # an image that exists only in the registry (not sharing busybox's layer): pulled, then pushed elsewhere
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "hello").write_text("tiny\n")
    tar = subprocess.run(["tar", "-C", str(tiny), "-c", "."], capture_output=True, check=True, timeout=30).stdout
    p = subprocess.run([DOCKER, "import", "-", "tiny-seed:1"], input=tar, env=daemon.env(), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    daemon.ok("save", "-o", str(tmp_path / "tiny.tar"), "tiny-seed:1")
    daemon.ok("rmi", "tiny-seed:1")
    registry.seed(str(tmp_path / "tiny.tar"), "seed/tiny:1")
    try:
        for tag in ("1", "2"):
            daemon.ok("push", f"{registry.host}/peers/local:{tag}")
            manifest = registry.inspect(f"peers/local:{tag}")
            assert manifest["mediaType"] == DOCKER_V2, manifest
            assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
            for layer in manifest["layers"]:
                assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
                with open(registry.blob_path(layer["digest"]), "rb") as f:
                    assert f.read(2) == b"\x1f\x8b", "layer is not gzip"
            # skopeo reads it as an image (not an "artifact") and copies it whole
            out = tmp_path / f"copy{tag}"
            p = subprocess.run([SKOPEO, "copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/peers/local:{tag}", f"oci:{out}:x"],
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
        # a second push finds every blob there: gzip is deterministic
        assert "Pushed" not in daemon.ok("push", f"{registry.host}/peers/local:2")

        pulled = daemon.ok("pull", f"{registry.host}/seed/tiny:1")
        pulled_digest = [line.split()[-1] for line in pulled.splitlines() if line.startswith("Digest: ")][0]
        daemon.ok("tag", f"{registry.host}/seed/tiny:1", f"{registry.host}/again/tiny:1")
        out = daemon.ok("push", f"{registry.host}/again/tiny:1")
        pushed_digest = [line.split()[2] for line in out.splitlines() if line.startswith("1: digest: ")][0]
        assert pushed_digest == pulled_digest

        # podman pulls and runs it too (its own store, removed again)
        podman = shutil.which("podman")
        assert podman, "podman is needed (make deps installs it)"
        for ref in (f"{registry.host}/peers/local:2", f"{registry.host}/again/tiny:1"):
            p = subprocess.run([podman, "pull", "-q", "--tls-verify=false", ref], capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stderr
        p = subprocess.run([podman, "image", "inspect", "--format", "{{.Digest}}", f"{registry.host}/again/tiny:1"],
                           capture_output=True, text=True, timeout=60)
        assert p.stdout.strip() == pushed_digest, p.stdout + p.stderr
        subprocess.run([podman, "rmi", "-f", f"{registry.host}/peers/local:2", f"{registry.host}/again/tiny:1"], capture_output=True, timeout=60)

        # the reference engine pulls and runs what Berth pushed
        assert DOCKERD, "dockerd is needed as the reference engine"
        reference = Dockerd()
        try:
            reference.start()
            for ref in (f"{registry.host}/peers/local:2", f"{registry.host}/again/tiny:1"):
                r = reference.docker("pull", ref, timeout=120)
                assert r.returncode == 0, r.stderr
            r = reference.docker("run", "--rm", f"{registry.host}/peers/local:2", "cat", "/on-top")
            assert r.stdout == "on-top\n", r.stderr
        finally:
            reference.stop()
    finally:
        rmi_quiet(daemon, f"{registry.host}/peers/local:1", f"{registry.host}/peers/local:2", f"{registry.host}/seed/tiny:1",
                  f"{registry.host}/again/tiny:1")


def test_images_filters_references_with_a_registry_port(daemon, registry):
    """`images REPO` matches a name whose registry has a port, and only it."""
    daemon.ok("tag", "busybox:latest", f"{registry.host}/app:1")
    daemon.ok("tag", "busybox:latest", f"{registry.host}/other:1")
    try:
        out = daemon.ok("images", "--format", "{{.Repository}}:{{.Tag}}", f"{registry.host}/app")
        assert out.split() == [f"{registry.host}/app:1"]
        out = daemon.ok("images", "--format", "{{.Repository}}:{{.Tag}}", f"{registry.host}/app:1")
        assert out.split() == [f"{registry.host}/app:1"]
    finally:
        rmi_quiet(daemon, f"{registry.host}/app:1", f"{registry.host}/other:1")
