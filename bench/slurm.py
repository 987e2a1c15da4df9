#!/usr/bin/env python3
"""Slurm placement numbers, printed (this never asserts anything). Needs the test cluster
(build/slurm-cluster.sh up) or any Slurm where this user may submit.

    .venv/bin/python bench/slurm.py [-n RUNS] [--fleet N] [--json]

* spec-to-ready: wall time of ``sac agents start NAME`` until it returns with the agent ready,
  local (a detached runner here) next to ``--on slurm`` (submit, schedule, the runner on a
  node, its TCP control endpoint), median of RUNS; the Slurm one split into queued (submit to
  the job running) and on the node (the runner's own start).
* turn from the login side: ``sac agents send`` to the agent, local (Unix socket) and placed
  (TCP to the node), median of RUNS.
* fleet status: ``sac agents status`` (and ``--json``) with N agents placed on Slurm, all
  ready: one squeue for the fleet plus each agent's files; median of RUNS. Also the fleet's
  submit-to-all-ready time.

Run it from a neutral directory (``python -m sac`` imports sac from the cwd).
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
from pathlib import Path

SAC = [sys.executable, "-m", "sac"]
SPEC = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: local
  claude: {provider: scripted}
  health: {interval: 60}
"""


def sac(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*SAC, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise SystemExit(f"sac {' '.join(args)} failed:\n{done.stderr}")
    return done


def timed(env: dict, *args: str) -> float:
    began = time.perf_counter()
    sac(env, *args)
    return time.perf_counter() - began


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--fleet", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sac-bench-slurm-"))
    env = {**os.environ, "SAC_HOME": str(home)}
    names = ["one", *(f"f{i:02d}" for i in range(args.fleet))]
    for name in names:
        (home / "agents" / name).mkdir(parents=True)
        (home / "agents" / name / "spec.yaml").write_text(SPEC)
    out: dict = {}
    try:
        for where in ("local", "slurm"):
            starts, queued, node, turns = [], [], [], []
            for _ in range(args.runs):
                began = time.perf_counter()
                row = json.loads(sac(env, "agents", "start", "one", "--on", where, "--json").stdout)[0]
                starts.append(time.perf_counter() - began)
                if where == "slurm":
                    st = json.loads((home / "runtime" / "one" / "state.json").read_text())
                    node.append(st["updated_at"] - st["started_at"])  # the runner's own start, on the node
                    queued.append(starts[-1] - node[-1])
                turns += [timed(env, "agents", "send", "one", "hi") for _ in range(3)]
                assert row["state"] == "ready", row
                sac(env, "agents", "stop", "one")
            out[where] = {"start_s": median(starts), "turn_s": median(turns)}
            if where == "slurm":
                out[where].update(queued_s=median(queued), runner_on_node_s=median(node))

        fleet = names[1:]
        began = time.perf_counter()
        sac(env, "agents", "start", *fleet, "--on", "slurm", "--json")
        out["fleet"] = {"agents": len(fleet), "start_all_s": time.perf_counter() - began}
        out["fleet"]["status_s"] = median([timed(env, "agents", "status") for _ in range(args.runs)])
        out["fleet"]["status_json_s"] = median([timed(env, "agents", "status", "--json") for _ in range(args.runs)])
        rows = json.loads(sac(env, "agents", "status", "--json").stdout)
        out["fleet"]["ready"] = sum(r["state"] == "ready" for r in rows)
        out["fleet"]["nodes"] = sorted({r["host"] for r in rows if r["host"]})
    finally:
        subprocess.run([*SAC, "agents", "stop", *names], env=env, capture_output=True, timeout=600)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    lo, sl = out["local"], out["slurm"]
    print(
        f"spec-to-ready   local {lo['start_s']:.2f} s   slurm {sl['start_s']:.2f} s "
        f"(queued {sl['queued_s']:.2f} s + runner on the node {sl['runner_on_node_s']:.2f} s)"
    )
    print(f"send (a turn)   local {lo['turn_s']:.3f} s   slurm {sl['turn_s']:.3f} s")
    f = out["fleet"]
    print(
        f"fleet of {f['agents']} on slurm: all ready in {f['start_all_s']:.1f} s ({f['ready']} ready on {', '.join(f['nodes'])}); "
        f"`sac agents status` {f['status_s']:.2f} s, --json {f['status_json_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
