"""`make install` as an administrator uses it: the four programs, systemd units that
systemd-analyze accepts, berthd started through socket activation (`-H fd://`, as berth.socket
does) running a container, completion scripts that the shells accept and that complete
commands, flags and the daemon's container names; `make uninstall` takes it all away."""
import os
import shutil
import subprocess
import time

from conftest import BIN, DOCKER, REPO, TIMEOUT, chain_prefix, remove_chains, stop_process


def installed(tmp_path):
    root = tmp_path / "root"
    r = subprocess.run(["make", "-C", REPO, "--no-print-directory", "install", f"PREFIX={root}/usr", f"SYSTEMD_DIR={root}/systemd",
                        "SYSTEM_SETUP=no", f"INSTALL_BIN={BIN}"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def complete(script, line, env):
    """What bash's completion offers for `line` (the cursor at its end)."""
    words = line.split(" ")
    program = f"""
source {script}
COMP_WORDS=({" ".join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
_berth
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_install_units_socket_activation_completion_and_uninstall(tmp_path, rootfs_template):
    root = installed(tmp_path)
    bin_dir = root / "usr" / "bin"
    for program in ("berthd", "berth", "berth-shim", "berth-runtime"):
        assert os.access(bin_dir / program, os.X_OK), program
    units = [str(root / "systemd" / "berth.socket"), str(root / "systemd" / "berth.service")]
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert f"ExecStart={bin_dir}/berthd -H fd://" in open(units[1]).read()

    bash_script = root / "usr" / "share" / "bash-completion" / "completions" / "berth"
    assert subprocess.run(["zsh", "-n", str(root / "usr" / "share" / "zsh" / "vendor-completions" / "_berth")], timeout=TIMEOUT).returncode == 0
    assert subprocess.run(["fish", "--no-execute", str(root / "usr" / "share" / "fish" / "vendor_completions.d" / "berth.fish")],
                          timeout=TIMEOUT).returncode == 0

    # the daemon as berth.socket starts it: systemd hands over the listening socket
    sock = tmp_path / "api.sock"
    exec_root = str(tmp_path / "exec")
    (tmp_path / "daemon.json").write_text("{}")
    daemon = subprocess.Popen(["systemd-socket-activate", "-l", str(sock), str(bin_dir / "berthd"), "-H", "fd://",
                               "--data-root", str(tmp_path / "data"), "--exec-root", exec_root, "--bridge", "none",
                               "--config-file", str(tmp_path / "daemon.json")],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "berthd.log", "w"), start_new_session=True)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", BERTH_HOST=f"unix://{sock}", DOCKER_CONFIG=str(tmp_path / "cli"),
               PATH=f"{bin_dir}:{os.environ['PATH']}")
    try:
        deadline = time.time() + 30
        while subprocess.run([DOCKER, "version"], env=env, capture_output=True, timeout=TIMEOUT).returncode != 0:
            assert time.time() < deadline, open(tmp_path / "berthd.log").read()
            time.sleep(0.2)
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=env, capture_output=True, timeout=60).returncode == 0
        r = subprocess.run(["berth", "run", "--name", "installed-one", "--network", "none", "busybox", "echo", "activated"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.stdout == "activated\n", r.stderr

        # completion: commands, a group's subcommands, flags, and names from this daemon
        assert complete(bash_script, "berth ru", env) == ["run"]
        assert set(complete(bash_script, "berth network c", env)) == {"connect", "create"}
        assert set(complete(bash_script, "berth run --net", env)) >= {"--network", "--network-alias"}
        assert complete(bash_script, "berth stop inst", env) == ["installed-one"]
        assert complete(bash_script, "berth -H x start inst", env) == ["installed-one"]
        assert "busybox:latest" in complete(bash_script, "berth run busy", env)
        subprocess.run(["berth", "rm", "-f", "installed-one"], env=env, capture_output=True, timeout=60)
    finally:
        stop_process(daemon)
        subprocess.run(["pkill", "-9", "-f", "berth-shim " + exec_root], timeout=TIMEOUT)
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            if line.split()[4].startswith(str(tmp_path)):
                subprocess.run(["umount", "-l", line.split()[4]], timeout=TIMEOUT)
        remove_chains(chain_prefix(exec_root))

    r = subprocess.run(["make", "-C", REPO, "--no-print-directory", "uninstall", f"PREFIX={root}/usr", f"SYSTEMD_DIR={root}/systemd"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    left = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
    assert left == [], left
    shutil.rmtree(root, ignore_errors=True)
