#!/usr/bin/env python3
"""CRI figures, berthd beside Debian's containerd 1.6 CRI plugin in one run on one machine, both
driven over gRPC as the kubelet drives them, each with its own CNI bridge (Debian's plugins) and
the same busybox image from a local registry: a pod sandbox run until ready, create+start of a
container in it, an ExecSync, an Exec through the streaming server (the URL, a WebSocket on the
v4 channel protocol, the output and the status, as `kubectl exec` goes through the kubelet), the pod's stop+remove (its container with it), and 20 pods run at
once; on two conflists (see CONFIGURATIONS). Medians; ratios are containerd's time over berthd's.
Usage: bench/cri.py BIN_DIR [RUNS]  (writes bench/results/cri-<date>.json and .md)"""
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

here = os.path.dirname(os.path.abspath(__file__))
os.environ["BERTH_BIN"] = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
import conftest  # noqa: E402
from cri_support import CRI, CNINetwork, Containerd, remove_shared_chains, shared_chains_present  # noqa: E402
from registry_support import Registry  # noqa: E402

RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
# Each runtime on each conflist: the tests' (its firewall plugin accepts each pod in FORWARD, an
# iptables exec per ADD and DEL) and containerd's reference one (no firewall plugin; the node
# accepts the pod subnet once, as kube-proxy does for the cluster CIDR).
CONFIGURATIONS = [("firewall", "berth", "10.231.18.0/24"), ("firewall", "containerd", "10.231.17.0/24"),
                  ("reference", "berth", "10.231.20.0/24"), ("reference", "containerd", "10.231.19.0/24")]
SLEEPER = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


def pod_config(pb, name):
    options = pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
    return pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="bench"),
                               linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(namespace_options=options)))


def streamed_exec(cri, cid):
    """An Exec as the kubelet proxies it: the URL from the runtime, then its WebSocket to the end
    (the CRI spec's own client)."""
    from test_cri import stream
    url = cri("runtime", "Exec", container_id=cid, cmd=["/bin/echo", "ok"], stdout=True, deadline=60).url
    channels, _ = stream(url)
    assert channels.get(1) == b"ok\n", channels


def measure(cri, image):
    pb = cri.pb
    phases = {"pod run": [], "container create+start": [], "exec sync": [], "exec (streaming)": [], "pod stop+remove": []}
    for i in range(RUNS):
        config = pod_config(pb, f"bench-{i}")
        t0 = time.perf_counter()
        sandbox = cri("runtime", "RunPodSandbox", config=config, deadline=60).pod_sandbox_id
        t1 = time.perf_counter()
        container = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="main"), image=pb.ImageSpec(image=image), command=SLEEPER,
                                       linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                                           namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))))
        cid = cri("runtime", "CreateContainer", pod_sandbox_id=sandbox, config=container, sandbox_config=config, deadline=60).container_id
        cri("runtime", "StartContainer", container_id=cid, deadline=60)
        t2 = time.perf_counter()
        reply = cri.runtime.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["/bin/echo", "ok"]), timeout=60)
        assert reply.stdout == b"ok\n"
        t3 = time.perf_counter()
        streamed_exec(cri, cid)
        t4 = time.perf_counter()
        cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=60)
        cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)
        t5 = time.perf_counter()
        for key, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            phases[key].append(seconds * 1000)
    out = {k: statistics.median(v) for k, v in phases.items()}
    # 20 pods at once, as a node admitting a burst: wall time until all are ready.
    ids, errors = [], []

    def run(n):
        try:
            ids.append(cri("runtime", "RunPodSandbox", config=pod_config(pb, f"burst-{n}"), deadline=120).pod_sandbox_id)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["20 pods at once"] = (time.perf_counter() - t0) * 1000
    for sandbox in ids:
        cri("runtime", "StopPodSandbox", pod_sandbox_id=sandbox, deadline=60)
        cri("runtime", "RemovePodSandbox", pod_sandbox_id=sandbox, deadline=60)
    assert not errors, errors
    return out


def main():
    chains = shared_chains_present()
    rootfs = tempfile.mkdtemp()
    os.chmod(rootfs, 0o755)
    work = tempfile.mkdtemp(prefix="berth-bench-cri-")
    subprocess.run([os.path.join(conftest.REPO, "scripts", "make-rootfs.sh"), rootfs], check=True)
    engine = conftest.Daemon()
    registry = Registry()
    results = {}
    try:
        engine.start()
        tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True).stdout
        subprocess.run([conftest.BERTH, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], input=tar, env=engine.env(), capture_output=True, check=True)
        with open(os.path.join(work, "Dockerfile"), "w") as f:
            f.write('FROM busybox\nCMD ["/bin/sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 3600 & wait; done"]\n')
        engine.ok("build", "-q", "-t", "berth.test/pause:1", work, timeout=120)
        for name, archive in (("busybox:latest", "busybox.tar"), ("berth.test/pause:1", "pause.tar")):
            engine.ok("save", "-o", os.path.join(work, archive), name)
        registry.seed(os.path.join(work, "busybox.tar"), "busybox:latest")
        image = f"{registry.host}/busybox:latest"
        for conflist, name, subnet in CONFIGURATIONS:
            results.setdefault(conflist, {})
            with CNINetwork(name, subnet, firewall=conflist == "firewall") as network:
                if name == "containerd":
                    runtime = Containerd(registry_hosts=[registry.host], cni_conf_dir=network.conf_dir)
                    runtime.import_image(os.path.join(work, "pause.tar"))
                    cri, stop = runtime.cri, runtime.stop
                else:
                    daemon = conftest.Daemon(extra_args=["--cni-conf-dir", network.conf_dir])
                    daemon.start()
                    cri = CRI("berth", os.path.join(daemon.exec_root, "cri.sock"))
                    cri.wait_ready()

                    def stop(daemon=daemon, cri=cri):
                        cri.close()
                        daemon.stop()
                try:
                    cri("images", "PullImage", image=cri.pb.ImageSpec(image=image), deadline=120)
                    measure(cri, image)  # a warm-up round: caches, first shim spawn
                    results[conflist][name] = measure(cri, image)
                finally:
                    stop()
    finally:
        registry.stop()
        engine.stop()
        shutil.rmtree(rootfs, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        remove_shared_chains(keep=chains)
    day = datetime.datetime.utcnow().strftime("%Y-%m-%d")
    text = ""
    for conflist, title in (("firewall", "bridge with host-local, portmap, firewall"),
                            ("reference", "containerd's reference conflist: bridge with host-local, portmap; FORWARD accepted for the pod subnet")):
        runs = results[conflist]
        rows = [f"Conflist: {title}.", "", "| CRI operation (median of %d) | berthd | containerd 1.6 | containerd / berthd |" % RUNS, "|---|---:|---:|---:|"]
        for phase in runs["berth"]:
            b, c = runs["berth"][phase], runs["containerd"][phase]
            rows.append(f"| {phase} | {b:.1f} ms | {c:.1f} ms | {c / b:.1f}× |")
        b_total = sum(v for k, v in runs["berth"].items() if k != "20 pods at once")
        c_total = sum(v for k, v in runs["containerd"].items() if k != "20 pods at once")
        steps = len(runs["berth"]) - 1
        rows.append(f"| pod lifecycle, all {steps} | {b_total:.1f} ms | {c_total:.1f} ms | {c_total / b_total:.1f}× |")
        text += "\n".join(rows) + "\n\n"
    out = os.path.join(here, "results", f"cri-{day}")
    json.dump({"runs": RUNS, **results}, open(out + ".json", "w"), indent=1)
    open(out + ".md", "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
