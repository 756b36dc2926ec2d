"""Builds through the docker CLI's classic builder (DOCKER_BUILDKIT=0) and `berth build`:
Dockerfile features, the cache, .dockerignore, multi-stage, failures with their exit codes and
line numbers."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import types
import uuid

import pytest

from conftest import BERTH, TIMEOUT, api, run_captured


@pytest.fixture
def ctx(tmp_path):
    return tmp_path


@pytest.fixture
def builder(docker):
    """The daemon with DOCKER_BUILDKIT=0 for the docker CLI (it has no buildx here anyway)."""
    env = docker.env
    docker.env = lambda: dict(env(), DOCKER_BUILDKIT="0")
    tags = []
    try:
        yield docker, tags
    finally:
        del docker.env  # back to the class's method
    for t in tags:
        docker.docker("rmi", "-f", t)


def write(ctx, name, text):
    path = os.path.join(ctx, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def build(docker, tags, ctx, *args, check=True):
    tag = "b" + uuid.uuid4().hex[:8] + ":t"
    tags.append(tag)
    r = docker.docker("build", "-t", tag, *args, str(ctx), timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return tag, r


def test_build_features_run_as_written(builder, ctx):
    docker, tags = builder
    write(ctx, "Dockerfile", """# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS base
ARG GREETING=hello
ENV APP=/app \\
    WHO="the world"
WORKDIR $APP
COPY files/ ./files/
COPY --chmod=755 run.sh /usr/local/bin/
RUN echo "$GREETING ${WHO}" > greeting && echo 'worker:x:1234:1234::/app:/bin/sh' >> /etc/passwd && chown 1234 greeting
USER worker
LABEL stage=one version="1.0"
EXPOSE 8080/tcp 9090
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
CMD ["run.sh"]
""")
    write(ctx, "files/a.txt", "A\n")
    write(ctx, "files/sub/b.txt", "B\n")
    write(ctx, "run.sh", "#!/bin/sh\necho \"$(whoami) in $(pwd): $(cat greeting)\"\n")
    tag, r = build(docker, tags, ctx, "--build-arg", "GREETING=hi")
    assert "Step 1/15 : ARG BASE=busybox" in r.stdout
    assert "Successfully built " in r.stdout and f"Successfully tagged {tag}" in r.stdout
    assert docker.ok("run", "--rm", tag) == "worker in /app: hi the world\n"
    assert docker.ok("run", "--rm", tag, "cat", "files/sub/b.txt") == "B\n"
    info = json.loads(docker.ok("image", "inspect", tag))[0]["Config"]
    assert info["User"] == "worker" and info["WorkingDir"] == "/app"
    assert info["Labels"] == {"stage": "one", "version": "1.0"}
    assert set(info["ExposedPorts"]) == {"8080/tcp", "9090/tcp"} and list(info["Volumes"]) == ["/data"]
    assert info["StopSignal"] == "SIGINT" and info["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert "APP=/app" in info["Env"] and "WHO=the world" in info["Env"]
    # intermediate images stay out of `images`
    assert "<none>" not in docker.ok("images")


def test_heredocs_run_and_copy_as_buildkit_does(builder, ctx):
    """Dockerfile 1.4 heredocs on the classic builder's endpoint (dockerd 20.10 refuses them
    without BuildKit): a RUN script, one fed to a command, one with a shebang, COPY of several
    heredocs, expansion only where the delimiter is unquoted, <<- stripping tabs."""
    docker, tags = builder
    write(ctx, "Dockerfile", """# syntax=docker/dockerfile:1
