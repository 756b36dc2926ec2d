"""CRI v1 as the kubelet speaks it, every test run against Debian's containerd 1.6 CRI plugin (the
reference runtime) and then against berthd, with the same assertions. The specs mirror
kubernetes-sigs/cri-tools' critest (pkg/validate: runtime_info.go, image.go): critest itself needs
a newer Go than this machine has. Images come from a real registry on 127.0.0.1, seeded by skopeo
from images built by berthd.

Where the two runtimes differ on purpose, the test says so and why (containerd 1.6 predates the
RuntimeConfig RPC)."""
import contextlib
import glob
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import grpc
import pytest

from conftest import TIMEOUT, Daemon, remove_cgroup_parent
from cri_support import CRI, CNINetwork, Containerd, remove_shared_chains, shared_chains_present
from registry_support import SKOPEO, Registry, free_port

USER_IMAGES = {"uid": "USER 1002:1002", "name": "USER nobody"}
SUBNETS = {"containerd": "10.231.7.0/24", "berth": "10.231.8.0/24"}


@pytest.fixture(scope="module")
def registry(daemon):
    """A registry holding busybox under three tags, and two images that differ only in USER."""
    reg = Registry(auth="htpasswd")
    work = tempfile.mkdtemp(prefix="berth-cri-images-")
    try:
        archives = {"busybox": os.path.join(work, "busybox.tar")}
        daemon.ok("save", "-o", archives["busybox"], "busybox:latest")
        for name, user in USER_IMAGES.items():
            context = os.path.join(work, name)
            os.makedirs(context)
            with open(os.path.join(context, "Dockerfile"), "w") as f:
                f.write(f"FROM busybox\n{user}\nLABEL berth.test.image={name}\n")
            daemon.ok("build", "-q", "-t", f"cri-{name}:1", context, timeout=120)
            archives[name] = os.path.join(work, name + ".tar")
            daemon.ok("save", "-o", archives[name], f"cri-{name}:1")
            daemon.ok("rmi", f"cri-{name}:1")
        for tag in ("latest", "1.0", "stable"):
            reg.seed(archives["busybox"], f"busybox:{tag}")
        for name in USER_IMAGES:
            reg.seed(archives[name], f"{name}:1")
        yield reg
    finally:
        shutil.rmtree(work, ignore_errors=True)
        reg.stop()


@pytest.fixture(scope="module")
def pause_image(daemon):
    """containerd's sandbox image (Berth needs none: its pods are pinned namespaces), built here."""
    work = tempfile.mkdtemp(prefix="berth-cri-pause-")
    try:
        with open(os.path.join(work, "Dockerfile"), "w") as f:
            f.write('FROM busybox\nCMD ["/bin/sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 3600 & wait; done"]\n')
        daemon.ok("build", "-q", "-t", "berth.test/pause:1", work, timeout=120)
        archive = os.path.join(work, "pause.tar")
        daemon.ok("save", "-o", archive, "berth.test/pause:1")
        daemon.ok("rmi", "berth.test/pause:1")
        yield archive
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def plugin_chains():
    """The CNI plugins' shared netfilter chains this module made are removed after it."""
    before = shared_chains_present()
    yield
    remove_shared_chains(keep=before)


@contextlib.contextmanager
def runtime_on(name, network, registry, pause_image):
    """One runtime's CRI client on `network`: containerd's plugin, or berthd's server on its exec root."""
    if name == "containerd":
        runtime = Containerd(registry_hosts=[registry.host], cni_conf_dir=network.conf_dir)
        try:
            runtime.import_image(pause_image)
            runtime.cri.network = network
            yield runtime.cri
        finally:
            runtime.stop()
    else:
        engine = Daemon(extra_args=["--cni-conf-dir", network.conf_dir])
        engine.start()
        client = CRI("berth", os.path.join(engine.exec_root, "cri.sock"))
        try:
            client.wait_ready()
            client.engine = engine
            client.network = network
            yield client
        finally:
            client.close()
            engine.stop()


@pytest.fixture(scope="module", params=["containerd", "berth"])
def cri(request, registry, pause_image):
    """One runtime's CRI client, each with a pod network of its own (a CNI bridge and subnet) from
    Debian's plugins, the firewall plugin included."""
    with CNINetwork(request.param, SUBNETS[request.param]) as network, runtime_on(request.param, network, registry, pause_image) as client:
        yield client


@pytest.fixture(scope="module", params=["containerd", "berth"])
def reference_cri(request, registry, pause_image):
    """As `cri`, on containerd's reference conflist (bridge with host-local, portmap; no firewall
    plugin) with the pod subnet accepted in FORWARD by the node, as kube-proxy does: the
    configuration `bench/cri.py` also measures."""
    subnet = {"containerd": "10.231.9.0/24", "berth": "10.231.10.0/24"}[request.param]
    with CNINetwork(request.param + "-ref", subnet, firewall=False) as network, \
            runtime_on(request.param, network, registry, pause_image) as client:
        yield client


@pytest.fixture
def pb(cri):
    return cri.pb


def spec(pb, image):
    return pb.ImageSpec(image=image)


def auth(pb):
    return pb.AuthConfig(username="berth", password="s3cret")


def pull(cri, reference):
    return cri("images", "PullImage", image=spec(cri.pb, reference), auth=auth(cri.pb), deadline=120).image_ref


def status(cri, reference, verbose=False):
    return cri("images", "ImageStatus", image=spec(cri.pb, reference), verbose=verbose)


def remove(cri, reference):
    cri("images", "RemoveImage", image=spec(cri.pb, reference))


def manifest_digest(registry, repo):
    p = subprocess.run([SKOPEO, "inspect", "--tls-verify=false", "--creds", "berth:s3cret", f"docker://{registry.host}/{repo}"],
                       capture_output=True, text=True, timeout=60, check=True)
    return json.loads(p.stdout)["Digest"]


# runtime_info.go

def test_version_names_the_runtime_and_api_v1(cri):
    v = cri("runtime", "Version", version="v1")
    assert v.runtime_api_version == "v1"
    assert v.version == "0.1.0"
    assert v.runtime_name and v.runtime_version


def test_status_reports_runtime_and_network_conditions(cri):
    conditions = {c.type: c for c in cri("runtime", "Status").status.conditions}
    assert conditions["RuntimeReady"].status is True
    assert conditions["NetworkReady"].status is True  # the CNI configuration is in place


def test_runtime_config_names_the_cgroup_driver(cri):
    if cri.name == "containerd":
        # containerd 1.6 predates the RPC (1.7 added it): the kubelet then falls back to its flag.
        with pytest.raises(grpc.RpcError) as e:
            cri("runtime", "RuntimeConfig")
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        return
    assert cri("runtime", "RuntimeConfig").linux.cgroup_driver == cri.pb.CGROUPFS


# image.go

def test_an_image_with_a_tag_is_pulled_and_removed(cri, registry):
    ref = f"{registry.host}/busybox:1.0"
    image_id = pull(cri, ref)
    assert image_id.startswith("sha256:")
    found = status(cri, ref).image
    assert found.id == image_id and ref in found.repo_tags and found.size > 0
    remove(cri, ref)
    assert not status(cri, ref).HasField("image")


def test_an_image_without_a_tag_is_pulled_as_latest(cri, registry):
    image_id = pull(cri, f"{registry.host}/busybox")
    try:
        assert f"{registry.host}/busybox:latest" in status(cri, f"{registry.host}/busybox").image.repo_tags
        assert status(cri, f"{registry.host}/busybox:latest").image.id == image_id
    finally:
        remove(cri, image_id)


def test_an_image_by_digest_is_pulled_and_answers_every_kind_of_reference(cri, registry):
    digest = manifest_digest(registry, "busybox:latest")
    by_digest = f"{registry.host}/busybox@{digest}"
    image_id = pull(cri, by_digest)
    try:
        found = status(cri, by_digest).image
        assert found.id == image_id and by_digest in found.repo_digests
        pull(cri, f"{registry.host}/busybox:latest")
        for reference in (image_id, f"{registry.host}/busybox:latest", by_digest):
            assert status(cri, reference).image.id == image_id, reference
    finally:
        remove(cri, image_id)


def test_the_status_of_a_missing_image_is_empty_not_an_error(cri, registry):
    assert not status(cri, f"{registry.host}/busybox:absent").HasField("image")


def test_removing_a_missing_image_succeeds(cri, registry):
    remove(cri, f"{registry.host}/never-pulled:1")


