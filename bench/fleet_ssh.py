#!/usr/bin/env python3
"""`sac fleet status` over ssh hosts, printed (this never asserts anything). Needs the ssh test
hosts (build/ssh-hosts.sh up, as root) and a full sac.pyz for them (`make pyz-full`).

    .venv/bin/python bench/fleet_ssh.py --pyz dist/sac.pyz [-n RUNS] [--agents N] [--json]

Sets up a throwaway laptop SAC_HOME, two hosts (sshhost1/2), installs the pyz on each,
launches N agents (scripted model, local runtime) on each, then times ``sac fleet status
--json`` over both hosts:

* warm: the ControlMasters are up (each host costs one multiplexed session: the remote sac's
  start and its `agents status`);
* cold: before each run the masters are closed (``ssh -O exit``), so each run pays the TCP
  connection and the ssh handshake too.

Median (min-max) of RUNS each. Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
HOSTS = {"h1": "10.78.0.11", "h2": "10.78.0.12"}
SPEC = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: local
  claude: {provider: scripted}
  health: {interval: 60}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyz", required=True, type=Path)
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--agents", type=int, default=10, help="agents per host")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fb", dir="/tmp"))
    laptop = tmp / "laptop"
    env = {**os.environ, "SAC_HOME": str(laptop)}

    def sac(*a: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "sac", *a], env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp
        )
        if check and done.returncode != 0:
            raise SystemExit(f"sac {' '.join(a)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    subprocess.run(["bash", str(REPO / "build" / "ssh-hosts.sh"), "up"], check=True, capture_output=True)
    key = tmp / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with open("/run/sac-ssh/authorized_keys", "a") as f:
        f.write(key.with_suffix(".pub").read_text())
    names = {h: [f"{h}-agent{i:02d}" for i in range(args.agents)] for h in HOSTS}
    try:
        for h, address in HOSTS.items():
            sac("host", "add", h, f"root@{address}", "--sac", str(tmp / h / "sac.pyz"), "--home", str(tmp / h / "home"),
                "--python", str(BASE_PYTHON), "-o", f"IdentityFile={key}", "-o", f"UserKnownHostsFile={tmp / 'kh'}",
                "-o", "StrictHostKeyChecking=accept-new")  # fmt: skip
            sac("host", "install", h, "--pyz", str(args.pyz))
            for n in names[h]:
                (laptop / "agents" / n).mkdir(parents=True)
                (laptop / "agents" / n / "spec.yaml").write_text(SPEC)
            began = time.perf_counter()
            sac("fleet", "launch", h, *names[h])
            print(f"launched {args.agents} agents on {h} in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        masters = {h: shlex.split(sac("host", "ssh-opts", h).stdout) for h in HOSTS}

        def close_masters() -> None:
            for argv in masters.values():
                opts, target = argv[1:-2], argv[-1]
                subprocess.run(["ssh", *opts, "-O", "exit", target], capture_output=True, timeout=30)

        def timed() -> float:
            began = time.perf_counter()
            done = sac("fleet", "status", "--json", check=False)
            took = time.perf_counter() - began
            rows = json.loads(done.stdout)["agents"]
            assert sum(r["state"] == "ready" for r in rows) == 2 * args.agents, rows  # a sanity check, not a test
            return took

        results = {}
        timed()  # warm the masters
        results["warm"] = [timed() for _ in range(args.runs)]
        cold = []
        for _ in range(args.runs):
            close_masters()
            time.sleep(0.5)
            cold.append(timed())
        results["cold"] = cold
        one = time.perf_counter()
        sac("agents", "status", "--json")
        results["local_only"] = [time.perf_counter() - one]
    finally:
        for h in HOSTS:
            sac("agents", "stop", *[f"{n}@{h}" for n in names[h]], check=False)
            sac("host", "remove", h, check=False)
    report = {
        k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "runs": len(v)}
        for k, v in results.items()
    }
    report["setup"] = {"hosts": len(HOSTS), "agents_per_host": args.agents}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k in ("warm", "cold"):
            r = report[k]
            print(f"fleet status, 2 hosts x {args.agents} agents, {k} masters: median {r['median_s']:.3f} s "
                  f"({r['min_s']:.3f}-{r['max_s']:.3f}, {r['runs']} runs)")  # fmt: skip


if __name__ == "__main__":
    main()