FROM busybox
ARG WHO=world
RUN <<EOF
echo "hello $WHO" > /greeting
mkdir -p /app
EOF
RUN <<-'EOT' sh
\techo raw '$WHO' > /raw
\tEOT
COPY <<EOF /app/config.txt
who=${WHO}
EOF
COPY <<a.txt <<'b.txt' /app/
A $WHO
a.txt
B $WHO
b.txt
RUN <<EOF
#!/bin/sh -e
echo "from a shebang, as $0" > /shebang
EOF
RUN cat <<EOF > /from-stdin && wc -l < /from-stdin > /lines
one
two
EOF
""")
    tag, r = build(docker, tags, ctx, "--build-arg", "WHO=you")
    show = "cat /greeting /raw /app/config.txt /app/a.txt /app/b.txt /shebang /from-stdin /lines"
    assert docker.ok("run", "--rm", tag, "sh", "-c", show) == (
        "hello you\nraw $WHO\nwho=you\nA you\nB $WHO\nfrom a shebang, as /dev/stdin\none\ntwo\n2\n")
    # nothing of the builder's own is left in the image
    assert docker.ok("run", "--rm", tag, "sh", "-c", "ls -a / | grep -c berth || true").strip() == "0"
    # cached as a whole, and a changed body is a changed step
    _, again = build(docker, tags, ctx, "--build-arg", "WHO=you")
    assert again.stdout.count("Using cache") == 7  # every step after FROM
    write(ctx, "Dockerfile", open(os.path.join(ctx, "Dockerfile")).read().replace("two\n", "three\n"))
    _, changed = build(docker, tags, ctx, "--build-arg", "WHO=you")
    assert changed.stdout.count("Using cache") == 6


def test_run_mounts_cache_tmpfs_and_bind(builder, ctx):
    """RUN --mount on the classic endpoint (BuildKit's syntax): a cache that persists across
    builds and goes with `builder prune`, a tmpfs, binds of the context and of a stage (read-only,
    or writable with the writes thrown away); none of it lands in the image."""
    docker, tags = builder
    cache_id = "runs-" + uuid.uuid4().hex[:8]
    write(ctx, "data/a.txt", "from the context\n")
    write(ctx, "Dockerfile", """FROM busybox AS tools
RUN mkdir -p /out && echo built > /out/tool
FROM busybox
RUN --mount=type=cache,target=/cache,id=CACHE_ID sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/f && grep -q " /scratch tmpfs" /proc/mounts'
RUN --mount=type=bind,source=data,target=/in cp /in/a.txt /copied && ! touch /in/nope 2>/dev/null
RUN --mount=type=bind,target=/ctx,rw sh -c 'echo junk > /ctx/data/a.txt && echo new > /ctx/new'
RUN --mount=type=bind,from=tools,source=/out,target=/tools cp /tools/tool /tool
""".replace("CACHE_ID", cache_id))
    tag, _ = build(docker, tags, ctx)
    # the mount points stay, empty, as BuildKit leaves them
    check = "cat /count /copied /tool; find /cache /scratch -mindepth 1 | wc -l"
    assert docker.ok("run", "--rm", tag, "sh", "-c", check) == "1\nfrom the context\nbuilt\n0\n"
    # the writable bind's writes went nowhere
    assert open(os.path.join(ctx, "data", "a.txt")).read() == "from the context\n"
    assert not os.path.exists(os.path.join(ctx, "new"))
    # the cache outlives the build: a build without the step cache sees the first run's line
    tag2, _ = build(docker, tags, ctx, "--no-cache")
    assert docker.ok("run", "--rm", tag2, "cat", "/count") == "2\n"
    # system df counts it as build cache, as BuildKit's exec.cachemount records
    records = json.loads(api(docker, "GET", "/system/df")[2])["BuildCache"]
    mine = [r for r in records if r["Description"] == f"cached mount (id: {cache_id})"]
    assert len(mine) == 1 and mine[0]["Type"] == "exec.cachemount" and mine[0]["Size"] > 0 and not mine[0]["InUse"], records
    summary = [line.split() for line in docker.ok("system", "df").splitlines()]
    cache_row = next(row for row in summary if row[:2] == ["Build", "Cache"])
    assert int(cache_row[2]) >= 1 and cache_row[4] != "0B", summary
    assert cache_id in docker.ok("builder", "prune", "-af")
    records = json.loads(api(docker, "GET", "/system/df")[2])["BuildCache"]
    assert not [r for r in records if cache_id in r["Description"]]
    tag3, _ = build(docker, tags, ctx, "--no-cache")
    assert docker.ok("run", "--rm", tag3, "cat", "/count") == "1\n"


# Asks an SSH agent (at $SSH_AUTH_SOCK) for its identities and prints how many it holds: a static
# program a busybox build step can run (busybox has no unix-socket client).
AGENT_CHECK = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!path) return 2;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 3; }
    unsigned char ask[5] = {0, 0, 0, 1, 11}, got[9];  /* SSH_AGENTC_REQUEST_IDENTITIES */
    if (write(fd, ask, 5) != 5) return 4;
    size_t n = 0;
    while (n < sizeof got) { ssize_t r = read(fd, got + n, sizeof got - n); if (r <= 0) return 5; n += r; }
    if (got[4] != 12) return 6;                        /* SSH_AGENT_IDENTITIES_ANSWER */
    printf("%u keys\n", (unsigned)(got[5] << 24 | got[6] << 16 | got[7] << 8 | got[8]));
    return 0;
}
"""


def compile_static(source, out):
    cc = shutil.which("cc") or "/opt/swift/usr/bin/clang"
    with open(out + ".c", "w") as f:
        f.write(source)
    subprocess.run([cc, "-static", "-O2", "-o", out, out + ".c"], check=True, capture_output=True, timeout=TIMEOUT)
    os.unlink(out + ".c")


def test_run_mounts_secrets_and_ssh_agents(builder, ctx, tmp_path_factory):
    """`RUN --mount=type=secret|ssh` as BuildKit runs them, the values brought by `berth build
    --secret/--ssh`: the secret as a read-only file (its mode and owner as asked) or a variable,
    an agent relayed through a socket of the step's own; nothing of the secret anywhere in the
    daemon's data root afterwards (layers, image config, history, cache keys, records), and a new
    value does not invalidate the cache. Missing secrets skip the mount unless `required`, which
    is what the docker CLI (which cannot send secrets to the classic endpoint) gets."""
    docker, tags = builder
    write(ctx, "Dockerfile", """FROM busybox
RUN --mount=type=secret,id=token --mount=type=secret,id=other,env=OTHER,target=/etc/other,mode=0440,uid=7,gid=8 sh -c \
    'sha256sum < /run/secrets/token | cut -c1-64 > /seen; stat -c "%a %u %g" /run/secrets/token /etc/other >> /seen; \
     printf %s "$OTHER" | sha256sum | cut -c1-64 >> /seen; touch /run/secrets/token 2>/dev/null || echo ro >> /seen'
RUN --mount=type=secret,id=absent sh -c 'test -e /run/secrets/absent && echo present > /absent || echo none > /absent'
""")
    if docker.binary != BERTH:
        tag, _ = build(docker, tags, ctx)
        assert docker.ok("run", "--rm", tag, "cat", "/absent") == "none\n"
        write(ctx, "Dockerfile", "FROM busybox\nRUN --mount=type=secret,id=token,required cat /run/secrets/token\n")
        _, refused = build(docker, tags, ctx, check=False)
        assert refused.returncode != 0 and "secret token: not found" in refused.stdout + refused.stderr
        return
    secrets = tmp_path_factory.mktemp("secrets")
    value, other = "tok-" + uuid.uuid4().hex, "env-" + uuid.uuid4().hex
    with open(secrets / "token", "w") as f:
        f.write(value)
    env = dict(docker.env(), OTHER_SECRET=other)
    r = run_captured([BERTH, "build", "-t", "sec:1", "--secret", f"id=token,src={secrets / 'token'}", "--secret", "id=other,env=OTHER_SECRET",
                      str(ctx)], env=env, timeout=120)
    tags.append("sec:1")
    assert r.returncode == 0, r.stdout + r.stderr
    seen = docker.ok("run", "--rm", "sec:1", "cat", "/seen", "/absent")
    assert seen == "\n".join([hashlib.sha256(value.encode()).hexdigest(), "400 0 0", "440 7 8", hashlib.sha256(other.encode()).hexdigest(), "ro", "none"]) + "\n"
    # nowhere on the daemon's disk (layers, configs, history, cache, records, logs), nor mounted
    for needle in (value, other):
        found = subprocess.run(["grep", "-rlF", needle, docker.data], capture_output=True, text=True, timeout=TIMEOUT)
        assert found.stdout == "", found.stdout
        assert needle not in docker.ok("history", "--no-trunc", "sec:1") + docker.ok("image", "inspect", "sec:1")
    assert not [m for m in open("/proc/self/mountinfo") if "/secrets-" in m]
    # a new value is not a new cache key (as BuildKit), and a required secret must come
    with open(secrets / "token", "w") as f:
        f.write("changed")
    again = run_captured([BERTH, "build", "-t", "sec:1", "--secret", f"id=token,src={secrets / 'token'}", str(ctx)], env=env, timeout=120)
    assert again.returncode == 0 and again.stdout.count("Using cache") == 2, again.stdout + again.stderr
    # as large as the request's headers carry (the daemon's parser takes 80 KiB of them), then a clear refusal
    with open(secrets / "big", "wb") as f:
        f.write(os.urandom(36 << 10))
    write(ctx, "Dockerfile.big", "FROM busybox\nRUN --mount=type=secret,id=big wc -c < /run/secrets/big\n")
    big = run_captured([BERTH, "build", "-f", "Dockerfile.big", "--secret", f"id=big,src={secrets / 'big'}", str(ctx)], env=env, timeout=120)
    assert big.returncode == 0 and "36864" in big.stdout, big.stdout + big.stderr
    with open(secrets / "big", "wb") as f:
        f.write(os.urandom(48 << 10))
    big = run_captured([BERTH, "build", "-f", "Dockerfile.big", "--secret", f"id=big,src={secrets / 'big'}", str(ctx)], env=env, timeout=120)
    assert big.returncode != 0 and "secrets too large" in big.stderr

    # SSH: a real agent holding one key, reached from the step through berthd's relay
    tools = tmp_path_factory.mktemp("ssh")
    compile_static(AGENT_CHECK, str(ctx / "agentcheck"))
    agent_sock = str(tools / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", agent_sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(agent_sock):
                break
            time.sleep(0.05)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tools / "key")], check=True, timeout=TIMEOUT)
        subprocess.run(["ssh-add", "-q", str(tools / "key")], check=True, capture_output=True, timeout=TIMEOUT, env=dict(os.environ, SSH_AUTH_SOCK=agent_sock))
        write(ctx, "Dockerfile", """FROM busybox
RUN --mount=type=bind,source=agentcheck,target=/agentcheck --mount=type=ssh,mode=0660 sh -c \
    '/agentcheck > /ssh && stat -c "%a %n" "$SSH_AUTH_SOCK" >> /ssh'
RUN --mount=type=ssh,id=deploy,required true
""")
        r = run_captured([BERTH, "build", "-t", "sec:2", "--ssh", "default", "--ssh", "deploy=" + agent_sock, str(ctx)],
                         env=dict(docker.env(), SSH_AUTH_SOCK=agent_sock), timeout=120)
        tags.append("sec:2")
        assert r.returncode == 0, r.stdout + r.stderr
        assert docker.ok("run", "--rm", "sec:2", "cat", "/ssh") == "1 keys\n660 /run/buildkit/ssh_agent.0\n"
        missing = run_captured([BERTH, "build", "--no-cache", "--ssh", "default", str(ctx)], env=dict(docker.env(), SSH_AUTH_SOCK=agent_sock), timeout=120)
        assert missing.returncode != 0 and 'no SSH key "deploy"' in missing.stdout + missing.stderr
    finally:
        agent.kill()
        agent.wait(timeout=TIMEOUT)


