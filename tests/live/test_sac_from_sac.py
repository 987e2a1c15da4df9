"""SAC-from-SAC in a real Apptainer instance: an agent's own Bash tool runs
`sac agents start CHILD` (the sac.pyz bound into its container, run by the image's python3);
inside a container sac does not nest, it asks the host's `sac listen` (the broker, with the
agent's broker token), which starts the child on the host and records the lineage."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from sac.testing import apptainer_ready, ensure_apptainer_image, make_agent, status, wait_for

pytestmark = [pytest.mark.live, pytest.mark.slow]

START_CHILD = """\
  - match: "start your child"
    tools:
      - name: Bash
        input: {command: "python3 /tools/sac.pyz agents start kid 2>&1; echo rc=$?"}
    then: "started it"
"""


def test_an_agent_in_apptainer_starts_a_sibling_through_the_host(home, sac, tmp_path):
    from test_listen import free_port
    from test_pyz import build_pyz

    why = apptainer_ready()
    if why:
        pytest.skip(why)
    ensure_apptainer_image(home)
    pyz = build_pyz(tmp_path / "sac-lean.pyz")
    port = free_port()
    listen = subprocess.Popen(
        [sys.executable, "-m", "sac", "listen", "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (home / "listen" / "listen.json").exists(), timeout=20, what="sac listen")
        make_agent(home, "mom", "apptainer", extra=f"  mounts: ['{pyz}:/tools/sac.pyz:ro']\n")
        script = home / "agents" / "mom" / "script.yaml"
        script.write_text(script.read_text() + START_CHILD)
        make_agent(home, "kid", "local")
        sac("agents", "start", "mom", check=True)
        done = sac("agents", "send", "mom", "please start your child")
        assert (done.returncode, done.stdout) == (0, "started it\n"), done.stderr
        results = [
            json.loads(line)
            for line in (home / "runtime" / "mom" / "session.jsonl").read_text().splitlines()
            if '"tool_result"' in line
        ]
        output = json.dumps(results[-1]["content"])
        assert "kid: ready on the host" in output and "rc=0" in output, output
        kid = status(sac, "kid")
        assert (kid["state"], kid["parent"], kid["runtime"]) == ("ready", "mom", "local")
    finally:
        sac("agents", "stop", "mom", "kid")
        listen.send_signal(signal.SIGTERM)
        listen.wait(timeout=30)
