"""The Container Runtime Interface as the kubelet speaks it: Python stubs generated from the pinned
proto (../shared/peer-suites/cri-api, kubernetes/cri-api v0.36.3) with grpcio-tools, a client for a
runtime's socket, and Debian's containerd 1.6 with its CRI plugin in a private root: the reference
runtime every CRI test runs against before it judges berthd."""
import glob
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import grpc

from conftest import REPO, TIMEOUT, remove_cgroup_parent

PROTO = os.path.join(os.path.dirname(REPO), "shared", "peer-suites", "cri-api", "api.proto")
CONTAINERD = shutil.which("containerd")
NETNS = "/var/run/netns"
_stubs = None


def stubs():
    """(api_pb2, api_pb2_grpc), generated once per session into a temporary directory."""
    global _stubs
    if _stubs is None:
        if not os.path.exists(PROTO):
            raise RuntimeError(f"the pinned CRI proto is missing: {PROTO}")
        out = tempfile.mkdtemp(prefix="berth-cri-stubs-")
        from grpc_tools import protoc
        rc = protoc.main(["protoc", f"-I{os.path.dirname(PROTO)}", f"--python_out={out}", f"--grpc_python_out={out}", PROTO])
        assert rc == 0, "grpc_tools.protoc failed on the CRI proto"
        sys.path.insert(0, out)
        try:
            _stubs = (importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc"))
        finally:  # loaded: the generated files are needed no more
            sys.path.remove(out)
            shutil.rmtree(out, ignore_errors=True)
    return _stubs


class CRI:
    """A runtime's two CRI services over its UNIX socket; every call bounded by TIMEOUT."""

    def __init__(self, name, socket_path):
        self.name = name
        self.socket = socket_path
        self.pb, grpc_stubs = stubs()
        self.channel = grpc.insecure_channel("unix://" + socket_path)
        self.runtime = grpc_stubs.RuntimeServiceStub(self.channel)
        self.images = grpc_stubs.ImageServiceStub(self.channel)

    def __call__(self, service, method, deadline=TIMEOUT, **fields):
        """`cri("runtime", "Version")` or `cri("images", "PullImage", image=...)`: the request
        message is named after the method, as every CRI request is. `deadline` bounds the call
        (CRI's own `timeout` fields, as StopContainer's, are request fields)."""
        request = getattr(self.pb, method + "Request")(**fields)
        return getattr(getattr(self, service), method)(request, timeout=deadline)

    def wait_ready(self, deadline=20):
        end = time.time() + deadline
        while True:
            try:
                return self("runtime", "Version", deadline=2)
            except grpc.RpcError:
                if time.time() > end:
                    raise
                time.sleep(0.1)

    def close(self):
        self.channel.close()


class Containerd:
    """Debian's containerd with its CRI plugin, in a root, state and socket of its own (never the
    host's, never dockerd's); images reach it from the test registry over plain HTTP."""

    def __init__(self, registry_hosts=(), cni_conf_dir=None):
        if CONTAINERD is None:
            raise RuntimeError("containerd is not installed (make deps installs docker.io, which ships it)")
        self.dir = tempfile.mkdtemp(prefix="berth-containerd-", dir="/var/tmp")
        self.state = tempfile.mkdtemp(prefix="berth-containerd-", dir="/run")
        self.socket = os.path.join(self.state, "containerd.sock")
        self.log = os.path.join(self.dir, "containerd.log")
        mirrors = "".join(f'[plugins."io.containerd.grpc.v1.cri".registry.mirrors."{h}"]\n  endpoint = ["http://{h}"]\n'
                          for h in registry_hosts)
        self.config = os.path.join(self.dir, "config.toml")
        with open(self.config, "w") as f:
            f.write(f"""version = 2
root = "{self.dir}/root"
state = "{self.state}/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "berth.test/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni_conf_dir or self.dir + '/net.d'}"
{mirrors}""")
        self.netns_before = set(os.listdir(NETNS)) if os.path.isdir(NETNS) else set()
        # containerd puts pods without a cgroup parent under /k8s.io and leaves that group behind.
        self.own_cgroup = not glob.glob("/sys/fs/cgroup/*/k8s.io") and not os.path.isdir("/sys/fs/cgroup/k8s.io")
        self.proc = subprocess.Popen([CONTAINERD, "--config", self.config], stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
        self.cri = CRI("containerd", self.socket)
        try:
            self.cri.wait_ready()
        except grpc.RpcError:
            self.stop()
            raise RuntimeError("containerd's CRI did not come up: " + open(self.log).read()[-3000:])

    def import_image(self, archive):
        """A docker-save tar into the namespace the CRI plugin serves (its sandbox image)."""
        subprocess.run(["ctr", "--address", self.socket, "-n", "k8s.io", "images", "import", archive],
                       check=True, capture_output=True, timeout=120)

    def stop(self):
        self.cri.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        subprocess.run(["pkill", "-9", "-f", "containerd-shim-runc-v2 .*-address " + self.socket], timeout=TIMEOUT)
        for root in (self.dir, self.state):
            mounts = [line.split()[4] for line in open("/proc/self/mountinfo") if line.split()[4].startswith(root)]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], timeout=TIMEOUT)
        # containerd pins pod network namespaces in a host-wide directory and leaves some there.
        for name in (set(os.listdir(NETNS)) if os.path.isdir(NETNS) else set()) - self.netns_before:
            subprocess.run(["umount", "-l", os.path.join(NETNS, name)], capture_output=True, timeout=TIMEOUT)
            try:
                os.unlink(os.path.join(NETNS, name))
            except OSError:
                pass
        if self.own_cgroup:
            remove_cgroup_parent("/k8s.io")
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class CNINetwork:
    """A pod network for one runtime: a conflist of Debian's plugins in a directory of its own, with
    a bridge and subnet no other test uses. Pod-to-pod and hostPort traffic crosses the bridge
    through netfilter's FORWARD, whose policy dockerd sets to DROP on this machine. With `firewall`
    (the tests' default) the conflist ends with the firewall plugin, which accepts each pod's
    address there; without it the conflist is containerd's reference one (bridge with host-local,
    portmap) and the node accepts the pod subnet in FORWARD once, as kube-proxy's KUBE-FORWARD chain
    does for the cluster CIDR on a Kubernetes node. Leaving it deletes the bridge, the address
    leases and the node's rules."""

    def __init__(self, tag, subnet, firewall=True):
        self.bridge = "bcni" + uuid.uuid4().hex[:8]
        self.subnet = subnet
        self.name = "berth-test-" + tag
        self.dir = tempfile.mkdtemp(prefix="berth-cni-")
        self.conf_dir = os.path.join(self.dir, "net.d")
        os.makedirs(self.conf_dir)
        plugins = [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": os.path.join(self.dir, "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]
        if firewall:
            plugins.append({"type": "firewall"})
        self.node_rules = [] if firewall else [["FORWARD", "-s", subnet, "-j", "ACCEPT"], ["FORWARD", "-d", subnet, "-j", "ACCEPT"]]
        for rule in self.node_rules:
            subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True, timeout=TIMEOUT)
        with open(os.path.join(self.conf_dir, "10-berth-test.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": self.name, "plugins": plugins}, f)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=TIMEOUT)
        for rule in self.node_rules:
            subprocess.run(["iptables", "-D", *rule], capture_output=True, timeout=TIMEOUT)
        shutil.rmtree(self.dir, ignore_errors=True)