def test_berth_build_on_a_terminal_shows_steps_in_place(daemon, ctx):
    """`berth build` on a terminal: BuildKit's view (a line per step with its time, CACHED steps,
    the running step's output under it), and a failed step's output in full with the error."""
    from test_cli_detach import Terminal
    client = types.SimpleNamespace(binary=BERTH, env=daemon.env)
    write(ctx, "Dockerfile", "FROM busybox\nRUN echo first-step-output\nRUN sleep 1 && echo second\n")
    tag = "tty" + uuid.uuid4().hex[:8] + ":t"
    screen = Terminal(client, ["build", "-t", tag, str(ctx)])
    try:
        assert screen.exited(timeout=120) == 0
        seen = screen.read_until(b"FINISHED").decode()
        assert "=> [2/3] RUN echo first-step-output" in seen and "=> # first-step-output" in seen
        assert re.search(r"\[\+\] Building \d+\.\ds \(3/3\) FINISHED", seen) and "=> naming to " + tag in seen
        again = Terminal(client, ["build", "-t", tag, str(ctx)])
        assert again.exited(timeout=120) == 0
        assert "=> CACHED [3/3] RUN sleep 1 && echo second" in again.read_until(b"FINISHED").decode()
        write(ctx, "Dockerfile", "FROM busybox\nRUN for i in 1 2 3 4 5 6 7 8 9; do echo out-$i; done; exit 3\n")
        failed = Terminal(client, ["build", str(ctx)])
        assert failed.exited(timeout=120) == 3
        text = failed.read_until(b"returned a non-zero code: 3").decode()
        assert "ERROR [2/2] RUN for i in" in text and "FAILED" in text
        assert "------\r\n > [2/2] RUN for i in" in text and all(f"out-{i}\r\n" in text for i in range(1, 10))
        plain = run_captured([BERTH, "build", "--progress", "plain", str(ctx)], env=daemon.env(), timeout=120)
        assert "Step 2/2 : RUN" in plain.stdout and "[+] Building" not in plain.stdout
    finally:
        daemon.docker("rmi", "-f", tag)