def test_pulling_a_missing_image_fails(cri, registry):
    with pytest.raises(grpc.RpcError) as e:
        pull(cri, f"{registry.host}/busybox:absent")
    assert e.value.code() != grpc.StatusCode.OK and "absent" in e.value.details()


def test_a_pull_without_credentials_is_refused(cri, registry):
    with pytest.raises(grpc.RpcError):
        cri("images", "PullImage", image=spec(cri.pb, f"{registry.host}/busybox:stable"), deadline=60)
    assert not status(cri, f"{registry.host}/busybox:stable").HasField("image")


def test_list_images_has_exactly_the_three_images_pulled(cri, registry):
    ids = [pull(cri, f"{registry.host}/busybox:latest")] + [pull(cri, f"{registry.host}/{name}:1") for name in USER_IMAGES]
    try:
        assert len(set(ids)) == 3
        listed = {i.id: i for i in cri("images", "ListImages").images}
        assert set(ids) <= set(listed)
        assert [listed[i].id for i in ids] == ids
    finally:
        for image_id in ids:
            remove(cri, image_id)
    assert not set(ids) & {i.id for i in cri("images", "ListImages").images}


def test_one_image_under_three_tags_lists_three_repo_tags(cri, registry):
    tags = [f"{registry.host}/busybox:{t}" for t in ("latest", "1.0", "stable")]
    ids = {pull(cri, t) for t in tags}
    try:
        assert len(ids) == 1
        image = next(i for i in cri("images", "ListImages").images if i.id in ids)
        assert sorted(image.repo_tags) == sorted(tags)
    finally:
        remove(cri, ids.pop())
    for t in tags:
        assert not status(cri, t).HasField("image")


def test_the_image_user_is_reported_as_uid_or_username(cri, registry):
    uid_image, name_image = (pull(cri, f"{registry.host}/{n}:1") for n in ("uid", "name"))
    try:
        by_uid = status(cri, uid_image).image
        assert by_uid.HasField("uid") and by_uid.uid.value == 1002 and by_uid.username == ""
        by_name = status(cri, name_image).image
        assert not by_name.HasField("uid") and by_name.username == "nobody"
    finally:
        remove(cri, uid_image)
        remove(cri, name_image)


def test_verbose_status_carries_the_image_config(cri, registry):
    image_id = pull(cri, f"{registry.host}/uid:1")
    try:
        info = json.loads(status(cri, image_id, verbose=True).info["info"])
        assert info["imageSpec"]["config"]["User"] == "1002:1002"
        assert info["imageSpec"]["config"]["Labels"]["berth.test.image"] == "uid"
        assert info["chainID"].startswith("sha256:")
    finally:
        remove(cri, image_id)


def test_image_fs_info_reports_the_layer_filesystem(cri, registry):
    image_id = pull(cri, f"{registry.host}/busybox:latest")
    try:
        deadline = time.time() + 3 * TIMEOUT  # containerd refreshes its usage figures every few seconds
        while True:
            filesystems = cri("images", "ImageFsInfo").image_filesystems
            assert len(filesystems) == 1 and os.path.isdir(filesystems[0].fs_id.mountpoint)
            if filesystems[0].used_bytes.value > 1_000_000 and filesystems[0].inodes_used.value > 100:
                break
            assert time.time() < deadline, filesystems
            time.sleep(1)
        assert filesystems[0].timestamp > 0
    finally:
        remove(cri, image_id)


# Berth's own: the kubelet's images and the Engine API's are one store.

def test_an_image_pulled_over_cri_is_an_engine_image(cri, registry):
    if cri.name != "berth":
        pytest.skip("berthd only: containerd keeps CRI images in its k8s.io namespace, apart from dockerd")
    ref = f"{registry.host}/busybox:stable"
    image_id = pull(cri, ref)
    engine = cri.engine
    try:
        assert engine.ok("image", "inspect", "--format", "{{.Id}}", ref).strip() == image_id
        assert ref in engine.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    finally:
        engine.ok("rmi", ref)
    assert not status(cri, ref).HasField("image")


# pod.go, networking.go

def pod_config(pb, name, host_network=False, cgroup_parent="", share_pid=False, privileged=False, sysctls=None, **fields):
    uid = uuid.uuid4().hex
    options = pb.NamespaceOption(network=pb.NODE if host_network else pb.POD, pid=pb.POD if share_pid else pb.CONTAINER, ipc=pb.POD)
    return pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace="berth-test", attempt=0),
                               linux=pb.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent, sysctls=sysctls or {},
                                                              security_context=pb.LinuxSandboxSecurityContext(namespace_options=options,
                                                                                                              privileged=privileged)),
                               **fields)


@pytest.fixture
def pods(cri):
    """Runs pods for a test and removes every one it ran, even on failure."""
    started = []

    def run(name, **kw):
        sandbox = cri("runtime", "RunPodSandbox", config=pod_config(cri.pb, name, **kw), deadline=60).pod_sandbox_id
        started.append(sandbox)
        return sandbox
    yield run
    for sandbox in started:
        try:
            cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)
        except grpc.RpcError:
            pass


def pod_status(cri, sandbox, verbose=False):
    return cri("runtime", "PodSandboxStatus", pod_sandbox_id=sandbox, verbose=verbose)


def namespace_path(cri, sandbox, kind):
    """Where a pod's namespace can be entered: containerd's pause process, or Berth's pin."""
    info = json.loads(pod_status(cri, sandbox, verbose=True).info["info"])
    for ns in info["runtimeSpec"]["linux"]["namespaces"]:
        if ns["type"] == kind and ns.get("path"):
            return ns["path"]
    return f"/proc/{info['pid']}/ns/{ 'net' if kind == 'network' else kind }"


def nsenter(path_flag, *argv):
    return subprocess.run(["nsenter", path_flag, *argv], capture_output=True, text=True, timeout=TIMEOUT)


def test_a_pod_runs_is_listed_stops_and_is_removed(cri, pods):
    sandbox = pods("basic", labels={"app": "berth-basic"}, annotations={"note": "kept"})
    status = pod_status(cri, sandbox).status
    assert status.id == sandbox and status.state == cri.pb.SANDBOX_READY and status.created_at > 0
    assert status.metadata.name == "basic" and status.labels["app"] == "berth-basic" and status.annotations["note"] == "kept"
    listed = cri("runtime", "ListPodSandbox").items
    assert [p.id for p in listed if p.id == sandbox] == [sandbox]
    cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox)
    assert pod_status(cri, sandbox).status.state == cri.pb.SANDBOX_NOTREADY
    cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox)  # the kubelet stops more than once
    cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox)
    cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox)  # and removes what is gone
    with pytest.raises(grpc.RpcError) as e:
        pod_status(cri, sandbox)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert sandbox not in [p.id for p in cri("runtime", "ListPodSandbox").items]


def test_a_ready_pod_is_stopped_by_its_removal(cri, pods):
    sandbox = pods("removed-ready")
    cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)
    assert sandbox not in [p.id for p in cri("runtime", "ListPodSandbox").items]


def test_list_pod_sandbox_filters_by_id_state_and_labels(cri, pods):
    a = pods("filter-a", labels={"tier": "a", "app": "berth-filter"})
    b = pods("filter-b", labels={"tier": "b", "app": "berth-filter"})
    cri("runtime", "StopPodSandbox", pod_sandbox_id=b)
    pb = cri.pb

    def listed(**filter_fields):
        return {p.id for p in cri("runtime", "ListPodSandbox", filter=pb.PodSandboxFilter(**filter_fields)).items}
    assert listed(id=a) == {a}
    assert listed(label_selector={"app": "berth-filter"}) == {a, b}
    assert listed(label_selector={"app": "berth-filter", "tier": "b"}) == {b}
    assert listed(label_selector={"app": "berth-filter"}, state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)) == {a}
    assert listed(label_selector={"app": "berth-filter"}, state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY)) == {b}


def test_a_pod_name_is_reserved_until_the_pod_is_removed(cri, pods):
    config = pod_config(cri.pb, "twin")
    first = cri("runtime", "RunPodSandbox", config=config, deadline=60).pod_sandbox_id
    try:
        with pytest.raises(grpc.RpcError) as e:
            cri("runtime", "RunPodSandbox", config=config, deadline=60)
        assert "reserved" in e.value.details()
    finally:
        cri("runtime", "RemovePodSandbox", pod_sandbox_id=first, deadline=60)


