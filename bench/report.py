#!/usr/bin/env python3
"""Merges one day's benchmark parts (runtime, engine, extract) into bench/results/<date>.json and
<date>.md: every figure beside its peers from the same run, with the machine it ran on."""
import datetime
import json
import os
import platform
import sys

here = os.path.dirname(os.path.abspath(__file__))
day = sys.argv[1] if len(sys.argv) > 1 else datetime.datetime.utcnow().strftime("%Y-%m-%d")
results = os.path.join(here, "results")
cores = os.cpu_count()
memory = next((int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
machine = f"{cores} cores, {memory} GiB, {platform.system()} {platform.release()}"
merged = {"date": day, "machine": machine}
sections = []
for part, title in (("runtime", "Runtime alone: berth-runtime vs crun vs runc"), ("engine", "Engine, images, networks and build"),
                    ("extract", "Layer extraction vs GNU tar"), ("cri", "Kubernetes CRI: berthd vs containerd 1.6"),
                    ("scale", "Scale: 1,000 containers, 200 running: berthd vs dockerd 20.10")):
    base = os.path.join(results, f"{part}-{day}")
    if os.path.exists(base + ".json"):
        merged[part] = json.load(open(base + ".json"))
    if os.path.exists(base + ".md"):
        sections.append(f"### {title}\n\n" + open(base + ".md").read())
json.dump(merged, open(os.path.join(results, f"{day}.json"), "w"), indent=1)
text = f"## Benchmarks, {day}\n\nOne run, one machine ({machine}); medians; ratios are berth against each peer.\n\n" + "\n".join(sections)
open(os.path.join(results, f"{day}.md"), "w").write(text)
print(text)
