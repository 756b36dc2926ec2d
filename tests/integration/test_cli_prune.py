"""Every prune as a user meets it, berth beside the docker CLI on the same daemon and the same
objects: docker's warning and [y/N] prompt, nothing removed on "n", the same report on "y"."""
import re
import subprocess
import uuid

from conftest import BERTH, DOCKER, TIMEOUT


def normalized(text):
    text = re.sub(r"\b[0-9a-f]{64}\b", "<id>", text)
    text = re.sub(r"sha256:<id>", "<digest>", text)
    text = re.sub(r"reclaimed space: [0-9.]+[kMG]?B", "reclaimed space: <size>", text)
    return text


def answer(daemon, client, args, reply):
    r = subprocess.run([client, *args], input=reply, env=daemon.env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, (client, args, r.stderr)
    return normalized(r.stdout)


def leftovers(daemon, tag):
    """Make what system prune --volumes removes: a stopped container holding an anonymous volume,
    and an unused network; returns their names."""
    container = "prune-" + tag
    daemon.ok("run", "--name", container, "-v", "/anon", "busybox", "echo")
    network = "prunenet-" + tag
    daemon.ok("network", "create", network)
    return container, network


def test_prunes_ask_and_report_as_docker_does(daemon):
    outputs = {}
    tag = uuid.uuid4().hex[:8]  # the same names for both clients: each run's prune removes them
    for client in (DOCKER, BERTH):
        # what earlier tests left on this shared daemon would show up in one client's report only
        daemon.ok("system", "prune", "-f", "--volumes")
        container, network = leftovers(daemon, tag)
        asked = {}
        for args in (["container", "prune"], ["image", "prune"], ["image", "prune", "-a"], ["network", "prune"], ["volume", "prune"],
                     ["volume", "prune", "-a"], ["system", "prune"], ["system", "prune", "-a", "--volumes", "--filter", "label=x"]):
            asked[" ".join(args)] = answer(daemon, client, args, "n\n")
        # nothing went on "n"
        assert daemon.ok("inspect", "-f", "{{.Name}}", container).strip() == "/" + container
        assert daemon.ok("network", "inspect", "-f", "{{.Name}}", network).strip() == network
        asked["system prune --volumes (yes)"] = answer(daemon, client, ["system", "prune", "--volumes"], "y\n")
        assert daemon.docker("inspect", container).returncode != 0
        assert daemon.docker("network", "inspect", network).returncode != 0
        outputs[client] = asked
    for what, theirs in outputs[DOCKER].items():
        assert outputs[BERTH][what] == theirs, what
    assert "Deleted Containers:\n<id>\n\nDeleted Networks:\nprunenet-" in outputs[BERTH]["system prune --volumes (yes)"]
    assert "Deleted Volumes:\n<id>\n\n" in outputs[BERTH]["system prune --volumes (yes)"]


def test_system_df_and_its_verbose_tables_read_as_the_docker_clis(daemon):
    """Both CLIs on one daemon, with a container, a named volume holding a file and an image in
    use: the same summary and the same four verbose tables (docker 28's columns and sizes)."""
    tag = uuid.uuid4().hex[:8]
    daemon.ok("run", "--name", "df-" + tag, "-v", f"dfvol-{tag}:/data", "busybox", "sh", "-c", "echo hello > /data/f; echo x > /f")
    try:
        def table(client, *args):
            r = subprocess.run([client, "system", "df", *args], env=daemon.env(), capture_output=True, text=True, timeout=TIMEOUT)
            assert r.returncode == 0, (client, r.stderr)
            text = re.sub(r"(\d+ \w+|About an? \w+|Less than a second) ago", "<ago>", r.stdout)
            # docker 28 prints the daemon's BuilderSize, which API 1.42 and later no longer send
            text = re.sub(r"Build cache usage: .*", "Build cache usage: <size>", text)
            return [re.sub(r" {2,}", "  ", line.rstrip()) for line in text.splitlines()]
        for args in ((), ("-v",)):
            theirs, ours = table(DOCKER, *args), table(BERTH, *args)
            assert ours == theirs, (args, ours, theirs)
        verbose = table(BERTH, "-v")
        assert [line for line in verbose if line.endswith("space usage:")] == \
            ["Images space usage:", "Containers space usage:", "Local Volumes space usage:"]
        assert any(line.startswith(f"dfvol-{tag}  1  ") for line in verbose), verbose
    finally:
        daemon.docker("rm", "-f", "df-" + tag)
        daemon.docker("volume", "rm", f"dfvol-{tag}")


def test_info_reads_as_the_docker_clis(daemon):
    """`berth info` and `docker info` on one daemon: the same sections and lines (docker 28's
    layout), only the client's own version differs."""
    def info(client):
        r = subprocess.run([client, "info"], env=daemon.env(), capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, (client, r.stderr)
        text = re.sub(r"^ Version: .*$", " Version: <client>", r.stdout, count=1, flags=re.M)
        # the docker CLI prints the runtimes in Go's random map order; berth sorts them
        return [" Runtimes: " + " ".join(sorted(line.split()[1:])) if line.startswith(" Runtimes: ") else line for line in text.splitlines()]
    theirs, ours = info(DOCKER), info(BERTH)
    assert ours == theirs, "\n".join(f"{a!r:60} {b!r}" for a, b in zip(ours, theirs))
    assert " Insecure Registries:" in ours and "  127.0.0.0/8" in ours and " Init Binary: docker-init" in ours


def test_prune_filters_select_what_goes(daemon):
    """`--filter until=` and `label`/`label!` choose what each prune removes, the same from both
    CLIs (a prune that ignored them removed every stopped container); a filter a prune does not
    take is refused in dockerd's words, and nothing goes."""
    for client in (DOCKER, BERTH):
        tag = uuid.uuid4().hex[:8]
        def run(*args):
            return subprocess.run([client, *args], env=daemon.env(), capture_output=True, text=True, timeout=TIMEOUT)
        daemon.ok("run", "--name", f"old-{tag}", "-l", f"prune={tag}", "busybox", "true")
        daemon.ok("run", "--name", f"kept-{tag}", "-l", f"prune={tag}", "-l", "pinned=1", "busybox", "true")
        daemon.ok("run", "--name", f"other-{tag}", "busybox", "true")
        daemon.ok("network", "create", "--label", f"prune={tag}", f"net-{tag}")
        try:
            r = run("container", "prune", "-f", "--filter", "until=1h", "--filter", f"label=prune={tag}")
            assert r.returncode == 0 and "Deleted Containers" not in r.stdout, r  # all made just now
            r = run("container", "prune", "-f", "--filter", f"label=prune={tag}", "--filter", "label!=pinned")
            assert r.returncode == 0 and r.stdout.count("\n") >= 2, r
            left = daemon.ok("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={tag}").split()
            assert sorted(left) == sorted([f"kept-{tag}", f"other-{tag}"]), left
            r = run("container", "prune", "-f", "--filter", "nosuch=1")
            assert r.returncode != 0 and "invalid filter 'nosuch'" in r.stderr, r
            r = run("network", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z")
            assert r.returncode == 0 and f"net-{tag}" not in r.stdout, r
            r = run("network", "prune", "-f", "--filter", f"label=prune={tag}")
            assert r.returncode == 0 and f"net-{tag}" in r.stdout, r
            r = run("image", "prune", "-f", "--filter", "until=yesterday")
            assert r.returncode != 0 and "yesterday" in r.stderr, r
        finally:
            daemon.docker("rm", "-f", f"kept-{tag}", f"other-{tag}", f"old-{tag}")
            daemon.docker("network", "rm", f"net-{tag}")

