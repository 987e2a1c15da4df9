#!/usr/bin/env python3
"""Live-agent numbers, printed (this never asserts anything).

    .venv/bin/python bench/agents.py [--runtimes local,docker,apptainer] [-n RUNS] [--json]

* spec-to-ready: wall time of ``sac agents start NAME`` (preflight, runner spawn, instance,
  CLI connect) until it returns with the agent ready; without startup prompts.
* turn overhead: median of a turn through a bare ``ClaudeSDKClient`` (same claude CLI, same
  scripted model, in process) versus the same prompt through a running agent's control
  socket and through the ``sac agents send`` command.
* idle runner RSS: the runner process only (the claude CLI is a separate process; its RSS
  is reported beside it).
* ``sac agents status`` with 50 agents (synthetic state files whose pids are live).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAC = [sys.executable, "-m", "sac"]
SPEC = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: {runtime}
  claude: {{provider: scripted}}
  health: {{interval: 60}}
"""


def sac(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*SAC, *args], capture_output=True, text=True, env=env, check=False)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kb(root: int) -> int:
    """RSS of a process and all its descendants (the CLI inside a container is a child of
    the exec client the wrapper recorded; an instance is a tree of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += rss_kb(pid)
        except OSError:
            pass
        todo += children.get(pid, [])
    return total


def bench_runtime(runtime: str, runs: int, env: dict, home: Path) -> dict:
    agent = f"bench-{runtime}"
    (home / "agents" / agent).mkdir(parents=True, exist_ok=True)
    (home / "agents" / agent / "spec.yaml").write_text(SPEC.format(runtime=runtime))
    ready = []
    for _ in range(runs):
        t = timed(lambda: sac("agents", "start", agent, env=env))
        st = json.loads(sac("agents", "status", agent, "--json", env=env).stdout)
        if st["state"] != "ready":
            raise SystemExit(f"{runtime}: agent not ready: {st}")
        ready.append(t)
        sac("agents", "stop", agent, env=env)
    sac("agents", "start", agent, env=env)
    st = json.loads(sac("agents", "status", agent, "--json", env=env).stdout)
    cli_pid = int((home / "runtime" / agent / "cli.pid").read_text())
    sock = home / "runtime" / agent / "control.sock"
    from sac.runner import control

    control.call(sock, {"op": "send", "text": "warm up"}, timeout=60)
    via_socket = [timed(lambda: control.call(sock, {"op": "send", "text": "What is 1+1?"}, timeout=60))
                  for _ in range(20)]  # fmt: skip
    via_cli = [timed(lambda: sac("agents", "send", agent, "What is 1+1?", env=env)) for _ in range(10)]
    time.sleep(1)
    out = {
        "spec_to_ready_s": statistics.median(ready),
        "turn_via_socket_s": statistics.median(via_socket),
        "turn_via_sac_send_s": statistics.median(via_cli),
        "runner_rss_mb": rss_kb(st["pid"]) / 1024,
        # the CLI and what runs it (apptainer exec's starter); under docker it lives under the daemon
        "cli_process_rss_mb": tree_rss_kb(cli_pid) / 1024 if runtime != "docker" else None,
    }
    state = json.loads((home / "runtime" / agent / "state.json").read_text())
    if runtime == "apptainer" and state["instance"]["id"]:  # the instance's own processes (its sinit)
        listed = json.loads(subprocess.run(["apptainer", "instance", "list", "--json"], capture_output=True,
                                           text=True).stdout or "{}")  # fmt: skip
        pids = [i["pid"] for i in listed.get("instances", []) if i["instance"] == state["instance"]["id"]]
        out["instance_rss_mb"] = tree_rss_kb(pids[0]) / 1024 if pids else None
    sac("agents", "stop", agent, env=env)
    return out


async def bare_sdk_turns(n: int, home: Path) -> list[float]:
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, ResultMessage

    from sac.claude_cli import find_claude
    from sac.model.script import Script
    from sac.model.server import ModelServer

    server = ModelServer(Script()).start()
    work = home / "bare"
    work.mkdir(exist_ok=True)
    env = {"HOME": str(work), "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "x",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLAUDE_CODE_MAX_RETRIES": "0"}  # fmt: skip
    client = ClaudeSDKClient(ClaudeAgentOptions(cli_path=str(find_claude()), cwd=str(work), env=env))
    await client.connect()
    times = []
    for i in range(n + 1):
        t = time.perf_counter()
        await client.query("What is 1+1?")
        async for msg in client.receive_response():
            if isinstance(msg, ResultMessage):
                break
        if i:  # the first turn warms up
            times.append(time.perf_counter() - t)
    await client.disconnect()
    server.stop()
    return times


def bench_status(env: dict, home: Path, n: int = 50) -> dict:
    me = os.getpid()
    start = int(Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()[19])
    for i in range(n):
        d = home / "runtime" / f"fleet-{i:02d}"
        d.mkdir(parents=True, exist_ok=True)
        state = {"name": f"fleet-{i:02d}", "state": "ready", "pid": me, "pid_start": start, "spec_path": "x",
                 "runtime": "docker", "started_at": time.time(), "updated_at": time.time()}  # fmt: skip
        (d / "state.json").write_text(json.dumps(state))
        (d / "heartbeat.json").write_text(json.dumps({"time": time.time(), "state": "ready", "pid": me}))
    table = [timed(lambda: sac("agents", "status", env=env)) for _ in range(7)]
    as_json = [timed(lambda: sac("agents", "status", "--json", env=env)) for _ in range(7)]
    return {"agents": n, "status_s": statistics.median(table), "status_json_s": statistics.median(as_json)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runtimes", default="local,docker,apptainer")
    p.add_argument("-n", "--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sac-bench-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "SAC_HOME": str(home)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["SAC_HOME"] = str(home)
        results: dict = {"runtimes": {}}
        sif = ROOT / "build" / ".cache" / "apptainer-home" / "containers" / "sac-base.sif"
        if "apptainer" in args.runtimes.split(","):  # the suite's cached base SIF (tests/live.py builds it)
            if not sif.exists():
                raise SystemExit(f"no base SIF at {sif}: run the apptainer tests once, or `sac image build base`")
            (home / "containers").mkdir(parents=True, exist_ok=True)
            (home / "containers" / "sac-base.sif").symlink_to(sif.resolve())
        for rt in args.runtimes.split(","):
            results["runtimes"][rt] = bench_runtime(rt, args.runs, env, home)
        results["bare_sdk_turn_s"] = statistics.median(asyncio.run(bare_sdk_turns(20, home)))
        results["status_50"] = bench_status(env, home)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'runtime':9} {'spec-to-ready':>14} {'turn (socket)':>14} {'turn (sac send)':>16} {'runner RSS':>11} "
          f"{'CLI RSS':>8} {'instance':>9}")  # fmt: skip
    for rt, r in results["runtimes"].items():
        cli = f"{r['cli_process_rss_mb']:.0f} MB" if r["cli_process_rss_mb"] else "-"
        inst = f"{r['instance_rss_mb']:.0f} MB" if r.get("instance_rss_mb") else "-"
        print(f"{rt:9} {r['spec_to_ready_s']:13.2f}s {r['turn_via_socket_s'] * 1000:12.1f}ms "
              f"{r['turn_via_sac_send_s'] * 1000:14.1f}ms {r['runner_rss_mb']:8.1f} MB {cli:>8} {inst:>9}")  # fmt: skip
    print(f"bare SDK turn (same CLI, same scripted model, in process): {results['bare_sdk_turn_s'] * 1000:.1f} ms")
    s = results["status_50"]
    print(f"sac agents status with {s['agents']} agents: {s['status_s'] * 1000:.0f} ms (table), "
          f"{s['status_json_s'] * 1000:.0f} ms (--json)")


if __name__ == "__main__":
    main()
