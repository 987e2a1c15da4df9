#!/usr/bin/env python3
"""Control-plane and A2A numbers on loopback, printed (never asserted).

    .venv/bin/python bench/listen.py [--seconds 5] [--json]

* ``sac listen``: requests/s and latency percentiles under wrk, 32 connections, of
  ``GET /v1/health``, of one agent's status (``GET /v1/agents/NAME``, bearer token) and of
  the fleet's (``GET /v1/agents``, and with the ETag the dashboard sends back: 304s) with 20 agents: the live one and 19 laid out as runners
  leave them (spec, state.json naming a live process, cli.pid), their heartbeats rewritten
  every second as runners do, so the status the routes serve keeps changing.
* Turn overhead on one live agent (local runtime, scripted model), median of 20 turns:
  the control socket, ``POST /v1/turn`` on the agent's port, A2A ``SendMessage``.
* Baseline: an a2a-sdk server with an instant echo turn (the same app, no claude CLI):
  SendMessage requests/s under wrk.

Needs wrk (Debian: apt-get install wrk); the load is bounded in time and on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

SEND = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "SendMessage",
    "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "What is 1+1?"}]}},
}


def wrk(url: str, seconds: int, headers: dict[str, str], body: dict | None = None) -> dict:
    lua = None
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    if body is not None:
        lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        lua.write(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        lua.close()
        args += ["-s", lua.name]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    if lua:
        os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


FLEET = 19  # agents beside the live one, for the fleet route


def lay_out_fleet(home: Path, spec: str, stop: threading.Event) -> list[subprocess.Popen]:
    """FLEET agents as their runners leave them: spec.yaml, state.json (ready) naming a live
    process, cli.pid naming another; a thread rewrites their heartbeats every second (a
    runner's TICK) until ``stop``. The processes stand in for runners and CLIs."""
    from sac.state import AgentDir, AgentState, Heartbeat, Phase, process_start

    runner, cli = subprocess.Popen(["sleep", "3600"]), subprocess.Popen(["sleep", "3600"])
    dirs = []
    for i in range(FLEET):
        name = f"fleet{i:02}"
        (home / "agents" / name).mkdir(parents=True)
        (home / "agents" / name / "spec.yaml").write_text(spec)
        d = AgentDir(name, home / "runtime" / name)
        d.make()
        start = process_start(runner.pid) or 0
        spec_path = str(home / "agents" / name / "spec.yaml")
        d.write_state(
            AgentState(
                name=name, state=Phase.READY, pid=runner.pid, pid_start=start, spec_path=spec_path, runtime="local"
            )
        )
        d.path("cli.pid").write_text(str(cli.pid))
        dirs.append(d)

    def beat() -> None:
        for d in dirs:
            d.write_heartbeat(Heartbeat(time=time.time(), state=Phase.READY, pid=runner.pid))

    def beating() -> None:
        while not stop.wait(1.0):
            beat()

    beat()  # the first beats before anyone asks
    threading.Thread(target=beating, daemon=True).start()
    return [runner, cli]


def post(url: str, body: dict, headers: dict | None = None) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def median_ms(fn, n: int = 20) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def echo_baseline(seconds: int) -> dict:
    """An a2a-sdk server (our app builder) whose turn answers at once: the protocol's own cost."""
    from granian.constants import Interfaces
    from granian.server.embed import Server
    from sac_transport_a2a.server import build_app, free_port

    from sac_hookspecs import AgentPort, TurnResult

    class Echo(AgentPort):
        name, card = "echo", {"description": "echo", "skills": [], "isolation": {}}

        async def turn(self, text, timeout=None, on_text=None, source="a2a", on_start=None):
            return TurnResult(ok=True, text=text)

        async def interrupt(self):
            return False

    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/"
    result: dict = {}

    def serve() -> None:
        import uvloop

        async def main() -> None:
            app, handler = build_app(Echo(), url, None)
            # log off: wrk closing its connections at the end cancels requests, which granian
            # prints as tracebacks; failures are counted by wrk (non-2xx)
            server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False)
            task = asyncio.create_task(server.serve())
            await asyncio.sleep(0.5)
            result["wrk"] = await asyncio.to_thread(wrk, url, seconds, {"A2A-Version": "1.0"}, SEND)
            await handler.aclose()
            server.stop()
            await task

        uvloop.run(main())

    t = threading.Thread(target=serve)
    t.start()
    t.join()
    return result["wrk"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/listen.py needs wrk (apt-get install wrk)")
    sac = [sys.executable, "-m", "sac"]
    with tempfile.TemporaryDirectory(prefix="sac-bench-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "SAC_HOME": str(home)}
        agent = home / "agents" / "bench" / "spec.yaml"
        agent.parent.mkdir(parents=True)
        spec = (
            "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: local\n"
            "  claude: {provider: scripted}\n  a2a: {port: auto}\n"
        )
        agent.write_text(spec)
        subprocess.run([*sac, "agents", "start", "bench"], env=env, check=True, capture_output=True)
        os.environ["SAC_HOME"] = str(home)
        beating = threading.Event()
        stand_ins = lay_out_fleet(home, spec, beating)
        listen = subprocess.Popen(
            [*sac, "listen", "--bind", "127.0.0.1:7899"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(2)
            token = (home / "listen" / "token").read_text().strip()
            auth = {"Authorization": f"Bearer {token}"}
            out: dict = {
                "listen_health": wrk("http://127.0.0.1:7899/v1/health", args.seconds, {}),
                "listen_status": wrk("http://127.0.0.1:7899/v1/agents/bench", args.seconds, auth),
                "listen_fleet": wrk("http://127.0.0.1:7899/v1/agents", args.seconds, auth),
            }
            # what the dashboard polls: the same fleet, answered 304 while nothing changed
            req = urllib.request.Request("http://127.0.0.1:7899/v1/agents", headers=auth)
            with urllib.request.urlopen(req, timeout=10) as r:
                etag, out["fleet_bytes"] = r.headers["ETag"], len(r.read())
            try:  # (wrk counts only 4xx and 5xx as failures: say that the answer is a 304)
                urllib.request.urlopen(urllib.request.Request(req.full_url, headers={**auth, "If-None-Match": etag}))
                out["fleet_304_status"] = 200
            except urllib.error.HTTPError as e:
                out["fleet_304_status"] = e.code
            out["listen_fleet_304"] = wrk(
                "http://127.0.0.1:7899/v1/agents", args.seconds, {**auth, "If-None-Match": etag}
            )
            state = json.loads((home / "runtime" / "bench" / "state.json").read_text())
            a2a = state["urls"]["a2a"]
            # the agent's A2A port needs its own token (0600 file named in state.json)
            a2a_auth = {"Authorization": f"Bearer {Path(state['token_files']['a2a']).read_text().strip()}"}
            from sac.runner import control

            sock = home / "runtime" / "bench" / "control.sock"
            out["turn_ms"] = {
                "control_socket": median_ms(lambda: control.call(sock, {"op": "send", "text": "What is 1+1?"})),
                "v1_turn": median_ms(lambda: post(a2a + "v1/turn", {"text": "What is 1+1?"}, a2a_auth)),
                "a2a_send_message": median_ms(lambda: post(a2a, SEND, {"A2A-Version": "1.0", **a2a_auth})),
                "listen_send": median_ms(
                    lambda: post("http://127.0.0.1:7899/v1/agents/bench/send", {"text": "What is 1+1?"}, auth)
                ),
            }
        finally:
            beating.set()
            for p in stand_ins:
                p.kill()
                p.wait()
            listen.terminate()
            listen.wait()
            subprocess.run([*sac, "agents", "stop", "bench"], env=env, capture_output=True)
        out["a2a_echo_baseline"] = echo_baseline(args.seconds)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for key in ("listen_health", "listen_status", "listen_fleet", "listen_fleet_304", "a2a_echo_baseline"):
        r = out[key]
        print(f"{key:22} {r['rps']:9.0f} req/s   p50 {r['p50']:>8}   p99 {r['p99']:>8}   non-2xx {r['non_2xx']}")
    ui = Path(__file__).resolve().parents[1] / "sac" / "listen" / "ui"
    page = {f.name: f.stat().st_size for f in sorted(ui.iterdir())}
    print(f"the fleet's answer: {out['fleet_bytes']} bytes; with its ETag: HTTP {out['fleet_304_status']}, no body")
    print(f"the dashboard's files (bytes): {page}")
    print("one turn on a live agent (median of 20, ms):")
    for k, v in out["turn_ms"].items():
        print(f"  {k:20} {v:7.1f}")


if __name__ == "__main__":
    main()
