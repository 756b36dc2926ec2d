"""berthd through the official docker CLI and through `berth`: the container lifecycle as a Docker
user drives it (every test runs once per client)."""
import glob
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import BERTH, api, cgroup_v1, remove_cgroup_parent, run_captured
from test_cli_detach import Terminal


def wait_for(predicate, timeout=15, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def inspect(docker, name, fmt):
    return docker.ok("inspect", "-f", fmt, name).strip()


def script(docker, command, input=None, timeout=30):
    """Runs a docker command under a pseudo-terminal (`script`), for -t flows."""
    return run_captured(["script", "-qec", command, "/dev/null"], input=input, timeout=timeout, env=docker.env())


def test_version_and_info(docker):
    assert docker.ok("version", "--format", "{{.Server.APIVersion}}").strip() == "1.50"
    info = json.loads(docker.ok("info", "--format", "{{json .}}"))
    assert info["Driver"] in ("overlay2", "vfs")
    assert info["Images"] >= 1


def test_run_foreground_output_and_exit_codes(docker):
    assert docker.ok("run", "--rm", "busybox", "echo", "hello from berth") == "hello from berth\n"
    r = docker.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = docker.docker("run", "--rm", "busybox", "nonexistent-command")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    r = docker.docker("run", "--rm", "busybox", "/etc/passwd")
    assert r.returncode == 126 and "permission denied" in r.stderr
    assert docker.docker("run", "--rm", "no-such-image-here").returncode == 125
    assert docker.ok("ps", "-aq") == ""  # --rm removed them all, even the failed starts


def test_run_with_stdin_env_workdir_user_hostname(docker):
    assert docker.ok("run", "--rm", "-i", "busybox", "cat", input="piped in\n") == "piped in\n"
    out = docker.ok("run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "1000", "-h", "myhost", "busybox",
                    "sh", "-c", 'echo "$A $(pwd) $(id -u) $(hostname)"')
    assert out == "1 /tmp 1000 myhost\n"
    cid = docker.ok("create", "busybox", "hostname").strip()
    assert docker.ok("start", "-a", cid) == cid[:12] + "\n"
    assert len(cid) == 64


def test_detached_logs_and_follow(docker):
    docker.ok("run", "-d", "--name", "logger", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; echo err$i >&2; done; sleep 1; echo last")
    r = run_captured([docker.binary, "logs", "-f", "logger"], env=docker.env(), timeout=20)
    assert r.stdout == "line1\nline2\nline3\nlast\n" and r.stderr == "err1\nerr2\nerr3\n"
    assert docker.ok("logs", "--tail", "1", "logger") == "last\n"
    stamped = docker.ok("logs", "-t", "logger").splitlines()
    assert stamped[0].endswith(" line1") and stamped[0][:4].isdigit()
    assert inspect(docker, "logger", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"


def test_exec_stdin_tty_and_exit_code(docker):
    docker.ok("run", "-d", "--name", "ex", "busybox", "sleep", "300")
    assert docker.ok("exec", "ex", "sh", "-c", "echo $((6*7))") == "42\n"
    assert docker.ok("exec", "-i", "ex", "cat", input="to exec\n") == "to exec\n"
    assert docker.docker("exec", "ex", "sh", "-c", "exit 7").returncode == 7
    assert docker.ok("exec", "-u", "1000", "-w", "/tmp", "-e", "X=y", "ex", "sh", "-c", "echo $(id -u) $(pwd) $X") == "1000 /tmp y\n"
    r = script(docker, f"{docker.binary} exec -it ex sh -c 'tty; exit 4'")
    assert r.returncode == 4 and "/dev/pts/" in r.stdout


def test_attach_and_detach_keys(docker):
    # Repeated, so the line reaches the client however late its attach lands (a slow guest took over a second).
    docker.ok("run", "-d", "--name", "att", "busybox", "sh", "-c", "while :; do echo attached-output; sleep 0.3; done")
    p = subprocess.Popen([docker.binary, "attach", "--no-stdin", "att"], env=docker.env(), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline() == "attached-output\n"
    finally:
        p.kill()
        p.wait(timeout=10)
    docker.ok("run", "-dit", "--name", "ttyc", "busybox", "sh")
    # The keys go in once the CLI has put the terminal in raw mode (before that, ^Q is XON).
    r = run_captured(["bash", "-c", f"(sleep 1.5; printf '\\x10\\x11') | script -qec '{docker.binary} attach ttyc' /dev/null"],
                     env=docker.env(), timeout=30)
    assert "read escape sequence" in r.stdout + r.stderr  # the docker CLI's words on detaching
    assert inspect(docker, "ttyc", "{{.State.Running}}") == "true"


def test_stop_kill_restart_pause(docker):
    life = docker.ok("run", "-d", "--name", "life", "busybox", "sleep", "300").strip()
    docker.ok("pause", "life")
    assert inspect(docker, "life", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    assert "Paused" in docker.ok("ps", "--filter", "name=life", "--format", "{{.Status}}")
    docker.ok("unpause", "life")
    since = str(int(time.time()) - 1)
    docker.ok("stop", "-t", "1", "life")  # sleep as PID 1 ignores SIGTERM: SIGKILL once the grace time is over
    assert inspect(docker, "life", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    # the behaviour, not a wall-clock bound: SIGTERM, then SIGKILL, then the exit
    # by ID: the other client's run of this test removed its own "life" within the window
    lines = docker.ok("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", f"container={life}",
                      "--format", "{{.Action}} {{json .Actor.Attributes}}").splitlines()
    actions = [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1]).get("signal")) for line in lines]
    stop = actions[[a for a, _ in actions].index("kill"):]
    assert stop[:3] == [("kill", "15"), ("kill", "9"), ("die", None)], actions
    assert "Exited (137)" in docker.ok("ps", "-a", "--filter", "name=life", "--format", "{{.Status}}")
    docker.ok("start", "life")
    pid1 = inspect(docker, "life", "{{.State.Pid}}")
    docker.ok("restart", "-t", "0", "life")
    assert inspect(docker, "life", "{{.State.Running}}") == "true"
    assert inspect(docker, "life", "{{.State.Pid}}") != pid1
    docker.ok("kill", "life")
    assert wait_for(lambda: inspect(docker, "life", "{{.State.Status}}") == "exited")
    assert inspect(docker, "life", "{{.State.ExitCode}}") == "137"
    docker.ok("run", "-d", "--name", "termed", "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
    docker.ok("stop", "termed")
    assert inspect(docker, "termed", "{{.State.ExitCode}}") == "0"


def test_rm_prune_and_errors(docker):
    docker.ok("run", "-d", "--name", "busy", "busybox", "sleep", "300")
    r = docker.docker("rm", "busy")
    assert r.returncode == 1 and "container is running: stop the container before removing or force remove" in r.stderr
    r = docker.docker("run", "-d", "--name", "busy", "busybox", "true")
    assert r.returncode == 125 and 'The container name "/busy" is already in use' in r.stderr
    docker.ok("rm", "-f", "busy")
    r = docker.docker("inspect", "busy")
    assert r.returncode == 1 and "No such object: busy" in r.stderr
    r = docker.docker("stop", "nonexistent")
    assert "No such container: nonexistent" in r.stderr
    docker.ok("run", "--name", "done1", "busybox", "true")
    out = docker.ok("container", "prune", "-f")
    assert "Deleted Containers:" in out
    assert docker.ok("ps", "-aq", "--filter", "name=done1") == ""


def test_ps_filters_and_formats(docker):
    docker.ok("run", "-d", "--name", "psrun", "-l", "tier=web", "busybox", "sleep", "300")
    docker.docker("run", "--name", "psexit", "busybox", "sh", "-c", "exit 2")
    assert docker.ok("ps", "--format", "{{.Names}}").split() == ["psrun"]
    assert docker.ok("ps", "-a", "--filter", "exited=2", "--format", "{{.Names}}").split() == ["psexit"]
    assert docker.ok("ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}").split() == ["psrun"]
    assert docker.ok("ps", "-a", "--filter", "status=exited", "--filter", "name=ps", "--format", "{{.Names}}").split() == ["psexit"]
    assert docker.ok("ps", "-lq") == docker.ok("ps", "-aq", "--filter", "name=psexit")
    header = docker.ok("ps").splitlines()[0].split()
    assert header[:3] == ["CONTAINER", "ID", "IMAGE"]
    full = docker.ok("ps", "--no-trunc", "-q").split()
    assert all(len(c) == 64 for c in full)


def test_format_templates_from_dockers_documentation(docker):
    """The `--format` forms docker's documentation teaches (range over a map in key order, range
    with variables, if/else, with, pipelines, printf), printed the same by both CLIs: the docker
    CLI runs Go's text/template itself."""
    net = f"fmtnet{os.getpid()}"
    docker.ok("network", "create", net)
    try:
        docker.ok("run", "-d", "--name", "fmtc", "--network", net, "-p", "127.0.0.1::80", "-e", "A=1", "-l", "b=2", "-l", "a=1",
                  "busybox", "sleep", "300")
        docker.ok("network", "connect", "bridge", "fmtc")
        addresses = inspect(docker, "fmtc", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()
        by_name = inspect(docker, "fmtc", "{{range $name, $n := .NetworkSettings.Networks}}{{$name}}={{$n.IPAddress}} {{end}}").split()
        assert [a.split("=")[0] for a in by_name] == sorted(["bridge", net]) and [a.split("=")[1] for a in by_name] == addresses
        port = inspect(docker, "fmtc", "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostIp}}{{end}}")
        assert port == "80/tcp -> 127.0.0.1"
        assert inspect(docker, "fmtc", "{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}},{{end}}") == "a:1,b:2,"
        assert inspect(docker, "fmtc", "{{if .State.Running}}up{{else}}down{{end}} {{with .State}}{{.Status | upper}}{{end}}") == "up RUNNING"
        assert inspect(docker, "fmtc", '{{if eq .State.Status "exited"}}gone{{else if .State.Paused}}paused{{else}}live{{end}}') == "live"
        assert inspect(docker, "fmtc", '{{printf "%-9s|" .Config.Image}}{{len .Mounts}}{{range .Mounts}}m{{else}} none{{end}}') == "busybox  |0 none"
        assert inspect(docker, "fmtc", '{{- range .Config.Env}}{{if eq (index (split . "=") 0) "A"}}{{.}}{{end}}{{end -}}') == "A=1"
        assert docker.ok("ps", "--filter", "name=fmtc", "--format", "{{.Names}}{{if .Ports}} has ports{{end}}").strip() == "fmtc has ports"
        bad = docker.docker("inspect", "-f", "{{range .Name}}{{end}}", "fmtc")
        assert bad.returncode != 0 and "range can't iterate over /fmtc" in bad.stderr, bad
    finally:
        docker.docker("rm", "-f", "fmtc")
        docker.docker("network", "rm", net)


def test_use_api_socket_hands_the_daemon_and_logins_in(daemon, tmp_path):
    """`berth run --use-api-socket` (docker 28's flag): the daemon's own socket (the one the CLI
    talks to; docker's CLI always takes /var/run/docker.sock) at /var/run/docker.sock, and the
    client's logins in $DOCKER_CONFIG/config.json, readable by root only."""
    config = tmp_path / "config.json"
    config.write_text('{"auths": {"127.0.0.1:5999": {"auth": "dTpw"}}}')
    socket_path = daemon.host.removeprefix("unix://")
    r = run_captured([BERTH, "run", "--rm", "--network", "none", "--use-api-socket", "busybox", "sh", "-c",
                      "stat -c '%i %F' /var/run/docker.sock; echo $DOCKER_CONFIG; stat -c %a $DOCKER_CONFIG/config.json; "
                      "cat $DOCKER_CONFIG/config.json"],
                     env=dict(daemon.env(), DOCKER_CONFIG=str(tmp_path)), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{os.stat(socket_path).st_ino} socket", lines
    assert lines[1:3] == ["/run/secrets/docker", "600"], lines
    assert json.loads("\n".join(lines[3:])) == {"auths": {"127.0.0.1:5999": {"auth": "dTpw"}}}


def test_image_commands_take_a_platform(docker):
    """`--platform` on image inspect, history and rmi (API 1.49; the docker CLI sends an OCI
    platform in JSON): this machine's platform is the image's, another is not found, in
    dockerd's words, and the image stays."""
    here = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    other = "arm64" if here != "arm64" else "amd64"
    image = f"platformed:{uuid.uuid4().hex[:8]}"  # a tag of its own: a failing rmi must not take busybox
    docker.ok("tag", "busybox", image)
    assert inspect(docker, image, "{{.Architecture}}") == here
    assert docker.ok("image", "inspect", "--platform", f"linux/{here}", "-f", "{{.Os}}", image).strip() == "linux"
    assert docker.ok("history", "--platform", f"linux/{here}", "-q", image).strip()
    for args in (["image", "inspect"], ["history"], ["rmi"]):
        r = docker.docker(*args, "--platform", f"linux/{other}", image)
        assert r.returncode != 0 and "does not match the specified platform" in r.stderr, (args, r.stderr)
    assert inspect(docker, image, "{{.Os}}") == "linux"
    assert "Untagged: " + image in docker.ok("rmi", "--platform", f"linux/{here}", image)


def test_resource_limits_in_cgroup_and_oom(docker):
    cid = docker.ok("run", "-d", "-m", "32m", "--cpus", "0.5", "--pids-limit", "50", "--cpu-shares", "512",
                    "busybox", "sleep", "300").strip()
    if cgroup_v1():
        base = "/sys/fs/cgroup/{}/berth/" + cid
        assert open(base.format("memory") + "/memory.limit_in_bytes").read().strip() == str(32 << 20)
        memsw = base.format("memory") + "/memory.memsw.limit_in_bytes"
        if os.path.exists(memsw):
            assert open(memsw).read().strip() == str(64 << 20)  # unset --memory-swap: as much swap as memory
        else:
            print("not checked: memory.memsw (the kernel has no swap accounting)")
        assert open(base.format("cpu") + "/cpu.cfs_quota_us").read().strip() == "50000"
        assert open(base.format("cpu") + "/cpu.shares").read().strip() == "512"
        assert open(base.format("pids") + "/pids.max").read().strip() == "50"
    else:
        base = "/sys/fs/cgroup/berth/" + cid
        assert open(base + "/memory.max").read().strip() == str(32 << 20)
        assert open(base + "/cpu.max").read().strip() == "50000 100000"
    assert inspect(docker, cid, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}") == f"{32 << 20} 500000000"
    r = docker.docker("run", "--rm", "-m", "1m", "busybox", "true")
    assert r.returncode == 125 and "Minimum memory limit allowed is 6MB" in r.stderr
    # Allocate well past the limit: the kernel's OOM killer ends it and the state says so.
    docker.docker("run", "--name", "oom", "-m", "16m", "--memory-swap", "16m", "busybox",
                  "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived", timeout=60)
    assert inspect(docker, "oom", "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"


def test_export_import_save_load(docker, tmp_path):
    docker.ok("run", "--name", "exp", "busybox", "sh", "-c", "echo exported > /marker")
    docker.ok("export", "-o", str(tmp_path / "fs.tar"), "exp")
    names = subprocess.run(["tar", "-tf", str(tmp_path / "fs.tar")], capture_output=True, text=True, timeout=30).stdout.split()
    assert "marker" in names or "./marker" in names
    image_id = docker.ok("import", str(tmp_path / "fs.tar"), "imported:1").strip()
    assert image_id.startswith("sha256:")
    assert docker.ok("run", "--rm", "imported:1", "cat", "/marker") == "exported\n"
    docker.ok("save", "-o", str(tmp_path / "img.tar"), "imported:1")
    docker.ok("rmi", "imported:1")
    assert "Loaded image: imported:1" in docker.ok("load", "-i", str(tmp_path / "img.tar"))
    assert docker.ok("images", "-q", "imported:1").strip() == image_id[7:19]
    docker.ok("rmi", "imported:1")


def test_cp_both_ways_and_diff_commit(docker, tmp_path):
    docker.ok("run", "-d", "--name", "cpc", "busybox", "sleep", "300")
    (tmp_path / "in.txt").write_text("copied in\n")
    docker.ok("cp", str(tmp_path / "in.txt"), "cpc:/tmp/")
    assert docker.ok("exec", "cpc", "cat", "/tmp/in.txt") == "copied in\n"
    docker.ok("exec", "cpc", "sh", "-c", "mkdir -p /data/sub && echo deep > /data/sub/f && rm /bin/vi")
    docker.ok("cp", "cpc:/data", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sub" / "f").read_text() == "deep\n"
    docker.ok("cp", "cpc:/etc/hostname", str(tmp_path / "hostname"))
    assert (tmp_path / "hostname").read_text() == docker.ok("exec", "cpc", "cat", "/etc/hostname")
    r = docker.docker("cp", "cpc:/nope", str(tmp_path / "x"))
    assert r.returncode != 0 and "Could not find the file /nope in container cpc" in r.stderr
    changes = docker.ok("diff", "cpc").splitlines()
    assert "A /data" in changes and "A /data/sub/f" in changes and "D /bin/vi" in changes and "C /tmp" in changes
    assert not any(c.endswith("/etc/hostname") for c in changes)  # the init layer is not a change
    docker.ok("commit", "-c", "CMD [\"cat\", \"/data/sub/f\"]", "-m", "a note", "cpc", "committed:1")
    assert docker.ok("run", "--rm", "committed:1") == "deep\n"
    assert "a note" in docker.ok("history", "committed:1")
    docker.ok("rmi", "committed:1")


def test_cp_cannot_escape_container(docker, tmp_path):
    docker.ok("run", "-d", "--name", "esc", "busybox", "sh", "-c", "ln -s / /hostroot; ln -s ../../../../tmp /up; sleep 300")
    assert wait_for(lambda: docker.docker("exec", "esc", "test", "-L", "/up").returncode == 0)
    (tmp_path / "evil.txt").write_text("x")
    docker.ok("cp", str(tmp_path / "evil.txt"), "esc:/up/")
    assert not os.path.exists("/tmp/evil.txt")
    assert docker.ok("exec", "esc", "cat", "/tmp/evil.txt") == "x"


def test_stats_top_rename_update_wait(docker):
    docker.ok("run", "-d", "--name", "st", "-m", "64m", "busybox", "sleep", "300")
    line = docker.ok("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "st")
    assert line.startswith("st ") and "64MiB" in line
    assert "sleep 300" in docker.ok("top", "st")
    docker.ok("rename", "st", "st2")
    assert inspect(docker, "st2", "{{.Name}}") == "/st2"
    same = docker.docker("rename", "st2", "st2")  # dockerd's invalid-parameter error
    assert same.returncode == 1 and "Renaming a container with the same name as its current name" in same.stderr
    docker.ok("run", "-d", "--name", "other", "busybox", "sleep", "300")
    taken = docker.docker("rename", "other", "st2")
    assert taken.returncode == 1 and 'The container name "/st2" is already in use by container' in taken.stderr
    docker.ok("update", "-m", "128m", "st2")
    assert inspect(docker, "st2", "{{.HostConfig.Memory}}") == str(128 << 20)
    docker.ok("run", "-d", "--name", "waiter", "busybox", "sh", "-c", "sleep 1; exit 9")
    assert docker.ok("wait", "waiter").strip() == "9"



def test_stats_redraws_in_place_on_a_terminal_and_picks_up_new_containers(docker):
    """As docker's: each frame from the top of the screen, every line erased to its end and the rest
    of the screen below the table; a container started meanwhile joins."""
    docker.ok("run", "-d", "--name", "live", "busybox", "sleep", "300")
    screen = Terminal(docker, ["stats"])
    try:
        screen.read_until(b"live", timeout=30)
        frames = screen.seen.count(b"\x1b[H")
        docker.ok("run", "-d", "--name", "late", "busybox", "sleep", "300")
        screen.read_until(b"late", timeout=30)
        assert screen.seen.startswith(b"\x1b[H"), screen.seen[:200]
        assert screen.seen.count(b"\x1b[H") > frames and b"\x1b[K" in screen.seen and b"\x1b[J" in screen.seen
        assert b"CONTAINER ID" in screen.seen and b"MEM USAGE / LIMIT" in screen.seen
    finally:
        screen.proc.kill()
        screen.proc.wait(timeout=10)

def test_events_stream(docker):
    # a name of its own: the other CLI's run of this test may have destroyed its container within
    # the second `since` reaches back
    name = "evc-" + uuid.uuid4().hex[:8]
    since = str(time.time() - 1)
    docker.ok("run", "--rm", "--name", name, "busybox", "true")
    out = docker.ok("events", "--since", since, "--until", str(time.time() + 0.5), "--filter", f"container={name}",
                    "--format", "{{.Action}}")
    actions = out.split()
    assert actions[:4] == ["create", "start", "die", "destroy"], actions


def test_restart_policy_on_failure(docker):
    docker.ok("run", "-d", "--name", "rp", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
    assert wait_for(lambda: inspect(docker, "rp", "{{.RestartCount}} {{.State.Status}}") == "2 exited", timeout=20)
    assert docker.ok("logs", "rp") == "run\nrun\nrun\n"
    r = docker.docker("run", "--rm", "--restart", "always", "busybox", "true")
    assert r.returncode == 125 and "conflicting options: cannot specify both --restart and --rm" in r.stderr


def test_live_restore_after_kill9(daemon):
    docker = daemon
    docker.ok("run", "-d", "--name", "survivor", "busybox", "sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done")
    docker.ok("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1")
    assert wait_for(lambda: "tick3" in docker.ok("logs", "survivor"))
    pid = inspect(docker, "survivor", "{{.State.Pid}}")
    docker.kill9()
    time.sleep(1.5)  # the container keeps running (and logging) while berthd is gone
    try:
        os.kill(int(pid), 0)
    finally:
        docker.start()
    assert inspect(docker, "survivor", "{{.State.Running}} {{.State.Pid}}") == f"true {pid}"
    logs = docker.ok("logs", "survivor").split()
    assert logs[:4] == ["tick0", "tick1", "tick2", "tick3"] and len(logs) >= 8
    assert wait_for(lambda: len(docker.ok("logs", "survivor").split()) > len(logs))
    assert wait_for(lambda: inspect(docker, "always", "{{.State.Running}}") == "true", timeout=20)
    docker.ok("rm", "-f", "survivor", "always")


def test_daemon_start_brings_back_always_even_after_a_stop_but_not_unless_stopped(daemon):
    """Docker's documented difference: a container with `--restart always` that a user stopped
    comes back when the daemon starts; one with `unless-stopped` stays stopped."""
    docker = daemon
    docker.ok("run", "-d", "--name", "rs-always", "--restart", "always", "busybox", "sleep", "1000")
    docker.ok("run", "-d", "--name", "rs-unless", "--restart", "unless-stopped", "busybox", "sleep", "1000")
    docker.ok("stop", "-t", "1", "rs-always", "rs-unless")
    docker.kill9()
    docker.start()
    try:
        assert wait_for(lambda: inspect(docker, "rs-always", "{{.State.Running}}") == "true", timeout=20)
        assert inspect(docker, "rs-unless", "{{.State.Status}}") == "exited"
    finally:
        docker.ok("rm", "-f", "rs-always", "rs-unless")


def test_cidfile_label_file_domainname_oom_score_adj(docker, tmp_path):
    cid_path, labels = tmp_path / "cid", tmp_path / "labels"
    labels.write_text("# a comment\na=1\nb=2\n\n")
    cid = docker.ok("run", "-d", "--cidfile", str(cid_path), "--label-file", str(labels), "--label", "b=3", "--domainname", "example.org",
                    "--oom-score-adj", "500", "--runtime", "runc", "busybox", "sleep", "100").strip()
    try:
        assert cid_path.read_text() == cid
        assert inspect(docker, cid, '{{index .Config.Labels "a"}} {{index .Config.Labels "b"}} {{.Config.Domainname}} {{.HostConfig.OomScoreAdj}}') \
            == "1 3 example.org 500"
        assert docker.ok("exec", cid, "cat", "/proc/1/oom_score_adj", "/proc/sys/kernel/domainname").split() == ["500", "example.org"]
        r = docker.docker("run", "--cidfile", str(cid_path), "busybox", "true")
        assert r.returncode == 125 and "container ID file found, make sure the other container isn't running or delete" in r.stderr, r.stderr
    finally:
        docker.ok("rm", "-f", cid)


def test_annotations_volume_driver_and_storage_opt(docker):
    """`--annotation` reaches the runtime spec (what hooks and runtimes read) and inspect;
    `--volume-driver` other than local and `--storage-opt` are refused in dockerd's words
    (no plugins; no xfs project quotas under overlay here), and nothing is left behind."""
    cid = docker.ok("run", "-d", "--annotation", "org.example.note=kept", "--annotation", "org.example.empty=",
                    "--disable-content-trust", "busybox", "sleep", "100").strip()
    try:
        assert inspect(docker, cid, "{{json .HostConfig.Annotations}}") == '{"org.example.empty":"","org.example.note":"kept"}'
        with open(os.path.join(docker.exec_root, "containers", cid, "config.json")) as f:
            assert json.load(f)["annotations"] == {"org.example.note": "kept", "org.example.empty": ""}
    finally:
        docker.ok("rm", "-f", cid)
    # a 404 as dockerd's (after which the docker CLI, as against dockerd, tries to pull the image)
    volumes = docker.ok("volume", "ls", "-q")
    body = json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"VolumeDriver": "nfsplug", "Binds": ["data:/data"]}})
    status, _, answer = api(docker, "POST", "/containers/create", body, {"Content-Type": "application/json"})
    assert (status, json.loads(answer)["message"]) == (404, 'error looking up volume plugin nfsplug: plugin "nfsplug" not found')
    assert docker.ok("volume", "ls", "-q") == volumes
    docker.ok("run", "--rm", "--volume-driver", "local", "-v", "/tmp:/host", "busybox", "true")
    r = docker.docker("run", "--rm", "--storage-opt", "size=1G", "busybox", "true")
    assert r.returncode == 125 and "--storage-opt is supported only for overlay over xfs with 'pquota' mount option" in r.stderr, r.stderr


def block_device():
    """A real block device for I/O limits: a loop device over a small file, or None where the
    kernel has none (the cgroup v2 guest has no disk and no loop driver)."""
    image = tempfile.mktemp(prefix="berth-blk-", dir="/var/tmp")
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    r = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True)
    os.unlink(image)  # the loop device holds it
    return r.stdout.strip() if r.returncode == 0 else None


def test_block_io_device_limits_reach_the_cgroup(docker):
    """`--device-read-bps` and kin were accepted and silently dropped: now in inspect as dockerd
    shows them and written into the container's blkio (v1) or io.max (v2) cgroup file."""
    device = block_device()
    if device is None:
        pytest.skip("no loop device here: block I/O limits not checked (reported, not counted)")
    try:
        rdev = os.stat(device).st_rdev
        numbers = f"{os.major(rdev)}:{os.minor(rdev)}"
        cid = docker.ok("run", "-d", "--device-read-bps", f"{device}:1mb", "--device-write-iops", f"{device}:100",
                        "busybox", "sleep", "100").strip()
        try:
            assert json.loads(inspect(docker, cid, "{{json .HostConfig.BlkioDeviceReadBps}}")) == [{"Path": device, "Rate": 1048576}]
            assert json.loads(inspect(docker, cid, "{{json .HostConfig.BlkioDeviceWriteIOps}}")) == [{"Path": device, "Rate": 100}]
            v1 = f"/sys/fs/cgroup/blkio/berth/{cid}"
            if os.path.isdir(v1):
                assert open(f"{v1}/blkio.throttle.read_bps_device").read().split() == [numbers, "1048576"]
                assert open(f"{v1}/blkio.throttle.write_iops_device").read().split() == [numbers, "100"]
            else:
                line = [l for l in open(f"/sys/fs/cgroup/berth/{cid}/io.max").read().splitlines() if l.startswith(numbers + " ")]
                assert line and "rbps=1048576" in line[0] and "wiops=100" in line[0], line
        finally:
            docker.ok("rm", "-f", cid)
        r = docker.docker("run", "--rm", "--device-read-bps", "sda:1mb", "busybox", "true")
        assert r.returncode != 0 and "bad format for device path: sda:1mb" in r.stderr, r.stderr
        r = docker.docker("run", "--rm", "--device-write-iops", f"{device}:fast", "busybox", "true")
        assert r.returncode != 0 and "invalid rate for device" in r.stderr, r.stderr
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True)


def test_init_and_oom_warning(docker):
    assert docker.ok("run", "--rm", "--init", "busybox", "cat", "/proc/1/comm") == "docker-init\n"
    r = docker.docker("create", "--oom-kill-disable", "busybox", "true")
    assert r.returncode == 0
    if cgroup_v1():
        assert "OOM killer is disabled for the container, but no memory limit is set" in r.stderr


def test_cgroup_parent_places_the_container(docker):
    parent = "/berth-test-parent-" + uuid.uuid4().hex[:8]
    try:
        out = docker.ok("run", "--rm", "--cgroup-parent", parent, "busybox", "cat", "/proc/self/cgroup")
        memory = [line for line in out.splitlines() if ":memory:" in line] or [line for line in out.splitlines() if line.startswith("0::")]
        # v1 here (host cgroup namespace): the full path; v2 (private namespace): the container's root
        assert memory[0].split(":", 2)[2].startswith(parent + "/") or memory[0] == "0::/", out
        cid = docker.ok("run", "-d", "--cgroup-parent", parent.lstrip("/"), "busybox", "sleep", "60").strip()
        assert inspect(docker, cid, "{{.HostConfig.CgroupParent}}") == parent.lstrip("/")
        assert glob.glob(f"/sys/fs/cgroup/*{parent}/{cid}") or os.path.isdir(f"/sys/fs/cgroup{parent}/{cid}")
        docker.ok("rm", "-f", cid)
        r = docker.docker("run", "--rm", "--cgroup-parent", "/a/../../escape", "busybox", "true")
        assert r.returncode == 125 and "cgroup parent" in r.stderr
    finally:
        remove_cgroup_parent(parent)
