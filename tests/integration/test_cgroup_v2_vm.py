"""cgroup v2 for real: Debian's kernel booted under qemu with only the unified hierarchy
(scripts/v2-vm.sh), running inside it, on the host's own files, the runtime tests, the engine's
lifecycle through the docker CLI and `berth`, the v2 tests (tests/integration/v2) and the resource
warnings side by side with a dockerd started in the guest. Writes tests/results/cgroup-v2.json
(the guest's counts) and cgroup-v2.log (its console). `make bench` times the runtimes there.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, REPO

# What runs in the guest: everything whose behaviour depends on the cgroup layout.
GUEST_TESTS = [
    "tests/integration/v2",
    "tests/integration/test_runtime_lifecycle.py",
    "tests/integration/test_runtime_isolation.py",
    "tests/integration/test_runtime_peers.py",
    "tests/integration/test_engine_cli.py",
    "tests/integration/test_healthcheck.py",
    "tests/integration/test_resource_warnings.py",
]
GUEST_TIMEOUT = 2400


def test_the_cgroup_v2_suite_inside_a_v2_guest():
    if not os.path.exists("/boot") or not any(n.startswith("vmlinuz-") for n in os.listdir("/boot")):
        pytest.fail("no kernel in /boot for the cgroup v2 guest: make deps installs linux-image-amd64")
    if not shutil.which("qemu-system-x86_64"):
        pytest.fail("qemu-system-x86_64 is missing: make deps installs qemu-system-x86")
    out = tempfile.mkdtemp(prefix="berth-v2vm-")
    python = os.path.join(REPO, ".build", "venv", "bin", "python")
    command = (f"cd {REPO} && BERTH_BIN={BIN} BERTH_TIMEOUT_SCALE=5 PYTHONDONTWRITEBYTECODE=1 {python} -m pytest -q -p no:cacheprovider -rfE "
               f"{' '.join(GUEST_TESTS)}")
    try:
        r = subprocess.run([os.path.join(REPO, "scripts", "v2-vm.sh"), out, command], capture_output=True, text=True,
                           timeout=GUEST_TIMEOUT + 120, env=dict(os.environ, V2VM_TIMEOUT=str(GUEST_TIMEOUT)))
        console = open(os.path.join(out, "console.log")).read() if os.path.exists(os.path.join(out, "console.log")) else ""
        results = os.path.join(REPO, "tests", "results")
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, "cgroup-v2.log"), "w") as f:
            f.write(console)
        print(console[-6000:])
        assert r.returncode != 125, "the guest did not run the suite:\n" + r.stderr
        summary = re.findall(r"^(\d+ passed.*|\d+ failed.*)$", console, re.M)
        counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary[-1] if summary else "")}
        guest = re.search(r"^guest: (.*)$", console, re.M)
        with open(os.path.join(results, "cgroup-v2.json"), "w") as f:
            json.dump({"guest": guest.group(1) if guest else None, "tests": GUEST_TESTS, "counts": counts}, f, indent=1)
        assert r.returncode == 0 and counts.get("passed", 0) > 0 and not counts.get("failed") and not counts.get("error"), \
            f"inside the cgroup v2 guest: {summary[-1] if summary else 'no pytest summary'}"
    finally:
        shutil.rmtree(out, ignore_errors=True)