# The chains Debian's portmap and firewall plugins share between all pods, with the rules that
# jump to them; they stay once made (a node keeps them), so the tests remove those they created.
SHARED_CHAINS = {
    "filter": (["CNI-FORWARD", "CNI-ADMIN"],
               [["FORWARD", "-m", "comment", "--comment", "CNI firewall plugin rules", "-j", "CNI-FORWARD"]]),
    "nat": (["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"],
            [["PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"],
             ["OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"],
             ["POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"]]),
}


def shared_chains_present():
    found = set()
    for table, (chains, _) in SHARED_CHAINS.items():
        listing = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, timeout=TIMEOUT).stdout
        found |= {(table, c) for c in chains if f"-N {c}\n" in listing}
    return found


def remove_shared_chains(keep):
    """Deletes the plugins' shared chains not in `keep` (those that were there before)."""
    for table, (chains, jumps) in SHARED_CHAINS.items():
        if all((table, c) in keep for c in chains):
            continue
        for jump in jumps:
            subprocess.run(["iptables", "-t", table, "-D", *jump], capture_output=True, timeout=TIMEOUT)
        for verb in ("-F", "-X"):
            for chain in chains:
                if (table, chain) not in keep:
                    subprocess.run(["iptables", "-t", table, verb, chain], capture_output=True, timeout=TIMEOUT)