def test_from_scratch_takes_copies_and_is_copied_from(builder, ctx):
    """`FROM scratch` then COPY/WORKDIR (a static program's image, the commonest multi-stage
    ending), and `COPY --from` such a stage."""
    docker, tags = builder
    shutil.copy("/bin/busybox", ctx / "busybox")
    write(ctx, "Dockerfile", """FROM scratch AS tools
COPY busybox /bin/busybox
WORKDIR /data
RUN ["/bin/busybox", "sh", "-c", "echo made > /data/made"]
FROM busybox
COPY --from=tools /data/made /made
""")
    tag, _ = build(docker, tags, ctx, "--target", "tools")
    assert docker.ok("run", "--rm", tag, "/bin/busybox", "cat", "/data/made") == "made\n"
    assert docker.ok("image", "inspect", "--format", "{{len .RootFS.Layers}} {{.Config.WorkingDir}}", tag) == "3 /data\n"
    final, _ = build(docker, tags, ctx)
    assert docker.ok("run", "--rm", final, "cat", "/made") == "made\n"


def test_platform_args_as_buildkit_defines_them(builder, ctx):
    """BuildKit's automatic platform ARGs: global (FROM lines see them), in a stage only when
    declared; `--platform` of this machine is taken, another refused by name (no emulator)."""
    docker, tags = builder
    here = "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    write(ctx, "Dockerfile", """FROM --platform=$BUILDPLATFORM busybox
ARG TARGETPLATFORM
ARG TARGETOS
ARG TARGETARCH
RUN echo "$TARGETPLATFORM $TARGETOS/$TARGETARCH [$BUILDPLATFORM]" > /p
""")
    tag, r = build(docker, tags, ctx, "--platform", here)
    assert "were not consumed" not in r.stdout
    assert docker.ok("run", "--rm", tag, "cat", "/p") == f"{here} {here} []\n"
    other = "linux/s390x" if here != "linux/s390x" else "linux/amd64"
    _, refused = build(docker, tags, ctx, "--no-cache", "--platform", other, check=False)
    assert refused.returncode != 0 and f"platform {other} is not supported" in refused.stdout + refused.stderr


def test_only_the_stages_the_target_needs_are_built(builder, ctx):
    """As BuildKit: stages the target does not reach through FROM, COPY --from or
    RUN --mount=from are not built (a broken unused stage no longer fails the build)."""
    docker, tags = builder
    write(ctx, "Dockerfile", """FROM busybox AS broken