def test_the_same_pod_run_twice_at_once_runs_once(cri):
    config = pod_config(cri.pb, "racing")
    outcomes = []

    def run():
        try:
            outcomes.append(("ok", cri("runtime", "RunPodSandbox", config=config, deadline=60).pod_sandbox_id))
        except grpc.RpcError as e:
            outcomes.append(("refused", e.details()))
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [value for kind, value in outcomes if kind == "ok"]
    for sandbox in made:
        cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)
    assert len(made) == 1 and "reserved" in next(v for k, v in outcomes if k == "refused"), outcomes


def test_a_pod_gets_an_address_on_the_pod_network_and_answers_on_it(cri, pods):
    sandbox = pods("net")
    ip = pod_status(cri, sandbox).status.network.ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(cri.network.subnet)
    inside = nsenter("--net=" + namespace_path(cri, sandbox, "network"), "ip", "-4", "-o", "addr", "show", "eth0")
    assert f" {ip}/" in inside.stdout, inside
    # The node reaches the pod through the bridge the plugins made (the gateway is the node's).
    assert subprocess.run(["busybox", "ping", "-c", "1", "-W", "5", ip], capture_output=True, timeout=TIMEOUT).returncode == 0
    cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=60)
    leases = os.path.join(cri.network.dir, "ipam", cri.network.name)
    assert ip not in (os.listdir(leases) if os.path.isdir(leases) else []), "the stop gave the address back"


def test_two_pods_reach_each_other(cri, pods):
    a, b = pods("peer-a"), pods("peer-b")
    ip_b = pod_status(cri, b).status.network.ip
    r = nsenter("--net=" + namespace_path(cri, a, "network"), "busybox", "ping", "-c", "1", "-W", "5", ip_b)
    assert r.returncode == 0, r


def test_a_pod_has_its_hostname_and_dns_config(cri, pods):
    pb = cri.pb
    sandbox = pods("dns", hostname="berth-pod-host",
                   dns_config=pb.DNSConfig(servers=["10.96.0.10"], searches=["berth-test.svc.cluster.local", "svc.cluster.local"],
                                           options=["ndots:5"]))
    r = nsenter("--uts=" + namespace_path(cri, sandbox, "uts"), "hostname")
    assert r.stdout.strip() == "berth-pod-host", r
    resolv = open(resolv_conf(cri, sandbox)).read()
    assert "nameserver 10.96.0.10" in resolv and "search berth-test.svc.cluster.local svc.cluster.local" in resolv
    assert "options ndots:5" in resolv


def resolv_conf(cri, sandbox):
    if cri.name == "berth":
        return json.loads(pod_status(cri, sandbox, verbose=True).info["info"])["resolvConf"]
    return glob.glob(f"/var/tmp/berth-containerd-*/root/io.containerd.grpc.v1.cri/sandboxes/{sandbox}/resolv.conf")[0]


def test_a_host_network_pod_has_the_node_network(cri, pods):
    sandbox = pods("hostnet", host_network=True)
    status = pod_status(cri, sandbox).status
    assert status.state == cri.pb.SANDBOX_READY and status.network.ip == ""
    assert status.linux.namespaces.options.network == cri.pb.NODE


def test_a_host_port_reaches_the_pod_from_the_node(cri, pods):
    pb = cri.pb
    port = free_port()
    sandbox = pods("hostport", port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=8080, host_port=port, host_ip="127.0.0.1")])
    host_port_reaches(cri, sandbox, port)


def host_port_reaches(cri, sandbox, port):
    """A server in the pod on 8080 answers at the pod's address, then at 127.0.0.1:`port`."""
    ip = pod_status(cri, sandbox).status.network.ip
    server = subprocess.Popen(["nsenter", "--net=" + namespace_path(cri, sandbox, "network"), "busybox", "nc", "-l", "-p", "8080", "-e",
                               "echo", "from-the-pod"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        reply = b""
        deadline = time.time() + TIMEOUT
        while b"from-the-pod" not in reply and time.time() < deadline:
            try:
                with socket.create_connection((ip, 8080), timeout=2) as s:  # listening yet?
                    reply = s.recv(64)
            except OSError:
                time.sleep(0.1)
        assert b"from-the-pod" in reply
        server.wait(timeout=TIMEOUT)
        server = subprocess.Popen(["nsenter", "--net=" + namespace_path(cri, sandbox, "network"), "busybox", "nc", "-l", "-p", "8080", "-e",
                                   "echo", "through-the-host-port"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reply = b""
        while b"through-the-host-port" not in reply and time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    reply = s.recv(64)
            except OSError:
                time.sleep(0.1)
        assert b"through-the-host-port" in reply
    finally:
        server.kill()
        server.wait(timeout=TIMEOUT)


def test_on_the_reference_conflist_pods_reach_each_other_and_a_host_port(reference_cri):
    """Without the firewall plugin (the node accepting the pod subnet in FORWARD instead), pods
    still reach each other and a hostPort reaches its pod: the network the CRI bench's second
    table measures works on both runtimes."""
    cri, pb = reference_cri, reference_cri.pb
    port = free_port()
    started = []
    try:
        for name, fields in (("ref-a", {}), ("ref-b", {"port_mappings": [pb.PortMapping(protocol=pb.TCP, container_port=8080, host_port=port,
                                                                                          host_ip="127.0.0.1")]})):
            started.append(cri("runtime", "RunPodSandbox", config=pod_config(pb, name, **fields), deadline=60).pod_sandbox_id)
        a, b = started
        ip_b = pod_status(cri, b).status.network.ip
        assert ipaddress.ip_address(ip_b) in ipaddress.ip_network(cri.network.subnet)
        r = nsenter("--net=" + namespace_path(cri, a, "network"), "busybox", "ping", "-c", "1", "-W", "5", ip_b)
        assert r.returncode == 0, r
        host_port_reaches(cri, b, port)
    finally:
        for sandbox in started:
            cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)


# container.go, multi_container.go, security_context.go

def container_config(pb, name, command, **fields):
    """As the kubelet fills it: the container's PID namespace its own unless the pod shares one."""
    linux = fields.pop("linux", pb.LinuxContainerConfig())
    linux.security_context.namespace_options.pid = pb.POD if fields.pop("share_pid", False) else pb.CONTAINER
    if "target" in fields:  # an ephemeral (debug) container's: another container's namespace
        linux.security_context.namespace_options.pid = pb.TARGET
        linux.security_context.namespace_options.target_id = fields.pop("target")
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=fields.pop("image")),
                              command=command, linux=linux, **fields)


@pytest.fixture
def pod_with(cri, registry):
    """Runs a pod and creates (and starts) containers in it from busybox; all removed after."""
    image = f"{registry.host}/busybox:latest"
    pull(cri, image)

    def make(name, containers, start=True, **pod_fields):
        config = pod_config(cri.pb, name, **pod_fields)
        sandbox = cri("runtime", "RunPodSandbox", config=config, deadline=60).pod_sandbox_id
        made = []
        for cname, command, extra in containers:
            cid = cri("runtime", "CreateContainer", pod_sandbox_id=sandbox, sandbox_config=config,
                      config=container_config(cri.pb, cname, command, image=image, **extra), deadline=60).container_id
            if start:
                cri("runtime", "StartContainer", container_id=cid, deadline=60)
            made.append(cid)
        created.append(sandbox)
        return sandbox, made
    created = []
    yield make
    for sandbox in created:
        for attempt in range(3):
            try:
                cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=60)
                break
            except grpc.RpcError as e:
                # containerd 1.6 may lose the race with a container exiting as it is killed
                # ("failed to kill container ...: ttrpc: closed"); kubelet retries, so do we
                if "ttrpc: closed" in (e.details() or "") and attempt < 2:
                    continue
                assert e.code() == grpc.StatusCode.NOT_FOUND, e  # the test removed it itself
                break
        cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)


SLEEPER = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


def container_status(cri, cid):
    return cri("runtime", "ContainerStatus", container_id=cid).status


def exec_sync(cri, cid, *argv, timeout=0):
    """ExecSync's own `timeout` (seconds) is a field of the request, apart from the call's bound."""
    return cri.runtime.ExecSync(cri.pb.ExecSyncRequest(container_id=cid, cmd=list(argv), timeout=timeout), timeout=TIMEOUT)


