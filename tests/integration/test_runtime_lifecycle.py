"""create/start/state/kill/delete/pause/resume/exec/ps/list, terminals, hooks and error paths."""
import json
import os
import pty
import select
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import RUNTIME, TIMEOUT, cgroup_v1


def test_create_start_split_uses_the_exec_fifo(bundle):
    cid = bundle.start_detached("sleep", "60")
    st = bundle.state(cid)
    assert st["status"] == "running"
    assert st["id"] == cid and st["pid"] > 0
    assert st["bundle"] == bundle.path
    assert list(st)[:8] == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    r = bundle.cmd("start", cid)
    assert r.returncode == 1 and "cannot start an already running container" in r.stderr


def test_created_state_until_start(bundle):
    bundle.set_args("true")
    bundle.write()
    cid = bundle.new_id()
    pid_file = os.path.join(bundle.path, "init.pid")
    r = bundle.cmd("create", "--pid-file", pid_file, cid, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    st = bundle.state(cid)
    assert st["status"] == "created"
    assert open(pid_file).read() == str(st["pid"])
    assert bundle.cmd("start", cid).returncode == 0
    for _ in range(100):
        if bundle.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert bundle.state(cid)["status"] == "stopped"
    assert bundle.cmd("delete", cid).returncode == 0
    assert bundle.cmd("state", cid).returncode == 1


def test_kill_accepts_names_and_numbers_and_refuses_bad_signals(bundle):
    cid = bundle.start_detached("sleep", "60")
    r = bundle.cmd("kill", cid, "SIGBOGUS")
    assert r.returncode == 1 and "invalid signal: SIGBOGUS" in r.stderr
    assert bundle.cmd("kill", cid, "0").returncode == 1  # not a signal
    assert bundle.cmd("kill", cid, "USR1").returncode == 0  # PID 1 ignores it: still running
    assert bundle.state(cid)["status"] == "running"
    assert bundle.cmd("kill", cid, "9").returncode == 0
    wait_status(bundle, cid, "stopped")
    r = bundle.cmd("kill", cid)
    assert r.returncode == 1 and "container not running" in r.stderr


def test_delete_refuses_a_running_container_unless_forced(bundle):
    cid = bundle.start_detached("sleep", "60")
    r = bundle.cmd("delete", cid)
    assert r.returncode == 1
    assert f"cannot delete container {cid} that is not stopped: running" in r.stderr
    assert bundle.cmd("delete", "--force", cid).returncode == 0
    assert not os.path.exists(os.path.join(bundle.root, cid))


def test_kill_all_reaches_every_process(bundle):
    cid = bundle.start_detached("sh", "-c", "sleep 60 & sleep 60 & wait")
    time.sleep(0.2)
    assert len(json.loads(bundle.cmd("ps", "--format", "json", cid).stdout)) == 3
    assert bundle.cmd("kill", "--all", cid, "KILL").returncode == 0
    wait_status(bundle, cid, "stopped")


def test_pause_freezes_and_resume_thaws(bundle):
    cid = bundle.start_detached("sleep", "60")
    assert bundle.cmd("pause", cid).returncode == 0
    assert bundle.state(cid)["status"] == "paused"
    if cgroup_v1():
        assert open(f"/sys/fs/cgroup/freezer/berth/{cid}/freezer.state").read().strip() == "FROZEN"
    else:
        assert "frozen 1" in open(f"/sys/fs/cgroup/berth/{cid}/cgroup.events").read()
    # frozen means no progress: the task's CPU time does not move while paused
    pid = bundle.state(cid)["pid"]
    ticks = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[11:13]
    time.sleep(0.3)
    assert open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[11:13] == ticks
    r = bundle.cmd("exec", cid, "true")
    assert r.returncode == 1 and "cannot exec in a paused container" in r.stderr
    assert bundle.cmd("resume", cid).returncode == 0
    assert bundle.state(cid)["status"] == "running"
    r = bundle.cmd("resume", cid)
    assert r.returncode == 1 and "container not paused" in r.stderr


def test_exec_joins_the_container_namespaces_and_cgroup(bundle):
    cid = bundle.start_detached("sleep", "60")
    pid = bundle.state(cid)["pid"]
    r = bundle.cmd("exec", cid, "sh", "-c", "cat /proc/1/comm; for n in pid mnt net uts ipc; do readlink /proc/self/ns/$n; done; hostname")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out[0] == "sleep"
    host_view = [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("pid", "mnt", "net", "uts", "ipc")]
    assert out[1:6] == host_view
    assert out[6] == "berth"
    r = bundle.cmd("exec", "-e", "FOO=bar", "--cwd", "/tmp", "-u", "1000:1000", cid, "sh", "-c", "echo $FOO; pwd; id -u")
    assert r.stdout.split() == ["bar", "/tmp", "1000"], r.stderr


def test_exec_exit_codes_follow_the_shell(bundle, writable_rootfs):
    with open(os.path.join(writable_rootfs, "not-exec"), "w") as f:
        f.write("#!/bin/sh\n")
    bundle.config["root"] = {"path": writable_rootfs}
    cid = bundle.start_detached("sleep", "60")
    assert bundle.cmd("exec", cid, "sh", "-c", "exit 3").returncode == 3
    r = bundle.cmd("exec", cid, "no-such-binary")
    assert r.returncode == 127
    assert 'exec: "no-such-binary": executable file not found in $PATH' in r.stderr
    r = bundle.cmd("exec", cid, "/not-exec")
    assert r.returncode == 126
    assert "permission denied" in r.stderr


def test_exec_detached_writes_pid_file(bundle):
    cid = bundle.start_detached("sleep", "60")
    pid_file = os.path.join(bundle.path, "exec.pid")
    r = bundle.cmd("exec", "-d", "--pid-file", pid_file, cid, "sleep", "30")
    assert r.returncode == 0, r.stderr
    pid = int(open(pid_file).read())
    assert pid in json.loads(bundle.cmd("ps", "--format", "json", cid).stdout)


def test_exec_with_a_process_json_file(bundle):
    cid = bundle.start_detached("sleep", "60")
    proc = dict(bundle.config["process"], args=["sh", "-c", "echo from-json $X"], env=["PATH=/bin", "X=1"])
    path = os.path.join(bundle.path, "process.json")
    json.dump(proc, open(path, "w"))
    r = bundle.cmd("exec", "--process", path, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "from-json 1"


def test_run_exits_with_the_container_status_and_cleans_up(bundle):
    bundle.set_args("sh", "-c", "exit 42")
    r = bundle.run()
    assert r.returncode == 42
    assert bundle.cmd("list", "-q").stdout.strip() == ""


def test_missing_executable_fails_with_127_and_leaves_nothing(bundle):
    bundle.set_args("definitely-not-here")
    r = bundle.run()
    assert r.returncode == 127
    assert 'exec: "definitely-not-here": executable file not found in $PATH' in r.stderr
    assert os.listdir(bundle.root) == []


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), 'unknown namespace type "bogus"'),
    (lambda c: c["root"].update(path="/nonexistent-rootfs"), "rootfs (/nonexistent-rootfs) does not exist"),
    (lambda c: c["process"].update(args=[]), "args must not be empty"),
    (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}), "invalid rlimit type: RLIMIT_BOGUS"),
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_BOGUS"), 'unknown capability "CAP_BOGUS"'),
    (lambda c: c["linux"].update(sysctl={"kernel.panic": "1"}), 'sysctl "kernel.panic" is not in a separate kernel namespace'),
])
def test_bad_config_is_refused_and_leaves_nothing(bundle, mutate, message):
    mutate(bundle.config)
    bundle.write()
    cid = bundle.new_id()
    r = bundle.cmd("create", cid, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert message in r.stderr
    assert os.listdir(bundle.root) == []
    assert not any(os.path.exists(f"/sys/fs/cgroup/{c}/berth/{cid}") for c in os.listdir("/sys/fs/cgroup"))


def test_malformed_config_json(bundle):
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": ')
    r = bundle.cmd("create", bundle.new_id(), stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "config.json: invalid JSON" in r.stderr
    assert os.listdir(bundle.root) == []


def test_duplicate_and_invalid_ids(bundle):
    cid = bundle.start_detached("sleep", "60")
    r = bundle.cmd("create", cid, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and f"container with id exists: {cid}" in r.stderr
    assert bundle.state(cid)["status"] == "running"
    r = bundle.cmd("create", "../escape", stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and 'invalid container id format: "../escape"' in r.stderr
    r = bundle.cmd("state", "nope")
    assert r.returncode == 1 and 'container "nope" does not exist' in r.stderr


def test_list_table_and_json(bundle):
    cid = bundle.start_detached("sleep", "60")
    table = bundle.cmd("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == cid and table[1].split()[2] == "running"
    items = json.loads(bundle.cmd("list", "--format", "json").stdout)
    assert [i["id"] for i in items] == [cid]


def test_ps_table_filters_to_the_container(bundle):
    cid = bundle.start_detached("sleep", "60")
    lines = bundle.cmd("ps", cid).stdout.strip().splitlines()
    assert "PID" in lines[0]
    assert len(lines) == 2 and "sleep 60" in lines[1]


def test_hooks_run_with_the_state_on_stdin(bundle, tmp_path):
    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {tmp_path}/{name}.json"]}
    bundle.config["hooks"] = {p: [hook(p)] for p in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    bundle.config["hooks"]["startContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/started.json"]}]
    bundle.config["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(tmp_path), "options": ["rbind"]})
    bundle.set_args("true")
    r = bundle.run()
    assert r.returncode == 0, r.stderr
    for phase in ("prestart", "createRuntime", "createContainer", "poststart", "poststop", "started"):
        state = json.load(open(tmp_path / f"{phase}.json"))
        assert state["id"] == bundle.ids[-1], phase
        assert state["bundle"] == bundle.path


def test_failing_hook_fails_create_and_leaves_nothing(bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    bundle.set_args("true")
    bundle.write()
    r = bundle.cmd("create", bundle.new_id(), stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "error running createRuntime hook #0: exit status 1" in r.stderr
    assert os.listdir(bundle.root) == []


def test_run_with_tty_gets_a_pty(bundle):
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh", "-c", "tty; exit 5")
    bundle.write()
    out, status = run_in_pty([RUNTIME, "--root", bundle.root, "run", bundle.new_id()], cwd=bundle.path)
    assert status == 5
    assert "/dev/pts/0" in out


def test_exec_tty_gets_a_pty(bundle):
    cid = bundle.start_detached("sleep", "60")
    out, status = run_in_pty([RUNTIME, "--root", bundle.root, "exec", "-t", cid, "sh", "-c", "tty; test -t 0"], cwd=bundle.path)
    assert status == 0, out
    assert "/dev/pts/" in out


def test_console_socket_receives_the_pty_master(bundle):
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh", "-c", "echo through-the-console; sleep 60")
    bundle.write()
    sock_path = tempfile.mktemp(prefix="berth-console-", dir="/run")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    try:
        cid = bundle.new_id()
        proc = subprocess.Popen([RUNTIME, "--root", bundle.root, "create", "--console-socket", sock_path, cid],
                                cwd=bundle.path, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server.settimeout(TIMEOUT)
        conn, _ = server.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        assert proc.wait(TIMEOUT) == 0, proc.stderr.read()
        assert len(fds) == 1 and msg.startswith(b"/dev/pts/")
        assert bundle.cmd("start", cid).returncode == 0
        master = fds[0]
        data = read_until(master, b"through-the-console")
        assert b"through-the-console" in data
        os.close(master)
        conn.close()
    finally:
        server.close()
        os.unlink(sock_path)


def test_cgroup_limits_are_written_and_visible_inside(bundle):
    bundle.config["linux"]["resources"].update({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 40},
    })
    if cgroup_v1():
        script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes "
                  "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
                  "/sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/pids/pids.max")
        expected = [str(64 << 20), str(32 << 20), "512", "50000", "100000", "0", "40"]
    else:
        script = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.low /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/pids.max"
        expected = [str(64 << 20), str(32 << 20), "50000", "100000", "0", "40"]
    bundle.set_args("sh", "-c", script)
    r = bundle.run()
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == expected


def test_memory_hog_is_oom_killed(bundle):
    bundle.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    bundle.set_args("dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1")
    r = bundle.run()
    assert r.returncode == 137, (r.returncode, r.stderr)


def test_fork_bomb_stops_at_the_pids_limit(bundle, tmp_path):
    bundle.config["linux"]["resources"]["pids"] = {"limit": 10}
    bundle.config["mounts"].append({"destination": "/mnt/out", "type": "bind", "source": str(tmp_path),
                                    "options": ["rbind"]})
    # Each child records itself on the host; the shell dies on the first fork the limit refuses.
    bundle.set_args("sh", "-c", "for i in $(seq 30); do sleep 5 & echo $! >> /mnt/out/pids; done")
    r = bundle.run()
    assert r.returncode != 0 and "can't fork" in r.stderr, (r.returncode, r.stderr)
    count = len(open(tmp_path / "pids").read().split())
    assert 0 < count < 10, count


def wait_status(bundle, cid, status):
    for _ in range(200):
        if bundle.state(cid)["status"] == status:
            return
        time.sleep(0.02)
    assert bundle.state(cid)["status"] == status


def run_in_pty(argv, cwd):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execv(argv[0], argv)
    out = read_until(fd, None)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def read_until(fd, needle, timeout=TIMEOUT):
    data = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
        if needle and needle in data:
            break
    return data
