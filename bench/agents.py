#!/usr/bin/env python3
"""Live-agent numbers, printed (this never asserts anything).

    .venv/bin/python bench/agents.py [--runtimes local,docker,apptainer] [-n RUNS] [--json]
                                     [--user NAME [--pyz PATH]]

* instance start (Apptainer): median wall time of a bare ``apptainer instance start`` of the
  base SIF with sac's hardening flags, and its stop, outside sac.

* spec-to-ready: wall time of ``sac agents start NAME`` (preflight, runner spawn, instance,
  CLI connect) until it returns with the agent ready; without startup prompts.
* turn overhead: median of a turn through a bare ``ClaudeSDKClient`` (same claude CLI, same
  scripted model, in process) versus the same prompt through a running agent's control
  socket and through the ``sac agents send`` command.
* idle runner RSS: the runner process only (the claude CLI is a separate process; its RSS
  is reported beside it).
* ``sac agents status`` with 50 agents (synthetic state files whose pids are live).

``--user NAME`` (as root) adds an "apptainer (user)" row: the same numbers for an
unprivileged user, as our HPC users run it: ``sac.pyz`` (``--pyz``, else a lean one is
built) by the system's /usr/bin/python3 with an empty environment, the SIF mounted through
FUSE, every sac and apptainer command run as that uid. The turn through the socket is
timed from this process (root may connect; the runner is the user's).
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


class As:
    """How to run sac and apptainer: as this process, or as an unprivileged user (setpriv)."""

    def __init__(self, env: dict, user=None, pyz: Path | None = None) -> None:
        self.env, self.user, self.pyz = env, user, pyz

    def _prefix(self) -> list[str]:
        if self.user is None:
            return []
        pw = self.user
        return [
            "setpriv",
            f"--reuid={pw.pw_uid}",
            f"--regid={pw.pw_gid}",
            "--init-groups",
            "env",
            "-i",
            f"HOME={pw.pw_dir}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            f"SAC_HOME={self.env['SAC_HOME']}",
            f"SAC_CLAUDE_CLI={self.env['SAC_CLAUDE_CLI']}",
            f"SHIV_ROOT={pw.pw_dir}/.shiv",
        ]

    def sac(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [*SAC, *args] if self.user is None else [*self._prefix(), "/usr/bin/python3", str(self.pyz), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, check=False)

    def apptainer(self, *args: str) -> subprocess.CompletedProcess:
        env = self.env if self.user is None else None
        return subprocess.run([*self._prefix(), "apptainer", *args], capture_output=True, text=True, env=env)


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


def bench_instance_start(run: As, sif: Path, runs: int) -> float:
    """A bare `apptainer instance start` with sac's hardening, and its stop: the floor under
    Apptainer's spec-to-ready."""
    times = []
    for i in range(runs):
        name = f"sac-bench-{os.getpid()}-{i}"
        t = time.perf_counter()
        done = run.apptainer("instance", "start", "--containall", "--cleanenv", "--writable-tmpfs", str(sif), name)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"apptainer instance start failed: {done.stderr.strip()[-300:]}")
        run.apptainer("instance", "stop", name)
    return statistics.median(times)


def bench_runtime(runtime: str, runs: int, run: As, home: Path, agent: str | None = None) -> dict:
    agent = agent or f"bench-{runtime}"
    (home / "agents" / agent).mkdir(parents=True, exist_ok=True)
    (home / "agents" / agent / "spec.yaml").write_text(SPEC.format(runtime=runtime))
    if run.user is not None:
        subprocess.run(["chown", "-R", f"{run.user.pw_uid}:{run.user.pw_gid}", str(home)], check=True)
    sac = run.sac

    ready = []
    for _ in range(runs):
        t = timed(lambda: sac("agents", "start", agent))
        st = json.loads(sac("agents", "status", agent, "--json").stdout)
        if st["state"] != "ready":
            raise SystemExit(f"{runtime}: agent not ready: {st}")
        ready.append(t)
        sac("agents", "stop", agent)
    sac("agents", "start", agent)
    st = json.loads(sac("agents", "status", agent, "--json").stdout)
    cli_pid = int((home / "runtime" / agent / "cli.pid").read_text())
    sock = home / "runtime" / agent / "control.sock"
    from sac.runner import control

    control.call(sock, {"op": "send", "text": "warm up"}, timeout=60)
    via_socket = [
        timed(lambda: control.call(sock, {"op": "send", "text": "What is 1+1?"}, timeout=60)) for _ in range(20)
    ]
    via_cli = [timed(lambda: sac("agents", "send", agent, "What is 1+1?")) for _ in range(10)]
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
        listed = json.loads(run.apptainer("instance", "list", "--json").stdout or "{}")
        pids = [i["pid"] for i in listed.get("instances", []) if i["instance"] == state["instance"]["id"]]
        out["instance_rss_mb"] = tree_rss_kb(pids[0]) / 1024 if pids else None
    sac("agents", "stop", agent)
    if runtime == "apptainer":
        out["instance_start_s"] = bench_instance_start(run, home / "containers" / "sac-base.sif", runs)
    return out