def test_a_container_is_created_started_stopped_and_removed(cri, pod_with):
    sandbox, (cid,) = pod_with("lifecycle", [("main", SLEEPER, {"labels": {"role": "main"}, "annotations": {"a": "b"}})], start=False)
    status = container_status(cri, cid)
    assert status.state == cri.pb.CONTAINER_CREATED and status.metadata.name == "main" and status.created_at > 0
    assert status.labels["role"] == "main" and status.annotations["a"] == "b" and status.image_ref
    cri("runtime", "StartContainer", container_id=cid, deadline=60)
    status = container_status(cri, cid)
    assert status.state == cri.pb.CONTAINER_RUNNING and status.started_at >= status.created_at
    # `crictl inspect`'s view: the spec the container runs with carries containerd's annotations
    # (not the pod's own: containerd passes none unless configured to)
    info = json.loads(cri("runtime", "ContainerStatus", container_id=cid, verbose=True).info["info"])
    annotations = info["runtimeSpec"]["annotations"]
    assert info["sandboxID"] == sandbox and info["pid"] > 0 and "a" not in annotations
    assert annotations["io.kubernetes.cri.container-type"] == "container" and annotations["io.kubernetes.cri.sandbox-id"] == sandbox
    listed = cri("runtime", "ListContainers", filter=cri.pb.ContainerFilter(pod_sandbox_id=sandbox)).containers
    assert [(c.id, c.pod_sandbox_id, c.metadata.name, c.state) for c in listed] == [(cid, sandbox, "main", cri.pb.CONTAINER_RUNNING)]
    cri("runtime", "StopContainer", container_id=cid, timeout=10, deadline=60)
    status = container_status(cri, cid)
    assert status.state == cri.pb.CONTAINER_EXITED and status.exit_code == 0 and status.reason == "Completed"
    assert status.finished_at >= status.started_at
    cri("runtime", "RemoveContainer", container_id=cid)
    cri("runtime", "RemoveContainer", container_id=cid)  # idempotent
    with pytest.raises(grpc.RpcError) as e:
        container_status(cri, cid)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_failing_container_reports_its_exit_code_and_reason(cri, pod_with):
    _, (cid,) = pod_with("fails", [("fail", ["/bin/sh", "-c", "exit 3"], {})])
    deadline = time.time() + TIMEOUT
    while container_status(cri, cid).state != cri.pb.CONTAINER_EXITED:
        assert time.time() < deadline
        time.sleep(0.1)
    status = container_status(cri, cid)
    assert (status.exit_code, status.reason) == (3, "Error")


def test_exec_sync_returns_both_streams_and_the_exit_code(cri, pod_with):
    _, (cid,) = pod_with("exec", [("main", SLEEPER, {})])
    r = exec_sync(cri, cid, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3)
    assert exec_sync(cri, cid, "/bin/echo", "ok").stdout == b"ok\n"
    if cri.name == "berth":  # containerd turns this into a Go duration that wraps around
        assert exec_sync(cri, cid, "/bin/echo", "long", timeout=2**62).stdout == b"long\n"  # no overflow trap


def test_exec_sync_past_its_timeout_is_an_error(cri, pod_with):
    _, (cid,) = pod_with("exec-timeout", [("main", SLEEPER, {})])
    started = time.time()
    with pytest.raises(grpc.RpcError) as e:
        exec_sync(cri, cid, "/bin/sleep", "20", timeout=1)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and time.time() - started < 15


def test_the_containers_of_a_pod_share_its_network_hostname_ipc_and_dns(cri, pod_with):
    pb = cri.pb
    sandbox, (a, b) = pod_with("shared", [("a", SLEEPER, {}), ("b", SLEEPER, {})], hostname="berth-shared",
                               dns_config=pb.DNSConfig(servers=["10.96.0.10"], searches=["svc.cluster.local"]))
    ip = pod_status(cri, sandbox).status.network.ip
    for cid in (a, b):
        assert f"inet {ip}/" in exec_sync(cri, cid, "/bin/ip", "-4", "addr", "show", "eth0").stdout.decode()
        assert exec_sync(cri, cid, "/bin/hostname").stdout == b"berth-shared\n"
        assert b"nameserver 10.96.0.10" in exec_sync(cri, cid, "/bin/cat", "/etc/resolv.conf").stdout
    assert exec_sync(cri, a, "/bin/sh", "-c", "echo shared > /dev/shm/note").exit_code == 0
    assert exec_sync(cri, b, "/bin/cat", "/dev/shm/note").stdout == b"shared\n"
    # One network namespace: b reaches a's listener on localhost.
    assert exec_sync(cri, a, "/bin/sh", "-c", "nc -l -p 7070 -e echo from-a >/dev/null 2>&1 &").exit_code == 0
    r = b""
    deadline = time.time() + TIMEOUT
    while b"from-a" not in r and time.time() < deadline:
        r = exec_sync(cri, b, "/bin/sh", "-c", "nc 127.0.0.1 7070 </dev/null").stdout
    assert b"from-a" in r


def test_a_pod_can_share_one_pid_namespace(cri, pod_with):
    marked = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done", "pod-b-marker"]
    sandbox, (a, b) = pod_with("sharedpid", [("a", SLEEPER, {"share_pid": True}), ("b", marked, {"share_pid": True})], share_pid=True)
    seen = exec_sync(cri, a, "/bin/sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout.decode()
    assert "pod-b-marker" in seen, seen  # a sees b's process
    first = exec_sync(cri, b, "/bin/cat", "/proc/1/cmdline").stdout.decode()
    assert "pod-b-marker" not in first and "sleep 1" not in first, f"PID 1 is the pod's own init, not a container: {first!r}"
    namespace = namespace_path(cri, sandbox, "pid")  # containerd's pause process, or Berth's pin
    ns_id = os.readlink(namespace) if os.path.islink(namespace) else f"pid:[{os.stat(namespace).st_ino}]"
    members = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _ns(pid) == ns_id]
    assert len(members) >= 3, members  # the init, a, b (and their sleeps)
    cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=60)
    wait_until(lambda: not [pid for pid in members if _ns(pid) == ns_id], "every process of the pod's PID namespace is gone")


def test_a_container_can_join_another_containers_pid_namespace(cri, pod_with, registry):
    """What `kubectl debug --target` asks: PID namespace TARGET, the namespace of one running
    container of the pod; a target that is gone, stopped or in another pod is refused."""
    marked = SLEEPER + ["target-marker"]
    sandbox, (a, stopped) = pod_with("targetpid", [("a", marked, {}), ("stopped", ["/bin/true"], {})])
    other, _ = pod_with("targetother", [])
    config = pod_config(cri.pb, "targetpid")
    image = f"{registry.host}/busybox:latest"

    def debugger(target, pod=sandbox, name="debug"):
        return cri("runtime", "CreateContainer", pod_sandbox_id=pod, sandbox_config=config, deadline=60,
                   config=container_config(cri.pb, name, SLEEPER, image=image, target=target)).container_id
    debug = debugger(a)
    cri("runtime", "StartContainer", container_id=debug, deadline=60)
    first = exec_sync(cri, debug, "/bin/cat", "/proc/1/cmdline").stdout.decode()
    assert "target-marker" in first, f"PID 1 of the debugger's namespace is the target: {first!r}"
    wait_until(lambda: container_status(cri, stopped).state == cri.pb.CONTAINER_EXITED, "the short container exited")
    unknown, missing = grpc.StatusCode.UNKNOWN, grpc.StatusCode.NOT_FOUND  # containerd's codes
    for target, pod, why, code in (("0" * 64, sandbox, "does not exist", missing),
                                   (stopped, sandbox, "is not running - in state CONTAINER_EXITED", unknown),
                                   (a, other, "does not belong to sandbox", unknown)):
        with pytest.raises(grpc.RpcError) as refused:
            debugger(target, pod=pod, name="debug-" + why.split()[0])
        assert refused.value.code() == code and "invalid target container" in refused.value.details() \
            and why in refused.value.details(), refused.value.details()


def _ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None

def test_list_containers_filters_by_pod_state_and_labels(cri, pod_with):
    pb = cri.pb
    one, (a,) = pod_with("list-one", [("a", SLEEPER, {"labels": {"app": "berth-list", "tier": "a"}})])
    two, (b,) = pod_with("list-two", [("b", SLEEPER, {"labels": {"app": "berth-list", "tier": "b"}})], start=False)

    def listed(**fields):
        return {c.id for c in cri("runtime", "ListContainers", filter=pb.ContainerFilter(**fields)).containers}
    assert listed(pod_sandbox_id=one) == {a} and listed(pod_sandbox_id=two) == {b}
    assert listed(label_selector={"app": "berth-list"}) == {a, b}
    assert listed(label_selector={"app": "berth-list", "tier": "b"}) == {b}
    assert listed(label_selector={"app": "berth-list"}, state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)) == {a}
    assert listed(label_selector={"app": "berth-list"}, state=pb.ContainerStateValue(state=pb.CONTAINER_CREATED)) == {b}
    assert listed(id=a) == {a}


