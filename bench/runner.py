#!/usr/bin/env python3
"""An idle runner's memory, where it goes, and the commands that talk to it; printed (never
asserted).

    .venv/bin/python bench/runner.py [--tree DIR]... [-n RUNS] [--json]

For each tree (this checkout, then each ``--tree``: another checkout of sac, e.g.
``git worktree add /tmp/sac-main main``, whose sac, hookspecs and plugins are put first on
PYTHONPATH, the venv's third-party packages shared), median of RUNS:

* idle runner RSS: one local agent (``sac agents start``), ready and idle for a few seconds,
  without and with an A2A port (``spec.a2a.port: auto``); the runner process alone, the
  claude CLI (a separate process, not ours to cut) beside it, and the runner's CPU time
  (user + system) from its start until it was ready;
* where the runner's memory and import time go: a fresh interpreter imports what a runner
  imports, in the runner's order, one group at a time, and the RSS and wall time each group
  adds are printed (a module two groups share counts in the first);
* ``sac --help``, ``sac agents status`` and ``sac agents send`` (one turn), wall time.

The model is ``sac model serve`` in a process of its own (an agent with ``provider:
scripted`` runs that server in its runner, which no real agent does). The machine's load
moves every number: compare trees measured in the same run.
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

from agents import rss_kb, tree_rss_kb  # bench/agents.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
SPEC = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: local
  claude:
    provider: {{base_url: "{url}"}}
  health: {{interval: 60}}
"""
IDLE = 3.0  # seconds an agent idles after ready before it is measured

#: What a runner imports, in its order (sac.runner.entry, Runner, then the session's SDK, then
#: an A2A transport's server): (label, code run in the measuring interpreter).
GROUPS = [
    ("sac's entry point (sac.cli, sac.runner.entry)", "import sac.cli, sac.runner.entry"),
    ("spec, settings (sac.agent, sac.config: msgspec, yaml)", "import sac.agent, sac.config"),
    ("plugins (pluggy, entry points, each plugin)", "from sac.plugins import get_plugins; get_plugins()"),
    ("the runner (sac.runner.runner, asyncio)", "import sac.runner.runner"),
    ("claude_agent_sdk: jsonschema", "import jsonschema"),
    ("claude_agent_sdk: mcp_types (pydantic models)", "import mcp_types"),
    ("claude_agent_sdk: mcp (client, server, httpx2, starlette...)", "import mcp"),
    ("claude_agent_sdk itself", "import claude_agent_sdk"),
    ("A2A server (a2a-sdk, granian), with spec.a2a.port", "import sac_transport_a2a.server, granian.server.embed"),
]

MEASURE = """
import json, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
out = [["interpreter", rss(), 0.0, len(sys.modules)]]
for label, code in json.loads(sys.argv[1]):
    t = time.perf_counter()
    exec(code)
    out.append([label, rss(), (time.perf_counter() - t) * 1000, len(sys.modules)])
print(json.dumps(out))
"""


