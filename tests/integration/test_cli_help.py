"""Help on every command, as a user finds it: the test walks berth's command tree from
`berth --help` and each management command's help; every command answers `--help` with exit 0,
a usage line, a description and a description for every flag; every flag it lists is one the
parser accepts. Beside docker's own help, the flags docker has and berth lacks are counted into
tests/results/cli-flags.json. No daemon is needed (or started) for any of it."""
import json
import os
import re
import subprocess

from conftest import BERTH, BERTHD, DOCKER, REPO, TIMEOUT

FLAG = re.compile(r"^  (?:-(\w), )?\s*--([\w-]+)(?: (\w+))?(?:\s{2,}(.*))?$")


def berth(*args):
    env = dict(os.environ, BERTH_HOST="unix:///nonexistent/berth.sock")
    return subprocess.run([BERTH, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env)


def section(text, title):
    """The lines of a help section ("Commands:", "Options:" …) up to the next blank line."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line == title:
            for follow in lines[i + 1:]:
                if not follow.strip():
                    break
                out.append(follow)
    return out


def listed_flags(text):
    """(long name, takes a value, description) of each option a help text lists."""
    flags = []
    for line in section(text, "Options:"):
        m = FLAG.match(line)
        if m:
            flags.append((m.group(2), m.group(3) is not None, m.group(4) or ""))
        elif flags and line.startswith(" " * 10):
            name, value, words = flags[-1]
            flags[-1] = (name, value, (words + " " + line.strip()).strip())
    return flags


def command_tree():
    top = berth("--help")
    assert top.returncode == 0 and "Usage:" in top.stdout, top.stderr
    paths = []
    for title in ("Common Commands:", "Commands:"):
        paths += [line.split()[0] for line in section(top.stdout, title) if line.startswith("  ") and not line.startswith("   ")]
    for group in [line.split()[0] for line in section(top.stdout, "Management Commands:") if line.startswith("  ") and not line.startswith("   ")]:
        sub = berth(group, "--help")
        assert sub.returncode == 0, (group, sub.stderr)
        paths += [f"{group} {line.split()[0]}" for line in section(sub.stdout, "Commands:") if line.startswith("  ") and not line.startswith("   ")]
    return sorted(set(paths))


def test_every_command_answers_help_and_lists_only_flags_it_accepts():
    paths = command_tree()
    assert len(paths) > 80 and "run" in paths and "network create" in paths and "system check" in paths
    problems, missing_vs_docker, flag_count = [], {}, 0
    for path in paths:
        r = berth(*path.split(), "--help")
        if r.returncode != 0 or not r.stdout.startswith("Usage:  berth "):
            problems.append(f"{path}: rc={r.returncode} {r.stdout[:80]!r} {r.stderr[:200]!r}")
            continue
        description = r.stdout.split("\n\n")[1].strip() if "\n\n" in r.stdout else ""
        if not description:
            problems.append(f"{path}: no description")
        flags = listed_flags(r.stdout)
        flag_count += len(flags)
        for name, takes_value, words in flags:
            if not words:
                problems.append(f"{path} --{name}: no description")
            probe = berth(*path.split(), f"--{name}=x" if takes_value else f"--{name}", "--help")
            if probe.returncode != 0 or "Usage:" not in probe.stdout:
                problems.append(f"{path} --{name}: listed but refused: {probe.stderr.strip()[:120]}")
        if DOCKER:
            theirs = subprocess.run([DOCKER, *path.split(), "--help"], capture_output=True, text=True, timeout=TIMEOUT).stdout
            if theirs.startswith("Usage:  docker " + path.split()[0]):
                lacking = sorted({n for n, _, _ in listed_flags(theirs)} - {n for n, _, _ in flags})
                if lacking:
                    missing_vs_docker[path] = lacking
    assert not problems, "\n".join(problems)
    # the same through `berth help CMD`
    assert berth("help", "network", "create").stdout == berth("network", "create", "--help").stdout
    os.makedirs(os.path.join(REPO, "tests", "results"), exist_ok=True)
    with open(os.path.join(REPO, "tests", "results", "cli-flags.json"), "w") as f:
        json.dump({"commands": len(paths), "flags": flag_count, "docker_flags_berth_lacks": missing_vs_docker}, f, indent=1, sort_keys=True)


def test_berthd_help_lists_every_flag_it_accepts(tmp_path):
    r = subprocess.run([BERTHD, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and "daemon.json" not in r.stderr
    flags = listed_flags(r.stdout)
    names = {n for n, _, _ in flags}
    assert {"data-root", "exec-root", "host", "log-level", "debug", "config-file", "storage-driver", "userns-remap"} <= names
    for name, takes_value, words in flags:
        assert words, name
        if name in ("help", "version"):
            continue
        probe = subprocess.run([BERTHD, f"--{name}=x" if takes_value else f"--{name}", "--help"], capture_output=True, text=True, timeout=TIMEOUT)
        assert probe.returncode == 0 and "Usage:" in probe.stdout, (name, probe.stderr)
    assert "--config-file" in r.stdout and "configuration file" in r.stdout


def test_every_program_answers_version():
    for program in (BERTH, BERTHD, os.path.join(os.path.dirname(BERTHD), "berth-shim"), os.path.join(os.path.dirname(BERTHD), "berth-runtime")):
        r = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=TIMEOUT,
                           env=dict(os.environ, BERTH_HOST="unix:///nonexistent/berth.sock"))
        assert r.returncode == 0 and "version" in r.stdout, (program, r.stdout, r.stderr)