def test_the_security_context_sets_user_groups_and_a_read_only_root(cri, pod_with):
    pb = cri.pb
    security = pb.LinuxContainerSecurityContext(run_as_user=pb.Int64Value(value=1234), run_as_group=pb.Int64Value(value=2345),
                                                supplemental_groups=[3456], readonly_rootfs=True)
    _, (cid,) = pod_with("security", [("main", SLEEPER, {"linux": pb.LinuxContainerConfig(security_context=security)})])
    ids = exec_sync(cri, cid, "/bin/sh", "-c", "id -u; id -g; id -G").stdout.decode().split("\n")
    assert ids[0] == "1234" and ids[1] == "2345" and "3456" in ids[2].split()
    assert exec_sync(cri, cid, "/bin/touch", "/written").exit_code != 0


def test_dropped_capabilities_are_gone(cri, pod_with):
    pb = cri.pb
    security = pb.LinuxContainerSecurityContext(capabilities=pb.Capability(drop_capabilities=["CHOWN"]))
    _, (cid,) = pod_with("caps", [("main", SLEEPER, {"linux": pb.LinuxContainerConfig(security_context=security)})])
    assert exec_sync(cri, cid, "/bin/chown", "1:1", "/tmp").exit_code != 0
    assert exec_sync(cri, cid, "/bin/sh", "-c", "echo ok > /tmp/x && chgrp 0 /tmp/x").exit_code == 0



def test_a_privileged_container_may_do_what_a_confined_one_may_not(cri, pod_with):
    pb = cri.pb
    privileged = pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(privileged=True))
    _, (confined, free) = pod_with("privileged", [("confined", SLEEPER, {}), ("free", SLEEPER, {"linux": privileged})], privileged=True)
    mount = ("/bin/sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t")
    assert exec_sync(cri, confined, *mount).exit_code != 0
    assert exec_sync(cri, free, *mount).exit_code == 0


def test_host_paths_are_mounted_read_write_or_read_only(cri, pod_with):
    pb = cri.pb
    host = tempfile.mkdtemp(prefix="berth-cri-mount-")
    try:
        with open(os.path.join(host, "given"), "w") as f:
            f.write("from-the-host\n")
        mounts = [pb.Mount(container_path="/rw", host_path=host), pb.Mount(container_path="/ro", host_path=host, readonly=True)]
        _, (cid,) = pod_with("mounts", [("main", SLEEPER, {"mounts": mounts})])
        assert exec_sync(cri, cid, "/bin/cat", "/ro/given").stdout == b"from-the-host\n"
        assert exec_sync(cri, cid, "/bin/sh", "-c", "echo back > /rw/written").exit_code == 0
        assert open(os.path.join(host, "written")).read() == "back\n"
        assert exec_sync(cri, cid, "/bin/sh", "-c", "echo no > /ro/refused").exit_code != 0
    finally:
        shutil.rmtree(host, ignore_errors=True)


def test_pod_sysctls_are_set_in_its_namespaces(cri, pod_with):
    pb = cri.pb
    sysctls = {"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "80"}
    node = open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read()
    _, (cid,) = pod_with("sysctls", [("main", SLEEPER, {})], sysctls=sysctls)
    assert exec_sync(cri, cid, "/bin/cat", "/proc/sys/kernel/shm_rmid_forced").stdout == b"1\n"
    assert exec_sync(cri, cid, "/bin/cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout == b"80\n"
    assert open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read() == node  # the node's own is untouched

    
def test_a_localhost_seccomp_profile_is_enforced(cri, pod_with):
    pb = cri.pb
    work = tempfile.mkdtemp(prefix="berth-cri-seccomp-")
    try:
        profile = os.path.join(work, "deny-mkdir.json")
        with open(profile, "w") as f:
            json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, f)
        confined = pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
            seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost, localhost_ref=profile)))
        _, (cid, free) = pod_with("seccomp", [("confined", SLEEPER, {"linux": confined}), ("free", SLEEPER, {})])
        assert exec_sync(cri, cid, "/bin/mkdir", "/tmp/refused").exit_code != 0
        assert exec_sync(cri, free, "/bin/mkdir", "/tmp/allowed").exit_code == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_masked_and_read_only_paths_are_applied(cri, pod_with):
    pb = cri.pb
    security = pb.LinuxContainerSecurityContext(masked_paths=["/proc/kcore", "/etc/masked-dir"], readonly_paths=["/proc/sys"])
    _, (cid,) = pod_with("paths", [("main", ["/bin/sh", "-c", "mkdir -p /etc/masked-dir; " + SLEEPER[2]], {"linux": pb.LinuxContainerConfig(security_context=security)})])
    assert exec_sync(cri, cid, "/bin/sh", "-c", "head -c 16 /proc/kcore | wc -c").stdout.strip() == b"0"
    assert exec_sync(cri, cid, "/bin/sh", "-c", "echo 1 > /proc/sys/kernel/shm_rmid_forced").exit_code != 0

def test_stopping_a_pod_stops_its_containers_and_removing_it_removes_them(cri, pod_with):
    sandbox, (a, b) = pod_with("teardown", [("a", SLEEPER, {}), ("b", SLEEPER, {})])
    cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=60)
    assert {container_status(cri, c).state for c in (a, b)} == {cri.pb.CONTAINER_EXITED}
    cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)
    assert not {a, b} & {c.id for c in cri("runtime", "ListContainers").containers}


def test_a_pod_container_is_a_berth_container_with_the_kubelets_labels(cri, pod_with):
    if cri.name != "berth":
        pytest.skip("berthd only: containerd's CRI containers live in its k8s.io namespace, apart from dockerd")
    kube = {"io.kubernetes.pod.name": "visible", "io.kubernetes.container.name": "main"}
    _, (cid,) = pod_with("visible", [("main", SLEEPER, {"labels": kube})])
    shown = cri.engine.ok("ps", "--filter", "label=io.kubernetes.pod.name=visible", "--format", "{{.ID}} {{.Names}} {{.Status}}").split()
    assert shown[0] == cid[:12] and shown[1].startswith("k8s_main_visible_berth-test_") and shown[2] == "Up"


# logs and stats (container.go's log specs, stats.go)

CHATTY = ["/bin/sh", "-c", "echo one; echo two >&2; i=0; while :; do echo line$i; i=$((i+1)); sleep 0.2; done"]
RECORD = re.compile(r"^(\S+) (stdout|stderr) (F|P) (.*)$")


def records(path):
    out = []
    for line in open(path).read().splitlines():
        m = RECORD.match(line)
        assert m, f"not a CRI log record: {line!r}"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)$", m.group(1)), m.group(1)
        out.append((m.group(2), m.group(3), m.group(4)))
    return out


def wait_until(check, what):
    deadline = time.time() + TIMEOUT
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.1)