RUN exit 1
FROM busybox AS base
RUN echo base > /base
FROM base AS middle
RUN echo middle > /middle
FROM busybox AS unused
RUN exit 1
FROM busybox
COPY --from=middle /base /middle /got/
RUN --mount=type=bind,from=1,source=/base,target=/b cat /b > /again
""")
    tag, r = build(docker, tags, ctx)
    assert "Step 1/7 : FROM busybox AS base" in r.stdout and "exit 1" not in r.stdout
    assert docker.ok("run", "--rm", tag, "cat", "/got/base", "/got/middle", "/again") == "base\nmiddle\nbase\n"
    tag, r = build(docker, tags, ctx, "--target", "middle")
    assert "Step 4/4 : RUN echo middle > /middle" in r.stdout and "exit 1" not in r.stdout
    _, r = build(docker, tags, ctx, "--target", "nope", check=False)
    assert r.returncode != 0 and "failed to reach build target nope in Dockerfile (its stages: broken, base, middle, unused)" in r.stderr


def test_independent_stages_build_at_once(builder, ctx):
    """Stages that do not depend on each other run at the same time, as BuildKit runs them: each
    of two stages waits (through a shared cache mount) for the other to have started, which
    only finishes if both run at once. A failing stage fails the build with its own error."""
    docker, tags = builder
    cache_id = "meet-" + uuid.uuid4().hex[:8]
    meet = ("RUN --mount=type=cache,id=CACHE,target=/c sh -c 'touch /c/ME; i=0; while [ ! -e /c/OTHER ]; do "
            "i=$((i+1)); [ $i -gt 600 ] && exit 7; sleep 0.05; done; echo ME-saw-OTHER > /ME'").replace("CACHE", cache_id)
    write(ctx, "Dockerfile", f"""FROM busybox AS a
{meet.replace("ME", "a").replace("OTHER", "b")}
FROM busybox AS b
{meet.replace("ME", "b").replace("OTHER", "a")}
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
""")
    tag, r = build(docker, tags, ctx)
    assert docker.ok("run", "--rm", tag, "cat", "/a", "/b") == "a-saw-b\nb-saw-a\n"
    assert "Step 7/7 : COPY --from=b /b /b" in r.stdout
    docker.docker("builder", "prune", "-af")
    write(ctx, "Dockerfile", """FROM busybox AS a
RUN exit 5
FROM busybox AS b
RUN sleep 1
RUN echo never
FROM busybox
COPY --from=a / /a
COPY --from=b / /b
""")
    _, failed = build(docker, tags, ctx, "--no-cache", check=False)
    assert failed.returncode == 5 and "returned a non-zero code: 5" in failed.stderr
    assert docker.ok("ps", "-aq", "--filter", "label=com.berth.build") == ""


def test_add_host_cache_from_and_iidfile(builder, ctx, tmp_path_factory):
    docker, tags = builder
    iid = str(tmp_path_factory.mktemp("iid") / "id")
    write(ctx, "Dockerfile", "FROM busybox\nRUN grep -q '10.1.2.3.*buildhost' /etc/hosts && echo ok > /ok\n")
    tag, _ = build(docker, tags, ctx, "--add-host", "buildhost:10.1.2.3", "--iidfile", iid)
    assert open(iid).read() == docker.ok("image", "inspect", "--format", "{{.Id}}", tag).strip()
    # --cache-from an image that is not an ancestor: the step is not taken from the cache
    tag2, again = build(docker, tags, ctx, "--add-host", "buildhost:10.1.2.3", "--cache-from", "busybox")
    assert "Using cache" not in again.stdout
    _, cached = build(docker, tags, ctx, "--add-host", "buildhost:10.1.2.3", "--cache-from", tag2)
    assert "Using cache" in cached.stdout


def test_step_limits_reach_every_run_step(builder, ctx):
    """`build --memory --memory-swap --cpu-shares --cpu-quota --cpuset-cpus --shm-size --ulimit
    --cgroup-parent --compress`: each RUN step's container gets them, as moby's classic builder
    gives them (dockerd 20.10 shows the same values for the same Dockerfile)."""
    docker, tags = builder
    parent = "berth-build-limits-" + uuid.uuid4().hex[:6]
    write(ctx, "Dockerfile", """FROM busybox
RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares \
        /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpuset/cpuset.cpus > /limits \
    && grep ' /sys/fs/cgroup/memory ' /proc/self/mountinfo | cut -d' ' -f4 >> /limits \
    && df -k /dev/shm | tail -1 | awk '{print $2}' >> /limits && ulimit -n >> /limits
