"""sac.testing, the pytest plugin sac ships: a third-party suite outside this repository
(no conftest, nothing but ``sac`` installed) gets its fixtures and helpers, SAC_NO_SKIP turns
its skips into failures, and no sac command imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

THIRD_PARTY = """
import json
import os
from pathlib import Path

import pytest

from sac.testing import MINIMAL, make_agent, transcript, write_agent


def test_an_isolated_home_and_the_real_cli(sac_home, sac_cli):
    assert os.environ["SAC_HOME"] == str(sac_home) and Path.cwd() == sac_home.parent / "work"
    assert not any(v in os.environ for v in ("SAC_RUNTIME", "SAC_PROVIDER", "SAC_PLUGINS"))
    write_agent(sac_home / "agents", "mine", MINIMAL)
    done = sac_cli("agents", "status", "mine", "--json", check=True)
    assert json.loads(done.stdout)["state"] == "never-started"
    with pytest.raises(AssertionError, match="exited 2"):
        sac_cli("agents", "status", "nobody", check=True)


def test_make_agent_writes_a_scripted_agent_that_checks(sac_fleet, sac_cli):
    spec = make_agent(sac_fleet, "scripted1", "local")
    assert (spec.parent / "script.yaml").is_file()
    assert sac_cli("agents", "check", "scripted1").returncode == 0
    assert transcript(sac_fleet, "scripted1") == []


def test_a_runtime_that_is_absent():
    pytest.skip("no such runtime here")
"""


def run_pytest(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    suite = tmp_path / "acme-plugin"
    suite.mkdir(exist_ok=True)
    (suite / "test_acme.py").write_text(textwrap.dedent(THIRD_PARTY))
    # a developer's SAC_* settings, on purpose: the fixtures must clear them
    full = {k: v for k, v in os.environ.items() if k != "SAC_NO_SKIP"}
    full.update({"SAC_RUNTIME": "docker", "SAC_PROVIDER": "x", "SAC_PLUGINS": "none", **env})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rs"],
        cwd=suite,
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )
    outcomes = {}
    for line in done.stdout.splitlines():  # -v: "test_acme.py::NAME OUTCOME [ 33%]"
        if line.startswith("test_acme.py::"):
            name, outcome = line.split("::", 1)[1].split()[:2]
            outcomes[name] = outcome
    return done, outcomes


def test_a_third_party_suite_gets_the_fixtures_and_helpers(tmp_path):
    done, outcomes = run_pytest(tmp_path)
    assert outcomes == {
        "test_an_isolated_home_and_the_real_cli": "PASSED",
        "test_make_agent_writes_a_scripted_agent_that_checks": "PASSED",
        "test_a_runtime_that_is_absent": "SKIPPED",
    }, done.stdout + done.stderr


def test_sac_no_skip_turns_a_skip_into_a_failure(tmp_path):
    done, outcomes = run_pytest(tmp_path, SAC_NO_SKIP="1")
    assert done.returncode == 1
    assert outcomes["test_a_runtime_that_is_absent"] == "FAILED", done.stdout
    assert "skipped under SAC_NO_SKIP=1 (CI): " in done.stdout and "no such runtime here" in done.stdout
    assert outcomes["test_an_isolated_home_and_the_real_cli"] == "PASSED"


@pytest.mark.parametrize("args", [["--help"], ["agents", "status", "--json"], ["plugins", "list", "--json"]])
def test_no_sac_command_imports_the_test_helpers(home, args):
    """pytest loads sac.testing through its entry point; sac itself never does."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "sac", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    imported = [ln.rsplit("|", 1)[-1].strip() for ln in done.stderr.splitlines() if ln.startswith("import time:")]
    assert "sac.cli" in imported  # importtime did record sac's imports
    assert [m for m in imported if m.startswith("sac.testing") or m == "pytest"] == []
    if args[-1] == "--json":
        json.loads(done.stdout)