def test_output_is_logged_in_the_kubelets_format_and_the_log_reopened(cri, pod_with):
    logs = tempfile.mkdtemp(prefix="berth-cri-logs-")
    try:
        _, (cid,) = pod_with("logs", [("main", CHATTY, {"log_path": "main/0.log"})], log_directory=logs)
        path = os.path.join(logs, "main", "0.log")
        assert container_status(cri, cid).log_path == path
        wait_until(lambda: os.path.exists(path) and ("stdout", "F", "line1") in records(path), "the log has the first lines")
        first = records(path)
        assert ("stdout", "F", "one") in first and ("stderr", "F", "two") in first
        os.rename(path, path + ".1")  # the kubelet's rotation
        cri("runtime", "ReopenContainerLog", container_id=cid)
        wait_until(lambda: os.path.exists(path) and any(r[2].startswith("line") for r in records(path)), "lines go to the reopened file")
        moved = records(path + ".1")
        assert all(r[0] == "stdout" and r[1] == "F" for r in records(path))
        assert not set(r[2] for r in records(path)) & set(r[2] for r in moved), "no line is in both files"
        cri("runtime", "StopContainer", container_id=cid, timeout=0, deadline=60)
        with pytest.raises(grpc.RpcError):
            cri("runtime", "ReopenContainerLog", container_id=cid)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def test_container_stats_report_cpu_and_memory(cri, pod_with):
    busy = ["/bin/sh", "-c", "head -c 20000000 /dev/zero > /dev/shm/fill; while :; do :; done"]
    sandbox, (cid,) = pod_with("stats", [("busy", busy, {})])
    wait_until(lambda: cri("runtime", "ContainerStats", container_id=cid).stats.memory.working_set_bytes.value > 1_000_000,
               "the container's memory shows")
    first = cri("runtime", "ContainerStats", container_id=cid).stats
    time.sleep(0.5)
    second = cri("runtime", "ContainerStats", container_id=cid).stats
    assert second.attributes.id == cid and second.attributes.metadata.name == "busy"
    assert second.cpu.usage_core_nano_seconds.value > first.cpu.usage_core_nano_seconds.value > 0
    assert second.cpu.usage_nano_cores.value > 100_000_000  # a busy loop: well over a tenth of a core
    assert second.memory.usage_bytes.value >= second.memory.working_set_bytes.value > 0
    listed = cri("runtime", "ListContainerStats", filter=cri.pb.ContainerStatsFilter(pod_sandbox_id=sandbox)).stats
    assert [s.attributes.id for s in listed] == [cid]



def test_pod_stats_are_its_containers_and_its_interface(cri, cgroup_parent, pod_with):
    """As the kubelet runs pods: under a pod cgroup (containerd 1.6 reads its figures there)."""
    busy = ["/bin/sh", "-c", "head -c 20000000 /dev/zero > /dev/shm/fill; while :; do :; done"]
    sandbox, (a, b) = pod_with("podstats", [("busy", busy, {}), ("idle", SLEEPER, {})], labels={"tier": "stats"}, cgroup_parent=cgroup_parent)
    def covered():
        """Once the fill is in: the pod's figure and its containers' are sampled apart, so a
        container still filling can read higher than the pod did a moment before."""
        linux = cri("runtime", "PodSandboxStats", pod_sandbox_id=sandbox).stats.linux
        most = max((c.memory.working_set_bytes.value for c in linux.containers), default=0)
        return linux.memory.working_set_bytes.value >= most >= 20_000_000
    wait_until(covered, "the pod's memory covers its containers' (20 MB in /dev/shm)")
    stats = cri("runtime", "PodSandboxStats", pod_sandbox_id=sandbox).stats
    assert stats.attributes.id == sandbox and stats.attributes.metadata.name == "podstats" and stats.attributes.labels["tier"] == "stats"
    linux = stats.linux
    assert linux.cpu.timestamp > 0 and linux.cpu.usage_core_nano_seconds.value > 0
    assert sorted(c.attributes.id for c in linux.containers) == sorted([a, b])
    assert linux.process.process_count.value >= 2
    assert linux.network.default_interface.name == "eth0"
    listed = cri("runtime", "ListPodSandboxStats", filter=cri.pb.PodSandboxStatsFilter(label_selector={"tier": "stats"})).stats
    assert [s.attributes.id for s in listed] == [sandbox]
    assert not cri("runtime", "ListPodSandboxStats", filter=cri.pb.PodSandboxStatsFilter(label_selector={"tier": "none"})).stats
    with pytest.raises(grpc.RpcError) as e:
        cri("runtime", "PodSandboxStats", pod_sandbox_id="0" * 64)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_container_events_stream_the_pods_container_lifecycle(cri, pod_with, registry):
    if cri.name == "containerd":
        pytest.skip("GetContainerEvents came in containerd 1.7; 1.6 answers UNIMPLEMENTED")
    sandbox, _ = pod_with("events", [])
    events, ready = [], threading.Event()
    call = cri.runtime.GetContainerEvents(cri.pb.GetEventsRequest(), timeout=TIMEOUT)

    def read():
        ready.set()
        try:
            for event in call:
                events.append(event)
        except grpc.RpcError:
            pass  # cancelled at the end
    reader = threading.Thread(target=read)
    reader.start()
    ready.wait()
    time.sleep(0.3)  # the stream is subscribed
    config = pod_config(cri.pb, "events")
    cid = cri("runtime", "CreateContainer", pod_sandbox_id=sandbox, sandbox_config=config,
              config=container_config(cri.pb, "main", SLEEPER, image=f"{registry.host}/busybox:latest"), deadline=60).container_id
    cri("runtime", "StartContainer", container_id=cid, deadline=60)
    cri("runtime", "StopContainer", container_id=cid, timeout=0, deadline=60)
    cri("runtime", "RemoveContainer", container_id=cid)
    pb = cri.pb
    wanted = [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT, pb.CONTAINER_STOPPED_EVENT, pb.CONTAINER_DELETED_EVENT]
    wait_until(lambda: [e.container_event_type for e in events if e.container_id == cid] == wanted, f"four events in order: {events}")
    call.cancel()
    reader.join(timeout=TIMEOUT)
    mine = [e for e in events if e.container_id == cid]
    assert all(e.pod_sandbox_status.id == sandbox and e.created_at > 0 for e in mine)
    started = mine[1]
    assert [(s.id, s.state) for s in started.containers_statuses] == [(cid, pb.CONTAINER_RUNNING)]
    assert [(s.id, s.state) for s in mine[2].containers_statuses] == [(cid, pb.CONTAINER_EXITED)]
    assert not mine[3].containers_statuses

def test_resources_are_applied_and_updated(cri, pod_with):
    pb = cri.pb
    resources = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                           oom_score_adj=-998)
    _, (cid,) = pod_with("resources", [("main", SLEEPER, {"linux": pb.LinuxContainerConfig(resources=resources)})])
    # -998 needs CAP_SYS_RESOURCE, which root lacks here: both runtimes raise it to their own score.
    score = int(exec_sync(cri, cid, "/bin/cat", "/proc/1/oom_score_adj").stdout)
    assert -998 < score <= 1000
    pid = host_pid(cri, cid)
    assert memory_limit(pid) == 64 << 20
    cri("runtime", "UpdateContainerResources", container_id=cid,
        linux=pb.LinuxContainerResources(memory_limit_in_bytes=96 << 20, cpu_period=100000, cpu_quota=50000))
    assert memory_limit(pid) == 96 << 20


def host_pid(cri, cid):
    """The container's first process as the node sees it."""
    marker = uuid.uuid4().hex
    exec_sync(cri, cid, "/bin/sh", "-c", f"echo {marker} > /tmp/marker")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if open(f"/proc/{entry}/root/tmp/marker").read().strip() == marker and open(f"/proc/{entry}/cmdline").read().startswith("/bin/sh"):
                    return int(entry)
            except OSError:
                continue
    raise AssertionError("the container's process is not found")


def memory_limit(pid):
    for line in open(f"/proc/{pid}/cgroup"):
        _, controllers, path = line.strip().split(":", 2)
        if controllers == "memory":
            return int(open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read())
        if controllers == "":
            return int(open(f"/sys/fs/cgroup{path}/memory.max").read())
    raise AssertionError("no memory cgroup")


@pytest.fixture
def cgroup_parent():
    """A kubelet-style pod cgroup (cgroupfs driver), removed after the test's pods."""
    parent = f"/berth-test-kubepods/pod{uuid.uuid4().hex[:12]}"
    yield parent
    remove_cgroup_parent("/berth-test-kubepods")


def test_containers_go_under_the_pods_cgroup_parent(cri, cgroup_parent, pod_with):
    _, (cid,) = pod_with("cgparent", [("main", SLEEPER, {})], cgroup_parent=cgroup_parent)
    lines = open(f"/proc/{host_pid(cri, cid)}/cgroup").read().splitlines()
    memory = [line for line in lines if ":memory:" in line] or [line for line in lines if line.startswith("0::")]  # v1, else v2
    assert memory[0].split(":", 2)[2].startswith(cgroup_parent + "/"), lines


# streaming.go: Exec, Attach and PortForward hand out a URL on the runtime's streaming server, which
# the client reaches over WebSocket with Kubernetes' channel protocol (v4: a channel byte before
# every message; 0 stdin, 1 stdout, 2 stderr, 3 the final status, 4 resizes).

STREAM_URL = re.compile(r"^http://127\.0\.0\.1:\d+/(exec|attach|portforward)/[A-Za-z0-9_-]+$")