async def bare_sdk_turns(n: int, home: Path) -> list[float]:
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, ResultMessage

    from sac.claude_cli import find_claude
    from sac.model.script import Script
    from sac.model.server import ModelServer

    server = ModelServer(Script()).start()
    work = home / "bare"
    work.mkdir(exist_ok=True)
    env = {
        "HOME": str(work),
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "x",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
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
        state = {
            "name": f"fleet-{i:02d}",
            "state": "ready",
            "pid": me,
            "pid_start": start,
            "spec_path": "x",
            "runtime": "docker",
            "started_at": time.time(),
            "updated_at": time.time(),
        }
        (d / "state.json").write_text(json.dumps(state))
        (d / "heartbeat.json").write_text(json.dumps({"time": time.time(), "state": "ready", "pid": me}))
    run = As(env)
    table = [timed(lambda: run.sac("agents", "status")) for _ in range(7)]
    as_json = [timed(lambda: run.sac("agents", "status", "--json")) for _ in range(7)]
    return {"agents": n, "status_s": statistics.median(table), "status_json_s": statistics.median(as_json)}


def bench_as_user(user: str, pyz: Path | None, sif: Path, runs: int) -> dict:
    import pwd
    import shutil

    from sac.claude_cli import find_claude

    pw = pwd.getpwnam(user)
    base = Path(tempfile.mkdtemp(prefix="sac-bench-", dir=pw.pw_dir))
    try:
        if pyz is None:
            print("building a lean sac.pyz for the user ...", file=sys.stderr)
            subprocess.run(
                [sys.executable, str(ROOT / "build" / "pyz.py"), "--lean", "-o", str(base / "sac.pyz")],
                check=True,
                capture_output=True,
            )
        else:
            shutil.copy(pyz, base / "sac.pyz")
        home = base / "home"
        (home / "containers").mkdir(parents=True)
        shutil.copy(sif.resolve(), home / "containers" / "sac-base.sif")  # the user's own copy
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(base)], check=True)
        run = As({"SAC_HOME": str(home), "SAC_CLAUDE_CLI": str(find_claude())}, user=pw, pyz=base / "sac.pyz")
        run.sac("--version")  # the first run extracts the pyz: not a cost of any agent
        return bench_runtime("apptainer", runs, run, home, agent="bench-user")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runtimes", default="local,docker,apptainer")
    p.add_argument("-n", "--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--user", help="also run Apptainer as this unprivileged user (as root)")
    p.add_argument("--pyz", type=Path, help="the sac.pyz the user runs (default: build a lean one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sac-bench-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "SAC_HOME": str(home)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["SAC_HOME"] = str(home)
        results: dict = {"runtimes": {}}
        sif = ROOT / "build" / ".cache" / "apptainer-home" / "containers" / "sac-base.sif"
        if "apptainer" in args.runtimes.split(","):  # the suite's cached base SIF (tests/live/live.py builds it)
            if not sif.exists():
                raise SystemExit(f"no base SIF at {sif}: run the apptainer tests once, or `sac image build base`")
            (home / "containers").mkdir(parents=True, exist_ok=True)
            (home / "containers" / "sac-base.sif").symlink_to(sif.resolve())
        for rt in args.runtimes.split(","):
            results["runtimes"][rt] = bench_runtime(rt, args.runs, As(env), home)
        if args.user:
            results["runtimes"]["apptainer (user)"] = bench_as_user(args.user, args.pyz, sif, args.runs)
        results["bare_sdk_turn_s"] = statistics.median(asyncio.run(bare_sdk_turns(20, home)))
        results["status_50"] = bench_status(env, home)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'runtime':16} {'inst. start':>11} {'spec-to-ready':>14} {'turn (socket)':>14} {'turn (sac send)':>16} "
        f"{'runner RSS':>11} {'CLI RSS':>8} {'instance':>9}"
    )
    for rt, r in results["runtimes"].items():
        cli = f"{r['cli_process_rss_mb']:.0f} MB" if r["cli_process_rss_mb"] else "-"
        inst = f"{r['instance_rss_mb']:.0f} MB" if r.get("instance_rss_mb") else "-"
        start = f"{r['instance_start_s']:.2f}s" if r.get("instance_start_s") else "-"
        print(
            f"{rt:16} {start:>11} {r['spec_to_ready_s']:13.2f}s {r['turn_via_socket_s'] * 1000:12.1f}ms "
            f"{r['turn_via_sac_send_s'] * 1000:14.1f}ms {r['runner_rss_mb']:8.1f} MB {cli:>8} {inst:>9}"
        )
    print(f"bare SDK turn (same CLI, same scripted model, in process): {results['bare_sdk_turn_s'] * 1000:.1f} ms")
    s = results["status_50"]
    print(
        f"sac agents status with {s['agents']} agents: {s['status_s'] * 1000:.0f} ms (table), "
        f"{s['status_json_s'] * 1000:.0f} ms (--json)"
    )


if __name__ == "__main__":
    main()
