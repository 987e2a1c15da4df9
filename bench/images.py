#!/usr/bin/env python3
"""Image numbers, printed (this never asserts anything).

    .venv/bin/python bench/images.py [--runtimes apptainer,docker] [-n RUNS] [--json]

* build: wall time of ``sac image build base`` (debootstrap from the host's apt mirror,
  then the image build, the check that it runs and its package list), once per runtime,
  in a fresh SAC_HOME; the size of the result.
* switch: median wall time of ``sac image switch VERSION`` (the whole command) between two
  versions, RUNS times each way; for Apptainer the second version is an import of the first.
* list: median wall time of ``sac image list``.
Needs root (debootstrap) and, for docker, a running daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runtimes", default="apptainer")
    p.add_argument("-n", "--runs", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="sac-bench-img-") as tmp:
        env = {**os.environ, "SAC_HOME": tmp}
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def sac(*a: str) -> tuple[float, subprocess.CompletedProcess]:
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "sac", "image", *a], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"sac image {' '.join(a)} failed: {done.stderr}")
            return time.perf_counter() - t, done

        for rt in args.runtimes.split(","):
            build_s, done = sac("build", "base", "--runtime", rt, "--json")
            first = json.loads(done.stdout)
            if rt == "apptainer":
                _, done = sac("build", "--runtime", rt, "--from", first["ref"], "--json")
                second = json.loads(done.stdout)["version"]
            else:  # a second tag of the same image id is enough to time a switch
                second = first["version"] + "-2"
                subprocess.run(["docker", "tag", f"sac-base:{first['version']}", f"sac-base:{second}"], check=True)
            flips = []
            for _ in range(args.runs):
                for version in (first["version"], second):
                    flips.append(sac("switch", "--runtime", rt, version)[0])
            listing = [sac("list", "--runtime", rt)[0] for _ in range(args.runs)]
            results[rt] = {
                "build_base_s": build_s,
                "size_mb": first["size"] / 2**20,
                "packages": len(first.get("packages", [])),
                "switch_s": statistics.median(flips),
                "list_s": statistics.median(listing),
            }
            if rt == "docker":
                subprocess.run(["docker", "rmi", f"sac-base:{second}"], capture_output=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'runtime':10} {'build base':>11} {'size':>9} {'packages':>9} {'switch':>9} {'list':>9}")
    for rt, r in results.items():
        print(
            f"{rt:10} {r['build_base_s']:10.1f}s {r['size_mb']:6.0f} MB {r['packages']:9d} "
            f"{r['switch_s'] * 1000:7.0f}ms {r['list_s'] * 1000:7.0f}ms"
        )


if __name__ == "__main__":
    main()