""")
    try:
        tag, _ = build(docker, tags, ctx, "--no-cache", "--memory", "64m", "--memory-swap", "128m", "--cpu-shares", "512",
                       "--cpu-quota", "50000", "--cpuset-cpus", "0", "--shm-size", "8m", "--ulimit", "nofile=300:400",
                       "--cgroup-parent", parent, "--compress", "--disable-content-trust", "--isolation", "default")
        lines = docker.ok("run", "--rm", tag, "cat", "/limits").split()
        assert lines[:4] == [str(64 << 20), "512", "50000", "0"], lines
        assert lines[4].startswith("/" + parent + "/"), lines  # the step's cgroup under --cgroup-parent
        assert lines[5:] == ["8192", "300"], lines
        # a refused value fails the build with the create's words
        _, small = build(docker, tags, ctx, "--no-cache", "--memory", "1m", check=False)
        assert small.returncode != 0 and "Minimum memory limit allowed is 6MB" in small.stdout + small.stderr
        _, squash = build(docker, tags, ctx, "--squash", check=False)
        assert squash.returncode != 0 and "experimental" in squash.stderr
    finally:
        for sub in ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "systemd"):
            path = f"/sys/fs/cgroup/{sub}/{parent}"
            if os.path.isdir(path):
                for root, dirs, _ in os.walk(path, topdown=False):
                    for d in dirs:
                        os.rmdir(os.path.join(root, d))
                os.rmdir(path)


def test_cache_hits_then_misses_after_a_change(builder, ctx):
    docker, tags = builder
    token = uuid.uuid4().hex  # the cache is the daemon's: steps unique to this test
    write(ctx, "Dockerfile", f"FROM busybox\nRUN echo {token} > /one\nCOPY f /f\nRUN cat /f > /g\n")
    write(ctx, "f", "v1\n")
    tag, first = build(docker, tags, ctx)
    assert "Using cache" not in first.stdout
    tag2, second = build(docker, tags, ctx)
    assert second.stdout.count("Using cache") == 3
    assert docker.ok("image", "inspect", "-f", "{{.Id}}", tag) == docker.ok("image", "inspect", "-f", "{{.Id}}", tag2)
    # The key is the files' content, not their times: a touched file with the same bytes stays cached.
    os.utime(os.path.join(ctx, "f"), (time.time() + 3600, time.time() + 3600))
    _, touched = build(docker, tags, ctx)
    assert touched.stdout.count("Using cache") == 3, touched.stdout
    write(ctx, "f", "v2\n")
    tag3, third = build(docker, tags, ctx)
    assert third.stdout.count("Using cache") == 1  # RUN echo one; COPY and what follows rerun
    assert docker.ok("run", "--rm", tag3, "cat", "/g") == "v2\n"
    _, nocache = build(docker, tags, ctx, "--no-cache")
    assert "Using cache" not in nocache.stdout


def test_dockerignore_and_multistage(builder, ctx):
    docker, tags = builder
    write(ctx, "Dockerfile", """FROM busybox AS build
