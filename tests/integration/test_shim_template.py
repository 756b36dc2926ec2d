"""The shim template: berthd forks each container's shim from one warm `berth-shim --template`
instead of exec'ing it. A forked shim must look and behave as an exec'd one did (its command
line names its config, it outlives the template and berthd), a template that died is replaced at
the next start, and the template ends with its daemon."""
import os
import select
import signal
import subprocess
import time

from conftest import DOCKER, Daemon


def pids(pattern):
    return [int(p) for p in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, timeout=30).stdout.split()]


def template_of(daemon):
    found = [p for p in pids("berth-shim --template " + daemon.exec_root) if ppid(p) == daemon.proc.pid]
    assert len(found) == 1, found
    return found[0]


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and ppid(int(entry)) == pid:
                found.append(int(entry))
        except FileNotFoundError:
            pass  # ended while listed
    return found


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [part.decode() for part in f.read().split(b"\0") if part]


def test_shims_are_forked_from_one_template_that_is_replaced_and_ends_with_berthd(rootfs_template):
    d = Daemon()
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=60).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        first = d.ok("run", "-d", "busybox", "sleep", "1000").strip()
        second = d.ok("run", "-d", "busybox", "sleep", "1000").strip()
        template = template_of(d)
        for cid in (first, second):
            [shim] = pids(f"berth-shim .*/{cid}/shim.json")
            assert ppid(shim) == template
            # what `ps` shows: the shim and its config, as an exec'd shim showed them
            assert cmdline(shim) == [cmdline(template)[0], f"{d.exec_root}/containers/{cid}/shim.json"]

        # A template that died is started again at the next start; the shims it forked live on.
        os.kill(template, signal.SIGKILL)
        time.sleep(0.2)
        assert d.ok("run", "--rm", "busybox", "echo", "after") == "after\n"
        assert template_of(d) != template
        assert d.ok("exec", first, "echo", "alive") == "alive\n"
        failed = d.docker("run", "--rm", "busybox", "/no/such/program")
        assert failed.returncode == 127 and "no such file or directory" in failed.stderr, failed.stderr

        # berthd gone (even killed): its template ends, its containers and their shims stay.
        replaced = template_of(d)
        d.kill9()
        deadline = time.time() + 10
        while os.path.exists(f"/proc/{replaced}") and open(f"/proc/{replaced}/stat").read().rsplit(")", 1)[1].split()[0] != "Z" and time.time() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{replaced}") or open(f"/proc/{replaced}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        assert len(pids(f"berth-shim .*/{second}/shim.json")) == 1
        d.start()
        assert d.ok("inspect", "--format", "{{.State.Running}}", second) == "true\n"
    finally:
        d.stop()


def test_the_init_created_by_the_shims_short_lived_child_is_the_shims_own(daemon):
    """Creating a container runs in a short-lived child of the shim (so the spec it decodes never
    stays in the long-lived shim): the init it clones must still be the shim's child, reaped by
    it, beside the shim's execs (their exits reported, even quick ones), and the step leaves no
    process behind."""
    cid = daemon.ok("run", "-d", "busybox", "sleep", "1000").strip()
    try:
        [shim] = pids(f"berth-shim .*/{cid}/shim.json")
        init = int(daemon.ok("inspect", "--format", "{{.State.Pid}}", cid))
        assert ppid(init) == shim
        daemon.ok("exec", "-d", cid, "sleep", "997")
        [execd] = [p for p in pids("sleep 997") if ppid(p) == shim]
        # quick exits, many times: the exit code reaches the client every time
        for code in range(20):
            assert daemon.docker("exec", cid, "sh", "-c", f"exit {code}").returncode == code
        assert daemon.ok("exec", "-t", cid, "tty").startswith("/dev/pts/")
        failed = daemon.docker("exec", cid, "/no/such/program")
        assert failed.returncode == 127 and "no such file or directory" in failed.stdout + failed.stderr
        # no process is left behind by the steps: the shim's children are the init and the exec
        assert sorted(children(shim)) == sorted([init, execd])
    finally:
        daemon.ok("rm", "-f", cid)


def file_pages(pid):
    """KiB of the shim's file mappings (its program, and its libraries in a dynamic build): what
    is mapped, and what of it is resident."""
    mapped = resident = 0
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                current = fields[5] if len(fields) > 5 and fields[5].startswith("/") else None
                if current:
                    low, high = (int(x, 16) for x in fields[0].split("-"))
                    mapped += (high - low) // 1024
            elif current and fields[0] == "Rss:":
                resident += int(fields[1])
    return mapped, resident


def test_an_idle_shim_gives_back_its_program_pages_and_still_serves(daemon):
    """A shim that has had nothing to do for a moment drops the pages of its program it ran
    (they stay in the page cache; what runs again faults back in): an idle container's shim then
    holds a small part of its program resident. Everything it serves must work as before after
    that, and again after the next settling: an exec, the logs, an attach, a stop."""
    script = "echo started; trap 'echo stopping; exit 3' TERM; while true; do [ -f /tick ] && rm /tick && echo tick; sleep 0.1; done"
    cid = daemon.ok("run", "-d", "busybox", "sh", "-c", script).strip()
    try:
        [shim] = pids(f"berth-shim .*/{cid}/shim.json")

        def settled():
            deadline = time.time() + 30
            while time.time() < deadline:
                mapped, resident = file_pages(shim)
                if resident < mapped // 10:
                    return
                time.sleep(0.2)
            raise AssertionError(f"the idle shim keeps {resident} of {mapped} KiB of its program resident")

        settled()
        assert daemon.ok("exec", cid, "echo", "after settling").strip() == "after settling"
        settled()
        assert daemon.ok("logs", cid).strip() == "started"
        attach = subprocess.Popen([DOCKER, "attach", cid], env=daemon.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # the attach is in place once a tick the container prints reaches it
            deadline = time.time() + 30
            while time.time() < deadline and not select.select([attach.stdout], [], [], 0.5)[0]:
                daemon.ok("exec", cid, "touch", "/tick")
            assert attach.stdout.readline().strip() == "tick"
            settled()
            daemon.ok("stop", cid)
            out, _ = attach.communicate(timeout=60)
        finally:
            attach.kill()
        assert "stopping" in out
        assert daemon.ok("inspect", "--format", "{{.State.ExitCode}}", cid).strip() == "3"
    finally:
        daemon.ok("rm", "-f", cid)
