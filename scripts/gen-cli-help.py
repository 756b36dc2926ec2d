#!/usr/bin/env python3
"""Writes Sources/BerthCLI/HelpText.swift: for every command berth serves, the usage line,
description and flag descriptions as the official docker CLI words them (`docker CMD --help` on
this machine), so that `berth CMD --help` reads like docker's. Which flags a command lists is not
decided here: help prints the flags its parser accepts, looked up in this table.

Run after adding a command or a flag: scripts/gen-cli-help.py (needs the docker CLI)."""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLI = os.path.join(ROOT, "Sources", "BerthCLI", "CLI.swift")
OUT = os.path.join(ROOT, "Sources", "BerthCLI", "HelpText.swift")

# Berth's own commands and flags, and docker's hidden or deprecated flags that Berth accepts.
EXTRA_COMMANDS = {
    "system check": ("berth system check [OPTIONS]", "Verify the daemon's store: every blob re-hashed, snapshots, references, container layers, shims, mounts and cgroups",
                     {"format": ("string", "Format output using a custom template: 'json': Print in JSON format")}),
}
# Where docker's words name docker itself, they name Berth; "Docker Hub" and "Dockerfile" stay.
RENAMES = [("Manage Docker", "Manage Berth"), ("script for docker", "script for berth"), ("Docker version", "Berth version"), ("docker disk usage", "Berth disk usage")]
# Flags Berth adds to docker's commands (buildx's words where buildx has the flag).
BUILD_FLAGS = {"secret": ("stringArray", 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")'),
               "ssh": ("stringArray", 'SSH agent socket to expose to the build (format: "default|<id>[=<socket>]")'),
               "progress": ("string", 'Set type of progress output ("auto", "plain", "tty"). Use plain to show container output (default "auto")'),
               "no-cache-filter": ("stringArray", "Do not cache specified stages")}
EXTRA_FLAGS = {"build": BUILD_FLAGS, "builder build": BUILD_FLAGS, "image build": BUILD_FLAGS}
DEPRECATED_FLAGS = {"name": ("string", "Specify volume name (deprecated: give it as an argument)"),
                    "net": ("string", "Alias of --network (deprecated)"), "net-alias": ("list", "Alias of --network-alias (deprecated)"),
                    "time": ("int", "Alias of --timeout (deprecated)")}


def command_paths():
    text = open(CLI).read()
    top = text[text.index("static let commands"):text.index("static let groups")]
    groups = text[text.index("static let groups: "):text.index("/// Runs argv")]
    paths = re.findall(r'"([a-z-]+)": \{', top)
    members = re.search(r'containerCommands: Set = \[(.*?)\]', text, re.S).group(1)
    container = re.findall(r'"([a-z]+)"', members)
    for start in re.finditer(r'^        "([a-z]+)": (commands\.filter \{ containerCommands\.contains\(\$0\.key\) \}\.merging\()?\[', groups, re.M):
        group, depth, i = start.group(1), 1, start.end()
        while depth:  # the group's dictionary literal ends at its matching bracket
            depth += {"[": 1, "]": -1}.get(groups[i], 0)
            i += 1
        subs = re.findall(r'"([a-z-]+)": \{', groups[start.end():i]) + (container if start.group(2) else [])
        paths += [f"{group} {sub}" for sub in subs]
    return sorted(set(paths)), sorted(set(re.findall(r'^        "([a-z]+)": ', groups, re.M)))


OPTION = re.compile(r"^  (?:-(\w), )?\s*--([\w-]+)(?: (\w+))?\s{2,}(.*)$")


def docker_help(path):
    r = subprocess.run(["docker", *path.split(), "--help"], capture_output=True, text=True, env=dict(os.environ, COLUMNS="400"))
    return r.stdout


def parse(text):
    lines = text.splitlines()
    usage = next((l.split("Usage:", 1)[1].strip() for l in lines if l.startswith("Usage:")), "")
    # the description: the first non-empty line after the usage
    i = next((n for n, l in enumerate(lines) if l.startswith("Usage:")), 0) + 1
    while i < len(lines) and (not lines[i].strip() or lines[i][0].isspace()):  # more usage lines (cp has two)
        i += 1
    description = lines[i].strip() if i < len(lines) else ""
    flags = {}
    current = None
    column = 0
    in_options = False
    for line in lines:
        if line.startswith("Options:"):
            in_options = True
            continue
        if not in_options:
            continue
        m = OPTION.match(line)
        if m:
            short, long, kind, desc = m.groups()
            current = long
            column = line.index(desc)
            flags[long] = [kind or "", desc.strip()]
        elif current and line.strip() and len(line) - len(line.lstrip()) >= column - 1:
            flags[current][1] += " " + line.strip()
        elif not line.strip():
            current = None
    return usage, description, flags


def renamed(text):
    for old, new in RENAMES:
        text = text.replace(old, new)
    return text


def swift(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    paths, groups = command_paths()
    out = ["// Generated by scripts/gen-cli-help.py from the docker CLI's own help; edit that script, not this file.",
           "",
           "extension Help {",
           "    /// Usage line (docker's, with berth for docker), one-line description, and flag descriptions by long name.",
           "    static let text: [String: Entry] = ["]
    for path in paths + groups:
        if path in EXTRA_COMMANDS:
            usage, description, flags = EXTRA_COMMANDS[path]
        else:
            usage, description, flags = parse(docker_help(path))
            if not usage:
                sys.exit(f"docker {path} --help printed no usage")
            usage = usage.replace("docker", "berth", 1)
        flags = {**flags, **EXTRA_FLAGS.get(path, {})}
        body = ", ".join(f"{swift(k)}: ({swift(v[0])}, {swift(v[1])})" for k, v in sorted(flags.items()))
        out.append(f"        {swift(path)}: Entry(usage: {swift(usage)}, description: {swift(renamed(description))},")
        out.append(f"                   flags: [{body or ':'}]),")
    out += ["    ]", "",
            "    /// Flags docker hides (deprecated spellings) that berth still accepts, under any command.",
            "    static let deprecated: [String: (String, String)] = ["]
    out += [f"        {swift(k)}: ({swift(v[0])}, {swift(v[1])})," for k, v in sorted(DEPRECATED_FLAGS.items())]
    out += ["    ]", "}", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(out))
    print(f"wrote {OUT}: {len(paths)} commands, {len(groups)} groups")


if __name__ == "__main__":
    main()