COPY . /src
RUN ls /src | sort > /listing && echo built > /artifact
FROM busybox
COPY --from=build /artifact /listing /out/
""")
    write(ctx, ".dockerignore", "*.log\nsecret/\n")
    write(ctx, "keep.txt", "k")
    write(ctx, "noise.log", "n")
    write(ctx, "secret/key", "s")
    tag, _ = build(docker, tags, ctx)
    assert docker.ok("run", "--rm", tag, "cat", "/out/artifact") == "built\n"
    listing = docker.ok("run", "--rm", tag, "cat", "/out/listing").split()
    assert "keep.txt" in listing and "noise.log" not in listing and "secret" not in listing
    target, _ = build(docker, tags, ctx, "--target", "build")
    assert docker.ok("run", "--rm", target, "cat", "/artifact") == "built\n"


def test_failures_report_exit_codes_and_lines(builder, ctx):
    docker, tags = builder
    write(ctx, "Dockerfile", "FROM busybox\nRUN exit 3\n")
    _, r = build(docker, tags, ctx, check=False)
    assert r.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in r.stderr
    write(ctx, "Dockerfile", "FROM busybox\nRUNX true\n")
    _, r = build(docker, tags, ctx, check=False)
    assert r.returncode != 0 and "Dockerfile:2" in r.stderr and "unknown instruction: RUNX" in r.stderr
    write(ctx, "Dockerfile", "FROM busybox\nRUN --security=insecure true\n")
    _, r = build(docker, tags, ctx, check=False)
    assert r.returncode != 0 and "Dockerfile:2: RUN --security is not supported" in r.stderr
    write(ctx, "Dockerfile", "FROM busybox\nCOPY missing.txt /\n")
    _, r = build(docker, tags, ctx, check=False)
    assert r.returncode != 0 and "missing.txt" in r.stderr
    # no step container is left behind
    assert docker.ok("ps", "-aq", "--filter", "label=com.berth.build") == ""


def test_add_unpacks_local_tars_and_stdin_dockerfile(builder, ctx, tmp_path_factory):
    docker, tags = builder
    src = tmp_path_factory.mktemp("tarsrc")
    write(src, "inner/x.txt", "x\n")
    import subprocess
    subprocess.run(["tar", "-C", str(src), "-czf", os.path.join(ctx, "bundle.tar.gz"), "inner"], check=True, timeout=30)
    write(ctx, "Dockerfile", "FROM busybox\nADD bundle.tar.gz /opt/\n")
    tag, _ = build(docker, tags, ctx)
    assert docker.ok("run", "--rm", tag, "cat", "/opt/inner/x.txt") == "x\n"
    tag2 = "b" + uuid.uuid4().hex[:8]
    tags.append(tag2)
    r = docker.docker("build", "-t", tag2, "-", input="FROM busybox\nCMD [\"echo\", \"from stdin\"]\n", timeout=60)
    assert r.returncode == 0, r.stderr
    assert docker.ok("run", "--rm", tag2) == "from stdin\n"


def test_rmi_takes_the_build_steps_along(builder, ctx):
    docker, tags = builder
    write(ctx, "Dockerfile", f"FROM busybox\nRUN echo {uuid.uuid4().hex} > /x\nENV A=1\n")
    before = set(docker.ok("images", "-aq", "--no-trunc").split())
    tag, _ = build(docker, tags, ctx)
    assert len(set(docker.ok("images", "-aq", "--no-trunc").split()) - before) == 2
    out = docker.ok("rmi", tag)
    assert set(docker.ok("images", "-aq", "--no-trunc").split()) == before
    assert out.count("Deleted:") >= 2  # the ENV and RUN steps' images (and the RUN layer); busybox stays
    assert docker.ok("image", "inspect", "-f", "{{.Id}}", "busybox")


def test_add_fetches_urls_from_loopback(builder, ctx, tmp_path_factory):
    import http.server
    import threading
    docker, tags = builder
    served = tmp_path_factory.mktemp("served")
    write(served, "remote.txt", "from the web\n")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        write(ctx, "Dockerfile", f"FROM busybox\nADD http://127.0.0.1:{port}/remote.txt /srv/\n")
        tag, _ = build(docker, tags, ctx)
        assert docker.ok("run", "--rm", tag, "cat", "/srv/remote.txt") == "from the web\n"
        assert docker.ok("run", "--rm", tag, "stat", "-c", "%a", "/srv/remote.txt").strip() == "600"
        write(ctx, "Dockerfile", f"FROM busybox\nADD http://127.0.0.1:{port}/missing.txt /srv/\n")
        _, r = build(docker, tags, ctx, check=False)
        assert r.returncode != 0 and "ADD failed" in r.stderr and "404" in r.stderr
        # --checksum pins the download (BuildKit's flag, for HTTP(S) sources only).
        good = "sha256:" + hashlib.sha256(b"from the web\n").hexdigest()
        write(ctx, "Dockerfile", f"FROM busybox\nADD --checksum={good} http://127.0.0.1:{port}/remote.txt /srv/\n")
        tag, _ = build(docker, tags, ctx)
        assert docker.ok("run", "--rm", tag, "cat", "/srv/remote.txt") == "from the web\n"
        bad = "sha256:" + "0" * 64
        write(ctx, "Dockerfile", f"FROM busybox\nADD --checksum={bad} http://127.0.0.1:{port}/remote.txt /srv/\n")
        _, r = build(docker, tags, ctx, "--no-cache", check=False)
        assert r.returncode != 0 and f"digest mismatch {good}: {bad}" in r.stderr, r.stderr
        write(ctx, "Dockerfile", f"FROM busybox\nADD --checksum={good} Dockerfile /srv/\n")
        _, r = build(docker, tags, ctx, check=False)
        assert r.returncode != 0 and "checksum can't be specified for non-HTTP(S) sources" in r.stderr, r.stderr
    finally:
        server.shutdown()


def test_copy_link_and_exclude(builder, ctx):
    docker, tags = builder
    write(ctx, "app/main.sh", "echo main\n")
    write(ctx, "app/notes.md", "notes\n")
    write(ctx, "app/docs/guide.md", "guide\n")
    write(ctx, "app/docs/keep.txt", "keep\n")
    write(ctx, "top.md", "top\n")
    write(ctx, "top.txt", "top\n")
    write(ctx, "Dockerfile", """FROM busybox
COPY --link --exclude=*.md --exclude=docs/guide.md app/ /app/
COPY --exclude=*.md top.* /top/
""")
    tag, _ = build(docker, tags, ctx)
    listing = docker.ok("run", "--rm", tag, "sh", "-c", "cd / && find app top -type f | sort").split()
    assert listing == ["app/docs/keep.txt", "app/main.sh", "top/top.txt"]


def test_copy_parents_and_run_network(builder, ctx):
    """`COPY --parents` keeps each match's path under the destination (from a `/./` on, BuildKit's
    pivot); `RUN --network=none` cuts one step off the network, and `host` needs the build on the
    host's network, as BuildKit needs network.host allowed."""
    docker, tags = builder
    for name in ("svc/a/package.json", "svc/b/package.json", "svc/b/src/x.txt", "lib/deep/one.txt"):
        write(ctx, name, name + "\n")
    write(ctx, "Dockerfile", """FROM busybox
COPY --parents svc/a/package.json svc/b/package.json /app/
COPY --parents ./lib/./deep/one.txt svc/b/src /pivot/
RUN --network=none sh -c 'ip -o link | grep -v " lo:" | wc -l > /links'
""")
    tag, _ = build(docker, tags, ctx)
    listing = docker.ok("run", "--rm", tag, "sh", "-c", "cd / && find app pivot -type f | sort; cat /links").split()
    assert listing == ["app/svc/a/package.json", "app/svc/b/package.json", "pivot/deep/one.txt", "pivot/svc/b/src/x.txt", "0"]
    write(ctx, "Dockerfile", "FROM busybox\nRUN --network=host true\n")
    _, refused = build(docker, tags, ctx, check=False)
    assert refused.returncode != 0 and "RUN --network=host needs the build on the host's network" in refused.stdout + refused.stderr
    build(docker, tags, ctx, "--network", "host")


