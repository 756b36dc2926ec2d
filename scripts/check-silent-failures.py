#!/usr/bin/env python3
"""Lists every `try?` in the daemon's modules that discards the failure of an action (a removal,
an unmount, a write, a kill) without a comment on its line saying why the failure may go unheard.
Such a failure either goes to the daemon's log (`Logger.attempt`) or is repaired elsewhere, and
the comment says where. Reading something optional (`try? FileIO.read(...)`, a parse) is not an
action and is not listed. Exits 1 when it lists any."""
import pathlib
import re
import sys

DAEMON = ["BerthEngine", "BerthServer", "BerthCRI", "BerthNetwork", "BerthVolume", "BerthImage",
          "BerthRegistry", "BerthSnapshot", "BerthContent", "BerthStreams", "berthd"]
ACTION = re.compile(r"try\?\s*(await\s+)?[\w.()\[\]\" ]*?\b(removeTree|unmount|remove|removeLeaf|destroy|delete|write|writeAll|"
                    r"save|persist|kill|rename|applyRules|apply|serve|claim|mount|close|setOption|send|release)\s*\(")

root = pathlib.Path(__file__).resolve().parent.parent / "Sources"
found = []
for module in DAEMON:
    for path in sorted((root / module).rglob("*.swift")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            if ACTION.search(code) and "//" not in line:
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
for entry in found:
    print(entry)
if found:
    print(f"{len(found)} discarded failures without a reason: log them (Logger.attempt) or say why they may go unheard", file=sys.stderr)
sys.exit(1 if found else 0)
