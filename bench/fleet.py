#!/usr/bin/env python3
"""A fleet on one host, printed as numbers (this never asserts anything).

    .venv/bin/python bench/fleet.py [--sizes 1,10,20,50] [--runs 5] [--json]

Local runtime, the real claude CLI on the scripted model, agents without startup prompts,
in a throwaway SAC_HOME. Run it on a quiet machine: every number is wall time.

* spec-to-ready, one agent: ``lifecycle.start`` (what ``sac agents start`` does after
  reading the spec) with a plain spawn of the runner, and with the runner forked from a
  pre-imported template that is already running (as during a fleet start, or in
  ``sac listen``); median of ``--runs``.
* fleet start of each size: ``sac agents start`` of all of them, before (``--jobs 1``, no
  template: one after another, as sac started fleets until issue 15) and after (default
  jobs, template), in the same run; the stop of the fleet beside it.
* with the largest fleet up: memory per idle agent, runner and claude CLI apart, as RSS and
  as PSS (RSS counts pages shared with sibling runners once per process; PSS divides them);
  every agent asked a different sum at once by its own ``sac agents send``, all answered,
  each with its own answer; ``sac agents status`` (table and --json) with the fleet.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agents import SAC, SPEC  # bench/agents.py: the same agent, on the scripted model


def sac(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*SAC, *args], env=env, capture_output=True, text=True, timeout=900)
    if check and done.returncode != 0:
        raise SystemExit(f"sac {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def make_agents(home: Path, names: list[str]) -> None:
    for name in names:
        folder = home / "agents" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.yaml").write_text(SPEC.format(runtime="local"))


def kb(pid: int, key: str, file: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def bench_one(env: dict, home: Path, runs: int) -> dict:
    """spec-to-ready of one agent in this process (the CLI's own imports not counted)."""
    os.environ.update(env)
    from sac import lifecycle
    from sac.agent import load_agent
    from sac.config import load_settings
    from sac.plugins import get_plugins

    plugins, settings = get_plugins(), load_settings()
    make_agents(home, ["solo"])
    agent = load_agent("solo", plugins, settings)
    out = {}
    for mode in ("spawn", "fork"):
        times = []
        with lifecycle.runner_template(enabled=mode == "fork") as template:
            assert (template is not None) == (mode == "fork"), "the template did not start"
            for _ in range(runs):
                times.append(timed(lambda: lifecycle.start(agent, plugins, settings, timeout=120)))
                lifecycle.stop("solo")
        out[mode] = statistics.median(times)
    return out


def bench_start(env: dict, home: Path, size: int) -> tuple[dict, list[str]]:
    """Start ``size`` agents before (one at a time, spawned) and after (parallel, forked);
    the serial run's stop (one at a time) between them. Leaves the parallel run's agents up."""
    names = [f"f{size}-{i:02d}" for i in range(size)]
    make_agents(home, names)
    serial_env = {**env, "SAC_FORKSERVER": "0"}
    out = {"serial_start_s": timed(lambda: sac(serial_env, "agents", "start", *names, "--jobs", "1"))}
    out["serial_stop_s"] = timed(lambda: sac(env, "agents", "stop", *names, "--jobs", "1"))
    out["parallel_start_s"] = timed(lambda: sac(env, "agents", "start", *names))
    return out, names


def stop_all(env: dict, names: list[str]) -> float:
    return timed(lambda: sac(env, "agents", "stop", *names))


def fleet_numbers(env: dict, names: list[str]) -> dict:
    rows = json.loads(sac(env, "agents", "status", "--json").stdout)
    pids = [r["pid"] for r in rows if r["name"] in names and r["state"] == "ready"]
    runner = {"rss": [], "pss": []}
    cli = {"rss": [], "pss": []}
    for pid in pids:
        runner["rss"].append(kb(pid, "VmRSS", "status"))
        runner["pss"].append(kb(pid, "Pss", "smaps_rollup"))
        for child in children(pid):
            cli["rss"].append(kb(child, "VmRSS", "status"))
            cli["pss"].append(kb(child, "Pss", "smaps_rollup"))

    def mb(values: list[int]) -> float:
        return round(statistics.median(values) / 1024, 1) if values else 0.0

    memory = {
        "agents_ready": len(pids),
        "runner_rss_mb": mb(runner["rss"]),
        "runner_pss_mb": mb(runner["pss"]),
        "cli_rss_mb": mb(cli["rss"]),
        "cli_pss_mb": mb(cli["pss"]),
    }

    def ask(i_name):
        i, name = i_name
        done = sac(env, "agents", "send", name, f"What is {i}+{i}?", check=False)
        return done.returncode == 0 and done.stdout.strip() == str(2 * i)

    def ask_socket(i_name):  # the same, straight to each runner's control socket (no CLI process)
        from sac.runner import control
        from sac.state import AgentDir

        i, name = i_name
        answer = control.call(AgentDir(name).socket, control.Send(text=f"What is {i}+{i}?"), timeout=120)
        return answer.get("text") == str(2 * i)

    t = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(ask, enumerate(names, 1)))
    turns = {"concurrent_turns": len(names), "answered_right": sum(answers), "wall_s": time.perf_counter() - t}
    os.environ.update(env)
    t = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(ask_socket, enumerate(names, 100)))
    turns["by_socket_answered_right"], turns["by_socket_wall_s"] = sum(answers), time.perf_counter() - t
    status = {
        "status_s": statistics.median(timed(lambda: sac(env, "agents", "status")) for _ in range(5)),
        "status_json_s": statistics.median(timed(lambda: sac(env, "agents", "status", "--json")) for _ in range(5)),
    }
    return {"memory": memory, "turns": turns, "status": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,20,50")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sac-bench-fleet-"))
    env = {**os.environ, "SAC_HOME": str(home), "SAC_AGENTS_PATH": str(home / "agents")}
    env.pop("SAC_FORKSERVER", None)
    report: dict = {"cores": len(os.sched_getaffinity(0))}
    started: list[str] = []
    try:
        report["one_agent_spec_to_ready_s"] = bench_one(env, home, args.runs)
        report["fleet_start"] = {}
        sizes = [int(s) for s in args.sizes.split(",")]
        for size in sizes:
            numbers, names = bench_start(env, home, size)
            started = names
            if size != sizes[-1]:
                numbers["parallel_stop_s"] = stop_all(env, names)
                started = []
            report["fleet_start"][size] = numbers
        report[f"with_{sizes[-1]}"] = fleet_numbers(env, started)
    finally:
        if started:
            sac(env, "agents", "stop", *started, check=False)
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    one = report["one_agent_spec_to_ready_s"]
    print(f"cores: {report['cores']}")
    print(f"one agent, spec to ready: spawned {one['spawn']:.2f} s, forked from the template {one['fork']:.2f} s")
    print(f"{'agents':>6}  {'serial start':>12}  {'parallel start':>14}  {'serial stop':>11}  {'parallel stop':>13}")
    for size, n in report["fleet_start"].items():
        print(
            f"{size:>6}  {n['serial_start_s']:>10.1f} s  {n['parallel_start_s']:>12.1f} s  "
            f"{n['serial_stop_s']:>9.1f} s  {n.get('parallel_stop_s', float('nan')):>11.1f} s"
        )
    big = report[f"with_{sizes[-1]}"]
    m = big["memory"]
    print(
        f"with {m['agents_ready']} idle agents: runner RSS {m['runner_rss_mb']} MB (PSS {m['runner_pss_mb']}), "
        f"claude CLI RSS {m['cli_rss_mb']} MB (PSS {m['cli_pss_mb']}) per agent (medians)"
    )
    t = big["turns"]
    print(
        f"{t['concurrent_turns']} concurrent turns, each by its own `sac agents send`: {t['answered_right']} "
        f"answered right, in {t['wall_s']:.1f} s; through the control sockets from one process: "
        f"{t['by_socket_answered_right']} right, in {t['by_socket_wall_s']:.1f} s"
    )
    s = big["status"]
    print(f"status with the fleet: table {s['status_s']:.2f} s, --json {s['status_json_s']:.2f} s")


if __name__ == "__main__":
    main()