def test_cache_survives_a_daemon_restart(daemon, ctx):
    token = uuid.uuid4().hex
    write(ctx, "Dockerfile", f"FROM busybox\nRUN echo {token} > /t\n")
    tag = "b" + token[:8]
    daemon.ok("build", "-t", tag, str(ctx), timeout=120)
    daemon.kill9()
    daemon.start()
    out = daemon.docker("build", "-t", tag, str(ctx), timeout=120)
    assert out.returncode == 0 and "Using cache" in out.stdout, out.stdout + out.stderr
    daemon.ok("rmi", tag)


def test_copy_cannot_follow_context_symlinks_to_the_host(builder, ctx):
    docker, tags = builder
    os.symlink("/etc", os.path.join(ctx, "escape"))
    write(ctx, "Dockerfile", "FROM busybox\nCOPY escape/hostname /stolen\n")
    _, r = build(docker, tags, ctx, check=False)
    assert r.returncode != 0 and "escape/hostname" in r.stderr  # resolved inside the context: not there
    # a symlink inside the context is followed inside it, as Docker resolves sources
    write(ctx, "real.txt", "inside\n")
    os.symlink("real.txt", os.path.join(ctx, "alias.txt"))
    write(ctx, "Dockerfile", "FROM busybox\nCOPY alias.txt /dir/\n")
    tag, _ = build(docker, tags, ctx)
    assert docker.ok("run", "--rm", tag, "cat", "/dir/alias.txt") == "inside\n"


def test_no_cache_filter_rebuilds_only_the_stages_named(daemon, ctx):
    """berth build --no-cache-filter (buildx's flag; berthd takes it as `nocachefilter`): the named
    stage's steps run again, the others come from the cache."""
    write(ctx, "Dockerfile", """FROM busybox AS deps
RUN echo deps > /deps
FROM busybox AS app
COPY --from=deps /deps /deps
RUN echo app > /app
""")
    tags = []
    before, daemon.binary = daemon.binary, BERTH
    try:
        build(daemon, tags, ctx, "--progress=plain")
        _, again = build(daemon, tags, ctx, "--progress=plain", "--no-cache-filter", "app")
        steps = again.stdout.split("Step ")
        deps_run = next(s for s in steps if s.startswith("2/5"))
        app_run = next(s for s in steps if s.startswith("5/5"))
        assert "Using cache" in deps_run and "Using cache" not in app_run, again.stdout
    finally:
        for t in tags:
            daemon.docker("rmi", "-f", t)
        daemon.binary = before


def test_a_cache_mount_from_a_stage_starts_as_its_copy(builder, ctx):
    """RUN --mount=type=cache,from=STAGE,source=PATH (BuildKit's): a new cache is seeded from the
    stage's directory; once it holds something, later builds keep what the steps left."""
    docker, tags = builder
    cache_id = "seeded-" + uuid.uuid4().hex[:8]
    write(ctx, "Dockerfile", """FROM busybox AS seed
RUN mkdir -p /seed/sub && echo seeded > /seed/sub/file
FROM busybox
RUN --mount=type=cache,id=CACHE_ID,target=/c,from=seed,source=/seed,uid=1000,mode=0750 sh -c 'cat /c/sub/file > /got; echo more >> /c/sub/file; stat -c "%u %a" /c >> /got'
""".replace("CACHE_ID", cache_id))
    try:
        tag, _ = build(docker, tags, ctx)
        assert docker.ok("run", "--rm", tag, "cat", "/got") == "seeded\n1000 750\n"
        tag2, _ = build(docker, tags, ctx, "--no-cache")
        assert docker.ok("run", "--rm", tag2, "cat", "/got") == "seeded\nmore\n1000 750\n"
    finally:
        docker.docker("builder", "prune", "-af")


def test_add_keep_git_dir_is_refused_by_name(builder, ctx):
    docker, tags = builder
    write(ctx, "Dockerfile", "FROM busybox\nADD --keep-git-dir=true https://example.invalid/repo.git /src\n")
    _, r = build(docker, tags, ctx, check=False)
    assert r.returncode != 0 and "ADD --keep-git-dir: git sources are not supported" in r.stdout + r.stderr, r.stdout + r.stderr