def tree_env(tree: Path | None, base: dict[str, str]) -> dict[str, str]:
    """The environment that runs ``tree``'s sac (every command then runs outside any checkout:
    the working directory comes first on sys.path, before PYTHONPATH)."""
    env = dict(base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' installs have bytecode: so must we
    if tree is not None:
        paths = [tree, tree / "hookspecs", *sorted(p for p in (tree / "plugins").iterdir() if p.is_dir())]
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wall(cmd: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(cmd, env=env, capture_output=True, cwd=env["SAC_HOME"])  # warm-up (pyc, caches)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, cwd=env["SAC_HOME"])
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def imports(env: dict[str, str], runs: int) -> list[dict]:
    cmd = [sys.executable, "-c", MEASURE, json.dumps(GROUPS)]
    run = dict(env=env, capture_output=True, text=True, check=True, cwd=env["SAC_HOME"])
    subprocess.run(cmd, **run)  # warm-up: pyc files
    samples = [json.loads(subprocess.run(cmd, **run).stdout) for _ in range(runs)]
    rows, before = [], 0.0
    for i, (label, *_) in enumerate(samples[0]):
        rss = statistics.median(s[i][1] for s in samples) / 1024
        rows.append(
            {
                "group": label,
                "rss_mb": rss,
                "adds_mb": rss - before if i else rss,
                "ms": statistics.median(s[i][2] for s in samples),
                "modules": samples[0][i][3] - (samples[0][i - 1][3] if i else 0),
            }
        )
        before = rss
    return rows


def idle_runner(env: dict[str, str], home: Path, name: str) -> dict:
    sac = [sys.executable, "-m", "sac"]
    start = time.perf_counter()
    done = subprocess.run([*sac, "agents", "start", name], env=env, capture_output=True, text=True, cwd=home)
    if done.returncode != 0:
        raise SystemExit(f"{name} did not start: {done.stdout}{done.stderr}")
    ready = time.perf_counter() - start
    state = json.loads((home / "runtime" / name / "state.json").read_text())
    pid, cli = state["pid"], int((home / "runtime" / name / "cli.pid").read_text())
    cpu_ready = cpu_s(pid)
    time.sleep(IDLE)
    out = {
        "runner_rss_mb": rss_kb(pid) / 1024,
        "cli_rss_mb": tree_rss_kb(cli) / 1024,
        "runner_cpu_to_ready_s": cpu_ready,
        "start_to_ready_s": ready,
    }
    if name == "plain":
        out["sac_help_s"] = wall([*sac, "--help"], env, 7)
        out["sac_agents_status_s"] = wall([*sac, "agents", "status"], env, 7)
        out["sac_agents_send_s"] = wall([*sac, "agents", "send", name, "What is 1+1?"], env, 7)
    subprocess.run([*sac, "agents", "stop", name], env=env, capture_output=True, cwd=home)
    return out


def bench_tree(tree: Path | None, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sac-bench-") as tmp:
        home = Path(tmp)
        env = tree_env(tree, {**os.environ, "SAC_HOME": str(home), "ANTHROPIC_API_KEY": "sac-bench"})
        model = subprocess.Popen(
            [sys.executable, "-m", "sac", "model", "serve"], env=env, stdout=subprocess.PIPE, text=True, cwd=home
        )
        try:
            assert model.stdout is not None
            url = model.stdout.readline().strip()
            for name, extra in (("plain", ""), ("a2a", "  a2a: {port: auto}\n")):
                (home / "agents" / name).mkdir(parents=True)
                (home / "agents" / name / "spec.yaml").write_text(SPEC.format(url=url) + extra)
            agents = {}
            for name in ("plain", "a2a"):
                samples = [idle_runner(env, home, name) for _ in range(runs)]
                agents[name] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        finally:
            model.terminate()
            model.wait()
        return {"tree": str(tree or ROOT), "agents": agents, "imports": imports(env, max(runs, 3))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, action="append", default=[], help="another checkout of sac to compare")
    p.add_argument("-n", "--runs", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = [bench_tree(None, args.runs), *(bench_tree(t.resolve(), args.runs) for t in args.tree)]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    names = [Path(r["tree"]).name for r in results]
    print(f"median of {args.runs} runs; columns: {', '.join(r['tree'] for r in results)}\n")
    rows = [
        ("idle runner RSS, MB", "plain", "runner_rss_mb", "{:.1f}"),
        ("idle runner RSS with A2A, MB", "a2a", "runner_rss_mb", "{:.1f}"),
        ("claude CLI RSS, MB (not ours)", "plain", "cli_rss_mb", "{:.0f}"),
        ("runner CPU, start to ready, s", "plain", "runner_cpu_to_ready_s", "{:.2f}"),
        ("runner CPU with A2A, s", "a2a", "runner_cpu_to_ready_s", "{:.2f}"),
        ("sac agents start, wall s", "plain", "start_to_ready_s", "{:.2f}"),
        ("sac --help, ms", "plain", "sac_help_s", "{:.0f}"),
        ("sac agents status, ms", "plain", "sac_agents_status_s", "{:.0f}"),
        ("sac agents send (a turn), ms", "plain", "sac_agents_send_s", "{:.0f}"),
    ]
    print(f"{'':34}" + "".join(f"{n:>14}" for n in names))
    for label, agent, key, fmt in rows:
        scale = 1000 if label.endswith(", ms") else 1
        print(f"{label:34}" + "".join(f"{fmt.format(r['agents'][agent][key] * scale):>14}" for r in results))
    for r in results:
        print(f"\nwhere a runner's imports go ({r['tree']}): RSS after, what the group adds, its wall time")
        for g in r["imports"]:
            print(
                f"  {g['group']:60} {g['rss_mb']:6.1f} MB  +{g['adds_mb']:5.1f} MB  {g['ms']:6.0f} ms  +{g['modules']}"
            )


if __name__ == "__main__":
    main()
