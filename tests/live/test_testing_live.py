"""sac.testing with a real agent: a third-party suite starts one with ``sac_fleet`` and
``make_agent`` (the real claude CLI, the scripted model) and leaves no runner behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

THIRD_PARTY = """
import json

from sac.testing import make_agent, status, transcript


def test_agent(sac_fleet, sac_cli):
    make_agent(sac_fleet, "acme1", "local")
    assert sac_cli("agents", "start", "acme1").returncode == 0
    assert status(sac_cli, "acme1")["state"] == "ready"
    done = sac_cli("agents", "send", "acme1", "Please write the proof", check=True)
    assert "I wrote proof.txt" in done.stdout
    assert any(e["type"] == "tool_use" for e in transcript(sac_fleet, "acme1"))
    # no stop here: sac_fleet's teardown must stop it
"""


def test_a_third_party_suite_starts_an_agent_and_the_fixture_stops_it(tmp_path, request):
    suite = tmp_path / "acme-plugin"
    suite.mkdir()
    (suite / "test_acme_live.py").write_text(textwrap.dedent(THIRD_PARTY))
    base = Path(tempfile.mkdtemp(prefix="sac-t-", dir="/tmp"))  # short: the control socket's path has a limit
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    env = {k: v for k, v in os.environ.items() if k != "SAC_HOME"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--basetemp={base}"],
        cwd=suite,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    state_file = base / "test_agent0" / "sac-home" / "runtime" / "acme1" / "state.json"
    state = json.loads(state_file.read_text())
    assert state["state"] == "stopped"
    assert not running(state["pid"], state["pid_start"])


def running(pid: int, start: int) -> bool:
    """The process lives (not a zombie) and is the one that started at ``start``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X") and int(fields[19]) == start
