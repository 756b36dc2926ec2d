"""`logs` of a big json-file log, through the docker CLI: --tail reads from the end, a full read
streams, and berthd's memory stays flat either way."""
import json
import os
import subprocess

from conftest import BERTH, DOCKER, TIMEOUT, Daemon
from peer_engines import engines  # noqa: F401 (a fixture)

ENTRY_BYTES = 16 * 1024  # as the shim cuts long lines: 16 KiB of output per entry
FILLER = 1 << 30


def peak_rss_kib(pid):
    """berthd's high-water mark of resident memory (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def append(log, size):
    """`size` bytes of old entries, then ten recent ones, as the logger would have written them."""
    old = json.dumps({"log": "o" * (ENTRY_BYTES - 1) + "\n", "stream": "stdout", "time": "2020-01-01T00:00:00.000000000Z"}) + "\n"
    block = (old * 64).encode()
    with open(log, "ab") as f:
        for _ in range(size // len(block) + 1):
            f.write(block)
        for i in range(10):
            f.write((json.dumps({"log": f"recent {i}\n", "stream": "stdout" if i % 2 else "stderr",
                                 "time": "2026-01-01T00:00:00.000000000Z"}) + "\n").encode())


def test_tail_of_a_1_gib_log_and_a_full_read_keep_berthd_flat(rootfs_template):
    d = Daemon()
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        cid = d.ok("run", "-d", "--network", "none", "busybox", "echo", "the first line").strip()
        assert d.ok("wait", cid).strip() == "0"
        log = os.path.join(d.data, "containers", cid, cid + "-json.log")
        before = peak_rss_kib(d.proc.pid)

        # every entry of 128 MiB read and filtered out but the recent ones: the whole file goes
        # through berthd (a debug build reads about 20 MiB/s, so not the full GiB)
        append(log, 128 << 20)
        r = d.docker("logs", "--since", "2025-01-01T00:00:00Z", cid, timeout=300)
        assert r.returncode == 0 and r.stdout.count("recent") == 5 and r.stderr.count("recent") == 5, r.stderr

        # 1 GiB more, then ten recent ones: --tail reads from the end
        append(log, FILLER)
        assert os.path.getsize(log) > FILLER
        r = d.docker("logs", "--tail", "10", cid, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "".join(f"recent {i}\n" for i in range(1, 10, 2))
        assert r.stderr == "".join(f"recent {i}\n" for i in range(0, 10, 2))
        assert d.ok("logs", "--tail", "1", cid) == "recent 9\n"
        growth = peak_rss_kib(d.proc.pid) - before
        assert growth < 64 * 1024, f"berthd's peak RSS grew by {growth} KiB reading a log of over 1 GiB"
    finally:
        d.stop()


def engine_ok(engine):
    """The engine's CLI, asserting success and returning its output."""
    def ok(*args):
        r = engine.docker(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout
    return ok


def test_logs_details_show_the_attributes_the_log_options_pick_as_dockerd_does(engines):
    """`--log-opt labels=…`/`env=…` pick attributes that every json-file entry carries, and `logs
    --details` prints them before each line; without them it prints a lone space."""
    outputs = []
    for engine in engines:
        ok = engine_ok(engine)
        name = "details-" + os.urandom(4).hex()
        ok("run", "--name", name, "--label", "team=blue green", "-e", "STAGE=prod/1", "--log-opt", "labels=team,absent",
                  "--log-opt", "env=STAGE", "busybox", "echo", "hello")
        bare = "bare-" + os.urandom(4).hex()
        ok("run", "--name", bare, "busybox", "echo", "bare")
        # Go's regexps pick by key (unanchored unless anchored); a bad one fails the start
        matched = "regex-" + os.urandom(4).hex()
        ok("run", "--name", matched, "--label", "tier=web", "--label", "other=x", "-e", "STAGE=2", "-e", "MODE=3",
           "--log-opt", "labels-regex=^ti", "--log-opt", "env-regex=(?i)^st", "busybox", "echo", "hi")
        attrs = ok("logs", "--details", matched).split(" ")[0]
        bad = engine.docker("run", "--rm", "--log-opt", "env-regex=(unclosed", "busybox", "true")
        outputs.append((ok("logs", "--details", name), ok("logs", "--details", bare), ok("logs", name), sorted(attrs.split(",")),
                        bad.returncode, "error parsing regexp: missing closing ): `(unclosed`" in bad.stderr))
        ok("rm", name, bare, matched)
    dockerd, berthd = outputs
    assert berthd == dockerd, (dockerd, berthd)
    assert berthd[2] == "hello\n" and berthd[1] == " bare\n"
    assert berthd[0] in ("STAGE=prod%2F1,team=blue+green hello\n", "team=blue+green,STAGE=prod%2F1 hello\n")
    assert berthd[3:] == (["STAGE=2", "tier=web"], 125, True)


def test_local_log_driver_as_dockerd_runs_it(engines):
    """`--log-driver local` (and daemon.json's `log-driver`): framed entries rotated into gzipped
    files; `logs` in full, `--tail` across the compressed rotations and `-f` answer as dockerd's;
    inspect shows no LogPath (the format is private, as moby keeps it) and options the driver
    does not take are refused in dockerd's words."""
    outputs = []
    script = 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; printf "last, no newline" >&2'
    for engine in engines:
        ok = engine_ok(engine)
        name = "local-" + os.urandom(4).hex()
        ok("run", "--name", name, "--log-driver", "local", "--log-opt", "max-size=10k", "--log-opt", "max-file=3", "busybox", "sh", "-c", script)
        full = engine.docker("logs", name)
        tail = engine.docker("logs", "--tail", "4", name)
        follow = ok("run", "-d", "--log-driver", "local", "busybox", "sh", "-c", "echo a; sleep 1; echo b").strip()
        followed = engine.docker("logs", "-f", follow, timeout=30).stdout
        refused = engine.docker("create", "--log-driver", "local", "--log-opt", "labels=x", "busybox")
        info = ok("inspect", "--format", "{{.HostConfig.LogConfig.Type}} [{{.LogPath}}]", name)
        cid = ok("inspect", "--format", "{{.Id}}", name).strip()
        files = sorted(os.listdir(os.path.join(getattr(engine, "data", None) or engine.base, "containers", cid, "local-logs")))
        outputs.append(dict(full_tail=full.stdout.splitlines()[-3:], stderr=full.stderr, tail=(tail.stdout, tail.stderr), followed=followed,
                            refused=(refused.returncode, refused.stderr.strip()), info=info, files=files))
        ok("rm", "-f", name, follow)
    dockerd, berthd = outputs
    assert berthd == dockerd, (dockerd, berthd)
    assert berthd["tail"] == ("line 2997\nline 2998\nline 2999\n", "last, no newline")
    assert berthd["files"] == ["container.log", "container.log.1.gz", "container.log.2.gz"]
    assert "unknown log opt 'labels' for log driver local" in berthd["refused"][1]


def test_daemon_log_driver_is_every_containers_default(rootfs_template):
    """`--log-driver local` (daemon.json's `log-driver`): what `info` reports and what a container
    that names no driver gets; an unknown one stops berthd with a clear error."""
    d = Daemon(extra_args=("--log-driver", "local"))
    try:
        d.start()
        tar = subprocess.run(["tar", "-C", rootfs_template, "-c", "."], capture_output=True, check=True, timeout=TIMEOUT).stdout
        assert subprocess.run([DOCKER, "import", "-", "busybox:latest"], input=tar, env=d.env(), capture_output=True, timeout=60).returncode == 0
        assert d.ok("info", "--format", "{{.LoggingDriver}}").strip() == "local"
        cid = d.ok("run", "-d", "--network", "none", "busybox", "echo", "hello").strip()
        assert d.ok("wait", cid).strip() == "0"
        assert d.ok("inspect", "--format", "{{.HostConfig.LogConfig.Type}}", cid).strip() == "local"
        assert d.ok("logs", cid) == "hello\n"
        assert os.path.exists(os.path.join(d.data, "containers", cid, "local-logs", "container.log"))
    finally:
        d.stop()
    bad = subprocess.run([os.path.join(os.path.dirname(BERTH), "berthd"), "--log-driver", "syslogx", "--data-root", "/nonexistent/x"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode != 0 and "unknown log driver syslogx" in bad.stderr


def test_logs_right_after_start_find_a_quick_programs_output(daemon):
    """docker-py's suite (and many others) start a container and read its logs at once: the
    program was exec'd before `start` answered but may not have run far enough to write. A log
    read within 5 ms of the start gives a silent program that long to write or exit."""
    from conftest import api
    empty = 0
    for _ in range(100):
        body = json.dumps({"Image": "busybox:latest", "Cmd": ["ls", "-a", "/"]}).encode()
        status, _, out = api(daemon, "POST", "/containers/create", body, {"Content-Type": "application/json"})
        assert status == 201, out
        cid = json.loads(out)["Id"]
        assert api(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        status, _, logs = api(daemon, "GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
        assert status == 200
        empty += b"proc" not in logs
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
    assert empty == 0, f"{empty} of 100 log reads right after start were missing the output"