def stream(url, send=(), protocol="v4.channel.k8s.io", query="", pause=0.0):
    """Connects to a streaming URL, sends `send` (each a channel byte and its data), and reads
    until the server ends the stream: the bytes of every channel, and the messages in order."""
    import websocket
    assert STREAM_URL.match(url), url
    ws = websocket.create_connection("ws://" + url[len("http://"):] + query, subprotocols=[protocol], timeout=TIMEOUT)
    assert ws.getsubprotocol() == protocol
    try:
        messages = []
        for message in send:
            time.sleep(pause)
            ws.send_binary(message)
        while True:
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketConnectionClosedException:
                break  # containerd's server closes without a close frame
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            messages.append(data)
    finally:
        ws.close()
    channels = {}
    for data in messages:
        if data:
            channels[data[0]] = channels.get(data[0], b"") + data[1:]
    return channels, messages


def exec_url(cri, cid, cmd, **streams):
    return cri("runtime", "Exec", container_id=cid, cmd=cmd, **streams).url


def test_exec_streams_stdin_stdout_stderr_and_the_exit_status(cri, pod_with):
    _, (cid,) = pod_with("stream-exec", [("main", SLEEPER, {})])
    url = exec_url(cri, cid, ["/bin/sh", "-c", "read line; echo got:$line; echo oops >&2; exit 7"], stdin=True, stdout=True, stderr=True)
    channels, messages = stream(url, send=[b"\x00hello\n"])
    assert messages[0] == b"\x01", "the first message opens stdout, empty"
    assert channels[1] == b"got:hello\n" and channels[2] == b"oops\n"
    status = json.loads(channels[3])
    assert (status["status"], status["reason"]) == ("Failure", "NonZeroExitCode")
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    channels, _ = stream(exec_url(cri, cid, ["/bin/echo", "fine"], stdout=True))
    assert channels[1] == b"fine\n" and json.loads(channels[3])["status"] == "Success"
    import websocket
    with pytest.raises(websocket.WebSocketBadStatusException):  # a URL is used once
        stream(url)


def test_exec_with_a_terminal_takes_its_size_from_resizes(cri, pod_with):
    _, (cid,) = pod_with("stream-tty", [("main", SLEEPER, {})])
    url = exec_url(cri, cid, ["/bin/sh", "-c", "sleep 1; stty size"], stdin=True, stdout=True, tty=True)
    channels, _ = stream(url, send=[b'\x04{"Width":123,"Height":45}'])
    assert b"45 123" in channels[1], channels
    assert json.loads(channels[3])["status"] == "Success"


def test_exec_and_attach_requests_are_checked(cri, pod_with):
    _, (cid, done) = pod_with("stream-checks", [("main", SLEEPER, {}), ("done", ["/bin/true"], {})])
    for streams, code in (({"tty": True, "stdout": True, "stderr": True}, grpc.StatusCode.INVALID_ARGUMENT),
                          ({}, grpc.StatusCode.INVALID_ARGUMENT)):
        for method in ("Exec", "Attach"):
            extra = {"cmd": ["/bin/true"]} if method == "Exec" else {}
            with pytest.raises(grpc.RpcError) as e:
                cri("runtime", method, container_id=cid, **extra, **streams)
            assert e.value.code() == code, (method, streams, e.value)
    wait_until(lambda: container_status(cri, done).state == cri.pb.CONTAINER_EXITED, "the short container exits")
    with pytest.raises(grpc.RpcError) as e:  # not running
        exec_url(cri, done, ["/bin/true"], stdout=True)
    assert "CONTAINER_EXITED" in e.value.details()


def test_attach_joins_the_containers_stdin_and_output(cri, pod_with):
    reader = ["/bin/sh", "-c", "read line; echo attached:$line; echo bye >&2"]
    _, (cid,) = pod_with("stream-attach", [("main", reader, {"stdin": True, "stdin_once": True})])
    url = cri("runtime", "Attach", container_id=cid, stdin=True, stdout=True, stderr=True).url
    channels, _ = stream(url, send=[b"\x00there\n"])
    assert channels[1] == b"attached:there\n" and channels[2] == b"bye\n"
    assert json.loads(channels[3])["status"] == "Success"


def test_port_forward_reaches_a_port_inside_the_pod(cri, pod_with):
    reply = "printf '#!/bin/sh\\nread line\\necho pong:$line\\n' > /tmp/reply; chmod +x /tmp/reply; while :; do nc -l -p 8080 -e /tmp/reply; done"
    sandbox, (cid,) = pod_with("stream-portforward", [("server", ["/bin/sh", "-c", reply], {})])
    wait_until(lambda: b":8080" in exec_sync(cri, cid, "/bin/netstat", "-ltn").stdout, "the pod listens on 8080")
    url = cri("runtime", "PortForward", pod_sandbox_id=sandbox, port=[8080]).url
    channels, messages = stream(url, send=[b"\x00ping\n"], query="?port=8080", pause=0.2)
    assert messages[:2] == [b"\x00\x90\x1f", b"\x01\x90\x1f"], "each channel opens with the port, little-endian"
    assert channels[0] == b"\x90\x1fpong:ping\n", channels
    # nothing listens on 8081: the port's error channel says so
    url = cri("runtime", "PortForward", pod_sandbox_id=sandbox, port=[8081]).url
    channels, _ = stream(url, query="?port=8081")
    assert b"8081" in channels[1][2:] and b"refused" in channels[1][2:].lower(), channels


def test_v5_closes_stdin_with_a_close_message(cri, pod_with):
    if cri.name == "containerd":
        pytest.skip("v5.channel.k8s.io (Kubernetes 1.30) is newer than containerd 1.6's streaming server")
    _, (cid,) = pod_with("stream-v5", [("main", SLEEPER, {})])
    url = exec_url(cri, cid, ["/bin/cat"], stdin=True, stdout=True)
    channels, _ = stream(url, send=[b"\x00typed", b"\xff\x00"], protocol="v5.channel.k8s.io")
    assert channels[1] == b"typed" and json.loads(channels[3])["status"] == "Success"


def test_the_streaming_server_refuses_what_it_does_not_serve_and_survives_bad_input(cri, pod_with):
    import http.client
    import websocket
    _, (cid,) = pod_with("stream-hostile", [("main", SLEEPER, {})])
    url = exec_url(cri, cid, ["/bin/cat"], stdin=True, stdout=True)
    host, path = url[len("http://"):].split("/", 1)
    conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
    conn.request("POST", "/" + path, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v9.channel.k8s.io"})
    reply = conn.getresponse()
    assert reply.status == 403 and b"unable to negotiate protocol" in reply.read()  # the kubelet's refusal, on both
    conn.close()
    if cri.name == "containerd":
        return  # what follows is Berth's own: its answer to hostile WebSocket messages
    url = exec_url(cri, cid, ["/bin/cat"], stdin=True, stdout=True)
    conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
    conn.request("GET", "/exec/not-a-token")
    assert conn.getresponse().status == 404
    conn.close()
    ws = websocket.create_connection("ws://" + url[len("http://"):], subprotocols=["v4.channel.k8s.io"], timeout=TIMEOUT)
    ws.send_binary(b"")                      # no channel at all
    ws.send(b"text frames are not served")   # the base64 protocols' framing
    ws.send_binary(b"\xc8junk")              # a channel that does not exist
    ws.send_binary(b"\x04{not json")         # a resize that is not one
    ws.send_binary(b"\x04" + b"9" * 300000)  # a long one
    ws.ping(b"still there?")
    ws.send_binary(b"\x00survived")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"\x01")
    data = b""
    while b"survived" not in data:
        data += ws.recv_data()[1][1:]
    ws.close()
    # a client that floods resizes and pings and reads nothing: only the latest resize is
    # applied, pongs are not queued for it, and berthd's memory stays flat
    url = exec_url(cri, cid, ["/bin/cat"], stdin=True, stdout=True, tty=True)
    before = rss_kib(cri.engine.proc.pid)
    ws = websocket.create_connection("ws://" + url[len("http://"):], subprotocols=["v4.channel.k8s.io"], timeout=TIMEOUT)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws.settimeout(2)
    for n in range(20000):
        try:
            ws.send_binary(b'\x04{"Width":%d,"Height":40}' % (n % 500 + 1))
            ws.ping(b"p" * 125)  # the largest a control frame may carry
        except (websocket.WebSocketTimeoutException, TimeoutError):
            break  # loopback TCP stops this client's sending once its own receive side is full
    ws.close()
    assert (rss_kib(cri.engine.proc.pid) - before) >> 10 < 32, "a flood of resizes and pings grew berthd"
    # port-forward URLs are held to what a port is, and to how many one WebSocket can carry
    sandbox = cri("runtime", "ListContainers", filter=cri.pb.ContainerFilter(id=cid)).containers[0].pod_sandbox_id
    for query, reason in (("?port=x", b"unable to parse"), ("?port=0", b"must be > 0"), ("?" + "&".join(f"port={p}" for p in range(1, 200)), b"at most")):
        url = cri("runtime", "PortForward", pod_sandbox_id=sandbox, port=[80]).url
        host, path = url[len("http://"):].split("/", 1)
        conn = http.client.HTTPConnection(host, timeout=TIMEOUT)
        conn.request("GET", "/" + path + query, headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v4.channel.k8s.io"})
        reply = conn.getresponse()
        assert reply.status == 400 and reason in reply.read(), query
        conn.close()
    with pytest.raises(grpc.RpcError) as e:
        cri("runtime", "PortForward", pod_sandbox_id=sandbox, port=list(range(1, 200)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert exec_sync(cri, cid, "/bin/echo", "alive").stdout == b"alive\n"


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# The same streams over SPDY/3.1, the protocol the kubelet proxies `kubectl exec`, `attach` and
# `port-forward` with (tests/integration/spdy_client.py speaks it as moby/spdystream does).

EXEC_PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]


def spdy_command(url, kinds, stdin=b"", resize=None, close_stdin=True):
    """Opens the streams a remote command asks for (the error stream first, as kubectl does),
    writes stdin (then closes it) and a resize, and reads until the server ends the connection."""
    from spdy_client import SPDYConnection
    assert STREAM_URL.match(url), url
    conn = SPDYConnection(url, EXEC_PROTOCOLS, timeout=TIMEOUT)
    try:
        assert conn.status == 101 and conn.protocol == "v4.channel.k8s.io", (conn.status, conn.response_headers)
        streams = {kind: conn.open({"streamType": kind}) for kind in ["error", *kinds]}
        if resize:
            conn.write(streams["resize"], json.dumps(resize).encode())
        if "stdin" in streams:
            conn.write(streams["stdin"], stdin)
            if close_stdin:
                conn.close_stream(streams["stdin"])
        assert conn.wait(lambda: conn.closed, TIMEOUT), "the server ends the connection after the status"
        return {kind: bytes(s.data) for kind, s in streams.items()}
    finally:
        conn.close()


def test_spdy_exec_streams_stdin_stdout_stderr_and_the_exit_status(cri, pod_with):
    _, (cid,) = pod_with("spdy-exec", [("main", SLEEPER, {})])
    url = exec_url(cri, cid, ["/bin/sh", "-c", "read line; echo got:$line; echo oops >&2; exit 7"], stdin=True, stdout=True, stderr=True)
    out = spdy_command(url, ["stdin", "stdout", "stderr"], stdin=b"hello\n")
    assert out["stdout"] == b"got:hello\n" and out["stderr"] == b"oops\n"
    status = json.loads(out["error"])
    assert (status["status"], status["reason"]) == ("Failure", "NonZeroExitCode")
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    out = spdy_command(exec_url(cri, cid, ["/bin/echo", "fine"], stdout=True), ["stdout"])
    assert out["stdout"] == b"fine\n" and json.loads(out["error"])["status"] == "Success"


def test_spdy_exec_with_a_terminal_takes_its_size_from_resizes(cri, pod_with):
    _, (cid,) = pod_with("spdy-tty", [("main", SLEEPER, {})])
    url = exec_url(cri, cid, ["/bin/sh", "-c", "sleep 1; stty size"], stdin=True, stdout=True, tty=True)
    out = spdy_command(url, ["stdin", "stdout", "resize"], resize={"Width": 123, "Height": 45}, close_stdin=False)
    assert b"45 123" in out["stdout"], out
    assert json.loads(out["error"])["status"] == "Success"


def test_spdy_attach_joins_the_containers_stdin_and_output(cri, pod_with):
    reader = ["/bin/sh", "-c", "read line; echo attached:$line; echo bye >&2"]
    _, (cid,) = pod_with("spdy-attach", [("main", reader, {"stdin": True, "stdin_once": True})])
    url = cri("runtime", "Attach", container_id=cid, stdin=True, stdout=True, stderr=True).url
    out = spdy_command(url, ["stdin", "stdout", "stderr"], stdin=b"there\n", close_stdin=False)
    assert out["stdout"] == b"attached:there\n" and out["stderr"] == b"bye\n"


def test_spdy_port_forward_pairs_streams_by_request(cri, pod_with):
    from spdy_client import SPDYConnection
    reply = "printf '#!/bin/sh\\nread line\\necho pong:$line\\n' > /tmp/reply; chmod +x /tmp/reply; while :; do nc -l -p 8080 -e /tmp/reply; done"
    sandbox, (cid,) = pod_with("spdy-portforward", [("server", ["/bin/sh", "-c", reply], {})])
    wait_until(lambda: b":8080" in exec_sync(cri, cid, "/bin/netstat", "-ltn").stdout, "the pod listens on 8080")
    url = cri("runtime", "PortForward", pod_sandbox_id=sandbox, port=[8080]).url
    conn = SPDYConnection(url, ["portforward.k8s.io"], timeout=TIMEOUT)
    try:
        assert conn.status == 101 and conn.protocol == "portforward.k8s.io", (conn.status, conn.response_headers)
        for request, port in ((0, 8080), (1, 8080), (2, 8081)):  # two connections to 8080 on one session, then a refused port
            error = conn.open({"streamType": "error", "port": str(port), "requestID": str(request)})
            data = conn.open({"streamType": "data", "port": str(port), "requestID": str(request)})
            if port == 8081:
                assert conn.wait(lambda: b"8081" in error.data, TIMEOUT), "the error stream names the port"
                assert b"refused" in bytes(error.data).lower(), error.data
                continue
            conn.write(data, f"ping{request}\n".encode())
            assert conn.wait(lambda: data.fin, TIMEOUT), f"the pod's answer ends: {data.data}"
            assert bytes(data.data) == f"pong:ping{request}\n".encode() and not error.data
            # the pod's loop starts its next listener after this answer: wait for it
            wait_until(lambda: b":8080" in exec_sync(cri, cid, "/bin/netstat", "-ltn").stdout, "the pod listens on 8080 again")
    finally:
        conn.close()


def test_the_spdy_server_survives_broken_frames(cri, pod_with):
    if cri.name == "containerd":
        pytest.skip("Berth's own: how its SPDY server answers frames no client should send")
    import struct
    import zlib
    from spdy_client import DICTIONARY, SPDYConnection
    _, (cid,) = pod_with("spdy-hostile", [("main", SLEEPER, {})])
    deflate = zlib.compressobj(zdict=DICTIONARY)
    bomb = deflate.compress(struct.pack(">I", 1) + struct.pack(">I", 10_000_000) + b"a" * 10_000_000) + deflate.flush(zlib.Z_SYNC_FLUSH)
    broken = [
        struct.pack(">HHI", 0x8000 | 2, 1, 10) + b"\x00" * 10,                      # SPDY/2
        struct.pack(">HHI", 0x8000 | 3, 1, 16) + b"\x00\x00\x00\x01" + b"\x00" * 6 + b"\xde\xad\xbe\xef\x00\x01",  # a block that is not zlib
        struct.pack(">HHI", 0x8000 | 3, 1, 0xffffff),                                 # 16 MiB announced
        struct.pack(">HHI", 0x8000 | 3, 1, 10 + len(bomb)) + b"\x00\x00\x00\x01" + b"\x00" * 6 + bomb,  # inflates to 10 MB
        struct.pack(">HHI", 0x8000 | 3, 3, 2) + b"\x00\x01",                          # a short RST_STREAM
    ]
    for frame in broken:
        conn = SPDYConnection(exec_url(cri, cid, ["/bin/cat"], stdin=True, stdout=True), EXEC_PROTOCOLS, timeout=TIMEOUT)
        try:
            assert conn.status == 101
            conn._send(frame)
            assert conn.wait(lambda: conn.closed, TIMEOUT), "the server ends a broken session"
        finally:
            conn.close()
    assert exec_sync(cri, cid, "/bin/echo", "alive").stdout == b"alive\n"
